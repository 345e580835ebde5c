package kernels

import "math"

// AdamWConsts are the constants of one AdamW step (see AdamWUpdate).
type AdamWConsts struct {
	Beta1, Beta2 float64
	Decay        float64 // lr·weight_decay, or 0 for parameters without decay
	C1, C2       float64 // bias corrections 1−β1^t and 1−β2^t
	Eps, LR      float64
}

// AdamWUpdate applies one AdamW step to every element j, in float64 with
// these roundings (each line is one IEEE operation sequence, left to right,
// with no fused multiply-add):
//
//	m[j] = float32(β1·m[j] + (1−β1)·g[j])
//	v[j] = float32(β2·v[j] + ((1−β2)·g[j])·g[j])
//	θ = θ − Decay·θ
//	w[j] = float32(θ − (LR·(m[j]/C1)) / (sqrt(v[j]/C2) + Eps))
//
// where θ = w[j] and the second line's m[j], v[j] are the rounded new
// moments. The assembly path computes eight elements per instruction with
// exactly these operations, so it gives the same bits as the Go code.
func AdamWUpdate(w, g, m, v []float32, k AdamWConsts) {
	n := len(w)
	if len(g) < n || len(m) < n || len(v) < n {
		panic("kernels.AdamWUpdate: g, m and v must be at least as long as w")
	}
	done := adamwVector(w, g, m, v, k)
	adamwGo(w[done:], g[done:n], m[done:n], v[done:n], k)
}

// adamwGo is the scalar definition of AdamWUpdate.
func adamwGo(w, g, m, v []float32, k AdamWConsts) {
	b1, b2 := k.Beta1, k.Beta2
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		gj := float64(g[j])
		mj := float64(b1*float64(m[j])) + float64((1-b1)*gj)
		vj := float64(b2*float64(v[j])) + float64(float64((1-b2)*gj)*gj)
		m[j], v[j] = float32(mj), float32(vj)
		wj := float64(w[j])
		wj -= float64(k.Decay * wj)
		den := math.Sqrt(float64(v[j])/k.C2) + k.Eps
		wj -= float64(k.LR*(float64(m[j])/k.C1)) / den
		w[j] = float32(wj)
	}
}
