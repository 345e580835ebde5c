package dot

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/kernels"
)

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(40) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(r.NormFloat64() * 1e-39) // subnormal
		case 2:
			x[i] = float32(math.Copysign(0, -1))
		default:
			x[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(20)-10)))
		}
	}
	return x
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v (%08x), want %v (%08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// The attention kernels equal the scalar chains of kernels.FMA32 they
// replace, for every kernel set, on sizes with and without tails.
func TestFMAColsRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	eachSet(t, func(t *testing.T) {
		for _, hd := range []int{1, 7, 16, 32, 64, 72} {
			for _, n := range []int{0, 8, 40, 64, 256} {
				stride := n + 8*r.IntN(3)
				q, kt := randF32(r, hd), randF32(r, hd*max(stride, 1))
				want := make([]float32, n)
				for u := range want {
					var s float32
					for j, qv := range q {
						s = kernels.FMA32(qv, kt[j*stride+u], s)
					}
					want[u] = s
				}
				got := randF32(r, n+8)
				FMACols(got, q, kt, stride, n)
				sameBits(t, "FMACols", got[:n], want)

				vs := hd + r.IntN(9)
				p, v := randF32(r, n), randF32(r, n*vs+hd)
				wo := make([]float32, hd)
				for u, pv := range p {
					for j := range wo {
						wo[j] = kernels.FMA32(pv, v[u*vs+j], wo[j])
					}
				}
				out := randF32(r, hd)
				FMARows(out, p, v, vs)
				sameBits(t, "FMARows", out, wo)
			}
		}
	})
}

// SSMStep equals ssd.Step's per-element arithmetic on the transposed state.
func TestSSMStep(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	eachSet(t, func(t *testing.T) {
		for _, P := range []int{1, 8, 12, 16, 32, 40, 64, 72, 104, 128} {
			for _, N := range []int{1, 8, 32, 96} {
				st := randF32(r, N*P)
				x, b32, c32 := randF32(r, P), randF32(r, N), randF32(r, N)
				dt := float64(float32(r.Float64()))
				decay := kernels.Exp(float64(dt * -0.7))
				u, bv, cv := make([]float64, P), make([]float64, N), make([]float64, N)
				for p := range u {
					u[p] = float64(dt * float64(x[p]))
				}
				for n := range bv {
					bv[n], cv[n] = float64(b32[n]), float64(c32[n])
				}
				// The reference: ssd.Step's loop on the untransposed state.
				ref := make([]float32, P*N)
				for p := 0; p < P; p++ {
					for n := 0; n < N; n++ {
						ref[p*N+n] = st[n*P+p]
					}
				}
				wy := make([]float32, P)
				for p := 0; p < P; p++ {
					row := ref[p*N : p*N+N]
					uu := float64(dt * float64(x[p]))
					var acc float64
					for n := range row {
						s := float32(float64(decay*float64(row[n])) + float64(uu*float64(b32[n])))
						row[n] = s
						acc += float64(float64(s) * float64(c32[n]))
					}
					wy[p] = float32(acc)
				}
				y := make([]float32, P)
				SSMStep(st, u, bv, cv, y, decay)
				sameBits(t, "SSMStep y", y, wy)
				for p := 0; p < P; p++ {
					for n := 0; n < N; n++ {
						if math.Float32bits(st[n*P+p]) != math.Float32bits(ref[p*N+n]) {
							t.Fatalf("SSMStep P %d N %d: state (%d,%d) is %v, want %v", P, N, p, n, st[n*P+p], ref[p*N+n])
						}
					}
				}
			}
		}
	})
}

// Quantize and ScaleAcc equal the engine's scalar loops.
func TestQuantizeScaleAcc(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	eachSet(t, func(t *testing.T) {
		for _, n := range []int{1, 7, 8, 64, 131, 256} {
			x := randF32(r, n)
			x[0] = 0.49999997 / 3 // rounding edge after the product
			x[n-1] = 1e30         // clamped
			for _, b := range [][2]float32{{-128, 127}, {-8, 7}, {-127, 127}} {
				s := float32(127 / 2.5)
				q := make([]int8, n)
				got := Quantize(q, x, s, b[0], b[1])
				var want int32
				for i, v := range x {
					w := int8(roundClip(v*s, b[0], b[1]))
					if q[i] != w {
						t.Fatalf("n %d: q[%d] = %d, want %d (x %v)", n, i, q[i], w, v)
					}
					want += int32(w)
				}
				if got != want {
					t.Fatalf("n %d: Σq = %d, want %d", n, got, want)
				}
			}
			acc := make([]int32, n)
			for i := range acc {
				acc[i] = int32(r.IntN(1<<20)) - 1<<19
			}
			y := make([]float32, n)
			gs, fs := float64(float32(0.0371)), float64(float32(51.3))
			ScaleAcc(y, acc, -77, gs, fs)
			for o, a := range acc {
				if w := float32(float64(a+77) * gs / fs); math.Float32bits(y[o]) != math.Float32bits(w) {
					t.Fatalf("ScaleAcc %d: %v, want %v", o, y[o], w)
				}
			}
		}
	})
}

// TQ2RowsLive equals TQ2Rows when the activations past live are zero.
func TestTQ2RowsLive(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	eachSet(t, func(t *testing.T) {
		for _, rows := range []int{1, 3, 4, 7, 64, 130} {
			for _, live := range []int{1, 100, 128, 129, 256} {
				w := ternaryWeights(r, gguf.TQ2_0, 1, rows, random)
				q := actValues(r, 256, random, -128)
				clear(q[live:])
				want := make([]int32, rows)
				TQ2Rows(want, w, q, 1)
				got := make([]int32, rows)
				TQ2RowsLive(got, w, q, 1, live)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("rows %d live %d: row %d = %d, want %d", rows, live, i, got[i], want[i])
					}
				}
			}
		}
	})
}

// F16HeadT equals the per-row float64 chains of the exact head.
func TestF16HeadT(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	eachSet(t, func(t *testing.T) {
		for _, rows := range []int{8, 16, 24, 40} {
			for _, d := range []int{1, 32, 128} {
				data := make([]byte, rows*d*2)
				for i := 0; i < rows*d; i++ {
					h := uint16(r.IntN(1 << 16))
					if h&0x7c00 == 0x7c00 {
						h &^= 0x4000 // finite
					}
					data[2*i], data[2*i+1] = byte(h), byte(h>>8)
				}
				x := randF32(r, d)
				x64 := make([]float64, d)
				for k, v := range x {
					x64[k] = float64(v)
				}
				out := make([]float32, rows)
				et := make([]uint16, rows*d)
				TransposeF16Rows(et, data, rows, d, 2*d)
				F16HeadT(out, x64, et)
				for v := 0; v < rows; v++ {
					var s float64
					for k := 0; k < d; k++ {
						s += float64(x[k]) * float64(gguf.FP16ToFP32(uint16(data[2*(v*d+k)])|uint16(data[2*(v*d+k)+1])<<8))
					}
					if math.Float32bits(out[v]) != math.Float32bits(float32(s)) {
						t.Fatalf("rows %d d %d: row %d = %v, want %v", rows, d, v, out[v], float32(s))
					}
				}
			}
		}
	})
}
