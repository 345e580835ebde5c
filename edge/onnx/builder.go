package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/proto"

	pb "github.com/nanomamba-edge/harness/edge/onnx/onnxpb"
)

// Element types used by the graph.
const (
	tFloat  = pb.TensorProto_FLOAT
	tDouble = pb.TensorProto_DOUBLE
	tInt64  = pb.TensorProto_INT64
	tInt8   = pb.TensorProto_INT8
	tBool   = pb.TensorProto_BOOL
)

// builder appends nodes and initializers to a graph. Node outputs are named
// "<scope>/<op>_<n>" so that a graph viewer groups them by layer.
type builder struct {
	g      *pb.GraphProto
	scope  string
	n      int
	consts map[string]string // cache key → initializer name of small constants
}

func newBuilder(name string) *builder {
	return &builder{g: &pb.GraphProto{Name: proto.String(name)}, consts: map[string]string{}}
}

// op adds a node with one output and returns the output's name.
func (b *builder) op(op string, ins []string, attrs ...*pb.AttributeProto) string {
	b.n++
	out := fmt.Sprintf("%s/%s_%d", b.scope, op, b.n)
	if b.scope == "" {
		out = fmt.Sprintf("%s_%d", op, b.n)
	}
	b.node(op, ins, []string{out}, attrs...)
	return out
}

// node adds a node with the given outputs.
func (b *builder) node(op string, ins, outs []string, attrs ...*pb.AttributeProto) {
	b.g.Node = append(b.g.Node, &pb.NodeProto{
		OpType: proto.String(op), Name: proto.String(outs[0]),
		Input: ins, Output: outs, Attribute: attrs,
	})
}

func attrInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}

// tensor builds a TensorProto with little-endian raw data.
func tensor(name string, t pb.TensorProto_DataType, dims []int64, raw []byte) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(t)), Dims: dims, RawData: raw}
}

func rawF32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func rawF64(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func rawI64(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

func rawI8(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// init adds a named initializer and returns its name.
func (b *builder) init(name string, t pb.TensorProto_DataType, dims []int64, raw []byte) string {
	b.g.Initializer = append(b.g.Initializer, tensor(name, t, dims, raw))
	return name
}

func (b *builder) f32(name string, dims []int64, v []float32) string {
	return b.init(name, tFloat, dims, rawF32(v))
}

func (b *builder) f64(name string, dims []int64, v []float64) string {
	return b.init(name, tDouble, dims, rawF64(v))
}

// cached returns the initializer for key, creating it with mk.
func (b *builder) cached(key string, mk func(name string) string) string {
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := mk("const." + key)
	b.consts[key] = n
	return n
}

// sf32 and sf64 are scalar constants (shape []), broadcast by the ops.
func (b *builder) sf32(v float32) string {
	key := "f32_" + strconv.FormatFloat(float64(v), 'g', -1, 32)
	return b.cached(key, func(n string) string { return b.f32(n, nil, []float32{v}) })
}

func (b *builder) sf64(v float64) string {
	key := "f64_" + strconv.FormatFloat(v, 'g', -1, 64)
	return b.cached(key, func(n string) string { return b.f64(n, nil, []float64{v}) })
}

// ints is a 1-D int64 constant (shapes, axes, slice bounds, indices).
func (b *builder) ints(v ...int64) string {
	key := "i64"
	for _, x := range v {
		key += "_" + strconv.FormatInt(x, 10)
	}
	return b.cached(key, func(n string) string { return b.init(n, tInt64, []int64{int64(len(v))}, rawI64(v)) })
}

// Common node shapes.

func (b *builder) cast(x string, t pb.TensorProto_DataType) string {
	return b.op("Cast", []string{x}, attrInt("to", int64(t)))
}
func (b *builder) add(x, y string) string { return b.op("Add", []string{x, y}) }
func (b *builder) sub(x, y string) string { return b.op("Sub", []string{x, y}) }
func (b *builder) mul(x, y string) string { return b.op("Mul", []string{x, y}) }
func (b *builder) div(x, y string) string { return b.op("Div", []string{x, y}) }
func (b *builder) reshape(x string, shape ...int64) string {
	return b.op("Reshape", []string{x, b.ints(shape...)})
}

// slice takes [start, end) of one axis.
func (b *builder) slice(x string, axis, start, end int64) string {
	return b.op("Slice", []string{x, b.ints(start), b.ints(end), b.ints(axis)})
}

// valueInfo describes a graph input or output; a negative dim is symbolic
// with the name sym.
func valueInfo(name string, t pb.TensorProto_DataType, dims []int64, sym string) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		dim := &pb.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: sym}
		} else {
			dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &pb.ValueInfoProto{
		Name: proto.String(name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(t)), Shape: shape,
		}}},
	}
}
