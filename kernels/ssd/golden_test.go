package ssd

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"
)

// goldenCase is one recorded Forward+Backward run: its shape, its inputs and
// the SHA-256 of every output bit.
type goldenCase struct {
	name     string
	d        Dims
	scale    dtScale
	withInit bool // pass an initial state (and take its gradient)
	withFin  bool // pass dFinal and take the final state
	prefill  bool // start the gradient buffers from nonzero values
	want     string
}

// goldenCases fix the float32 bits of Forward and Backward. The hashes were
// recorded from the reference implementation; a change of arithmetic or of
// reduction order changes them.
var goldenCases = []goldenCase{
	{
		name: "nano_B1xL512xH8xG1xP64xN96xQ64",
		d:    Dims{Batch: 1, Len: 512, Heads: 8, HeadDim: 64, Groups: 1, State: 96, Chunk: 64},
		want: "264c9d91c639dddc49cb0a511a2ab508ff5600529ba32e9b330fc0d2ec5b5003",
	},
	{
		name:  "nano_large_dt_init_final",
		d:     Dims{Batch: 1, Len: 512, Heads: 8, HeadDim: 64, Groups: 1, State: 96, Chunk: 64},
		scale: dtLarge, withInit: true, withFin: true,
		want: "a49ea36a90ecd569ba3232af1f5207090e19e7421893754861fa07b2d1ae53db",
	},
	{
		name:  "ragged_B2xL77xH4xG2xP8xN12xQ16",
		d:     Dims{Batch: 2, Len: 77, Heads: 4, HeadDim: 8, Groups: 2, State: 12, Chunk: 16},
		scale: dtLarge, withInit: true, withFin: true, prefill: true,
		want: "11d9b306be654ce2a36ee016b556434063231ba7e5c96a30b58a1c186becfb43",
	},
	{
		name:  "ragged_B3xL45xH6xG2xP5xN6xQ8",
		d:     Dims{Batch: 3, Len: 45, Heads: 6, HeadDim: 5, Groups: 2, State: 6, Chunk: 8},
		scale: dtSmall, withFin: true,
		want: "610163cc342bc153df925b7fd867616e63cdf57f9ee7e2586f534942dac3c94c",
	},
	{
		name:  "short_B2xL5xH3xG3xP4xN7xQ8",
		d:     Dims{Batch: 2, Len: 5, Heads: 3, HeadDim: 4, Groups: 3, State: 7, Chunk: 8},
		scale: dtLarge, withInit: true,
		want: "c0e3d177f9fc148104ae9cbffcd60e5524324eadd2a6afa56aeb4bf73853e9ef",
	},
}

// run executes Forward and Backward with threads and returns the hash of y,
// the final state and every gradient.
func (gc goldenCase) run(threads int) string {
	d := gc.d
	p := newProblem(int64(len(gc.name)), d, gc.scale)
	in := p.in
	init, fin, dFinal, dInit := []float32(nil), []float32(nil), []float32(nil), []float32(nil)
	if gc.withInit {
		init, dInit = in.init, make([]float32, d.stateSize())
	}
	if gc.withFin {
		fin, dFinal = make([]float32, d.stateSize()), p.wf
	}
	y := make([]float32, d.xSize())
	c := Forward(threads, d, y, in.x, in.dt, in.A, in.Bm, in.Cm, init, fin)
	gx, gdt, gA := make([]float32, d.xSize()), make([]float32, d.dtSize()), make([]float32, d.Heads)
	gB, gC := make([]float32, d.bcSize()), make([]float32, d.bcSize())
	if gc.prefill {
		for k, buf := range [][]float32{gx, gdt, gA, gB, gC, dInit} {
			for i := range buf {
				buf[i] = float32(math.Sin(float64(3*i+k))) * 0.25
			}
		}
	}
	Backward(threads, d, c, p.wy, dFinal, in.x, in.dt, in.A, in.Bm, in.Cm, gx, gdt, gA, gB, gC, dInit)
	h := sha256.New()
	var b [4]byte
	for k, buf := range [][]float32{y, fin, gx, gdt, gA, gB, gC, dInit} {
		fmt.Fprintf(h, "|%d:%d|", k, len(buf))
		for _, v := range buf {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestGoldenBits checks that Forward and Backward reproduce the recorded
// output bits at several thread counts.
func TestGoldenBits(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			for _, th := range []int{1, 2, 7} {
				if got := gc.run(th); got != gc.want {
					t.Errorf("threads=%d: hash %s, want %s", th, got, gc.want)
				}
			}
		})
	}
}
