package models

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/configs"
)

// Info summarises a model's parameters without allocating them.
type Info struct {
	Components []ComponentInfo // embedding, attention, mamba, ffn, norms, other
	Total      int64
	Tensors    []TensorInfo // in Params order
}

// ComponentInfo is the parameter count of one component.
type ComponentInfo struct {
	Name   string
	Params int64
}

// TensorInfo describes one parameter tensor. Bits is the storage width per
// weight when exported: TernaryBits for BitLinear weights, 16 otherwise.
type TensorInfo struct {
	Name   string
	Shape  []int
	Params int64
	Bits   float64
}

// TernaryBits is the information content of one ternary weight, log2(3).
const TernaryBits = 1.58

func sqrtf(x float64) float64 { return math.Sqrt(x) }

// Describe counts the parameters of the model that New would build.
func Describe(mc configs.ModelConfig, qc configs.QuantConfig) (Info, error) {
	a, err := validate(mc)
	if err != nil {
		return Info{}, err
	}
	q, err := newQuantSpec(qc)
	if err != nil {
		return Info{}, err
	}
	var info Info
	byComp := map[string]int64{}
	for _, s := range a.specs(q) {
		n := s.size()
		bits := 16.0
		if s.bitLinear {
			bits = TernaryBits
		}
		info.Tensors = append(info.Tensors, TensorInfo{Name: s.name, Shape: append([]int(nil), s.shape...), Params: n, Bits: bits})
		byComp[s.component] = satAdd(byComp[s.component], n)
		info.Total = satAdd(info.Total, n)
	}
	for _, c := range componentOrder {
		info.Components = append(info.Components, ComponentInfo{Name: c, Params: byComp[c]})
	}
	return info, nil
}

// SizeBytes returns the exported file size of the weights: every BitLinear
// weight tensor packed at ternaryBits per weight (rounded up to whole bytes)
// plus one fp32 scale, everything else at 16 bits (fp16). Headers and
// metadata are not counted.
func (i Info) SizeBytes(ternaryBits float64) int64 {
	var total int64
	for _, t := range i.Tensors {
		if t.Bits < 16 {
			total = satAdd(total, int64(math.Min(math.Ceil(float64(t.Params)*ternaryBits/8), math.MaxInt64/2))+4)
		} else {
			total = satAdd(total, satMul(t.Params, 2))
		}
	}
	return total
}

// String renders the component table.
func (i Info) String() string {
	s := ""
	for _, c := range i.Components {
		s += fmt.Sprintf("%-10s %12d\n", c.Name, c.Params)
	}
	return s + fmt.Sprintf("%-10s %12d\n", "total", i.Total)
}
