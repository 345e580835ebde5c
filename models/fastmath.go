package models

import (
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// The hot elementwise transcendentals of the model (SiLU, sigmoid, softmax
// and cross-entropy exponentials) are owned by package kernels (the scalar
// exponential and sigmoid) and kernels/vec (the row kernels); the names
// below keep the model's call sites short. They use only IEEE basic float64
// operations, with an explicit conversion around every product so that no
// compiler fuses a multiply-add, and exact bit manipulation: the same bits
// on every machine and for any thread count.

// fastExp returns e**x for x in [−708, 709]: 0 below, +Inf above, NaN for
// NaN (kernels.ExpFast).
func fastExp(x float64) float64 { return kernels.ExpFast(x) }

// sigmoid32 returns 1/(1+e**−x) rounded to float32 (kernels.Sigmoid32).
func sigmoid32(x float32) float32 { return kernels.Sigmoid32(x) }

// siluRow writes silu[i] = float32(x[i]·σ(x[i])) and sig[i] = float32(σ(x[i]))
// for every i (vec.SiLU). σ equals sigmoid32 for every float32 input.
func siluRow(silu, sig, x []float32) { vec.SiLU(silu, sig, x) }

// expShiftRow writes d[j] = float32(e**(x[j] − mx)) (when d is not nil) and
// returns Σ_j e**(x[j] − mx) in float64, summed in ascending j
// (vec.ExpShift). Each exponential equals fastExp(float64(x[j] − mx)) for
// mx ≥ max x (so the argument is ≤ 0): below −708 the clamp of vec.ExpShift
// gives e**−708 instead of 0, which rounds to the same float32 and leaves a
// sum that is ≥ 1 unchanged.
func expShiftRow(d, x []float32, mx float32) float64 { return vec.ExpShift(d, x, mx) }
