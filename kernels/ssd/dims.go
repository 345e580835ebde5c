package ssd

import "fmt"

// Dims are the shapes of one selective scan.
type Dims struct {
	Batch   int // sequences in the batch
	Len     int // time steps per sequence
	Heads   int // SSM heads (H)
	HeadDim int // channels per head (P)
	Groups  int // groups sharing B and C (G); Heads must be a multiple
	State   int // state size (N)
	Chunk   int // chunk length (Q) of the chunked algorithm
}

// Validate reports the first field that is not usable.
func (d Dims) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"Batch", d.Batch}, {"Len", d.Len}, {"Heads", d.Heads}, {"HeadDim", d.HeadDim},
		{"Groups", d.Groups}, {"State", d.State}, {"Chunk", d.Chunk},
	} {
		if f.v <= 0 {
			return fmt.Errorf("ssd: Dims.%s = %d: must be > 0", f.name, f.v)
		}
	}
	if d.Heads%d.Groups != 0 {
		return fmt.Errorf("ssd: Dims.Heads = %d is not a multiple of Dims.Groups = %d: use a Groups value that divides Heads", d.Heads, d.Groups)
	}
	return nil
}

// Chunks returns the number of chunks, ⌈Len/Chunk⌉.
func (d Dims) Chunks() int { return (d.Len + d.Chunk - 1) / d.Chunk }

// headsPerGroup returns Heads/Groups.
func (d Dims) headsPerGroup() int { return d.Heads / d.Groups }

// FLOPs returns the forward floating-point operations of the chunked scan
// (a multiply-add counts as 2), by the per-token count
// 2·d_in·(Q+2N) + 2·Q·G·N with d_in = Heads·HeadDim, times Batch·Len.
func (d Dims) FLOPs() float64 {
	din := float64(d.Heads * d.HeadDim)
	q, n, g := float64(d.Chunk), float64(d.State), float64(d.Groups)
	return float64(d.Batch*d.Len) * (2*din*(q+2*n) + 2*q*g*n)
}

// mustValid panics with the validation error: the kernels treat bad shapes
// as programming errors, like kernels.MatMul does. Callers that take shapes
// from configuration call Validate first.
func (d Dims) mustValid(fn string) {
	if err := d.Validate(); err != nil {
		panic(fmt.Sprintf("ssd.%s: %v", fn, err))
	}
}

// checkLen panics when a buffer is shorter than its shape requires.
func checkLen(fn, name string, buf []float32, want int) {
	if len(buf) < want {
		panic(fmt.Sprintf("ssd.%s: len(%s) = %d, want at least %d", fn, name, len(buf), want))
	}
}

// sizes of the tensors of d.
func (d Dims) xSize() int     { return d.Batch * d.Len * d.Heads * d.HeadDim }
func (d Dims) dtSize() int    { return d.Batch * d.Len * d.Heads }
func (d Dims) bcSize() int    { return d.Batch * d.Len * d.Groups * d.State }
func (d Dims) stateSize() int { return d.Batch * d.Heads * d.HeadDim * d.State }

// checkInputs validates d and the lengths of the shared inputs.
func (d Dims) checkInputs(fn string, x, dt, A, Bm, Cm []float32) {
	d.mustValid(fn)
	checkLen(fn, "x", x, d.xSize())
	checkLen(fn, "dt", dt, d.dtSize())
	checkLen(fn, "A", A, d.Heads)
	checkLen(fn, "Bm", Bm, d.bcSize())
	checkLen(fn, "Cm", Cm, d.bcSize())
}
