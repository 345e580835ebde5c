package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/rng"
)

func randLogits(seed int64, purpose string, n int, scale float64) []float32 {
	r := rng.New(seed, purpose)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.Norm() * scale)
	}
	return x
}

// fdCheck compares g (the analytic gradient of f at x) with central
// differences, element by element, in float64 through float32 logits.
func fdCheck(t *testing.T, name string, x []float32, g []float32, f func() float64) {
	t.Helper()
	const eps = 1e-2
	for i := range x {
		orig := x[i]
		x[i] = orig + eps
		lp := f()
		x[i] = orig - eps
		lm := f()
		x[i] = orig
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - float64(g[i])); d > 2e-3+2e-3*math.Abs(num) {
			t.Errorf("%s: d/dx[%d] analytic %.6g, finite difference %.6g", name, i, g[i], num)
		}
	}
}

func TestKLGradients(t *testing.T) {
	const V, rows = 7, 3
	s := randLogits(1, "s", rows*V, 1.5)
	te := randLogits(2, "t", rows*V, 1.5)
	mask := []bool{true, false, true}
	for _, tau := range []float64{1, 2.5} {
		g := make([]float32, len(s))
		if _, err := ForwardKL(2, g, s, te, V, mask, tau, 0.7); err != nil {
			t.Fatal(err)
		}
		fdCheck(t, fmt.Sprintf("fkl τ=%v", tau), s, g, func() float64 {
			l, _ := ForwardKL(1, nil, s, te, V, mask, tau, 1)
			return 0.7 * l
		})
		for v := V; v < 2*V; v++ {
			if g[v] != 0 {
				t.Fatalf("fkl: masked row has a gradient")
			}
		}
	}
	g := make([]float32, len(s))
	if _, err := ReverseKL(3, g, s, te, V, mask, 1.3); err != nil {
		t.Fatal(err)
	}
	fdCheck(t, "rkl", s, g, func() float64 {
		l, _ := ReverseKL(1, nil, s, te, V, mask, 1)
		return 1.3 * l
	})
}

// TestMiniLLMGradient checks the gradient MiniLLMSequence adds against
// finite differences of its surrogate: Σ w_t·KL(q_t‖p_t) − Σ A_t·w_t·log
// q_t(y_t) with the weights and advantages held at their values.
func TestMiniLLMGradient(t *testing.T) {
	const V, T = 6, 4
	s := randLogits(3, "s", T*V, 1)
	te := randLogits(4, "t", T*V, 1)
	y := []int32{2, 0, 5, 3}
	for _, o := range []MiniLLMOptions{
		{Mix: 0},
		{Mix: 0.2, LengthNorm: true},
		{Mix: 0.2, LengthNorm: true, ClipRange: 0.2, RewardClip: 100},
		{Mix: 0.9, LengthNorm: true, ClipRange: 0.05, RewardClip: 0.3},
	} {
		g := make([]float32, len(s))
		if _, err := MiniLLMSequence(g, s, te, V, y, o, 0.5); err != nil {
			t.Fatal(err)
		}
		// The constants at the point of evaluation.
		b := newRowBuf(V)
		w, a, live := make([]float64, T), make([]float64, T), make([]bool, T)
		r := make([]float64, T)
		for i := 0; i < T; i++ {
			reverseKLRow(b, s[i*V:i*V+V], te[i*V:i*V+V])
			yi := y[i]
			w[i] = b.q[yi] / (o.Mix*b.p[yi] + (1-o.Mix)*b.q[yi])
			r[i] = b.lp[yi] - b.lq[yi]
			if o.RewardClip > 0 {
				r[i] = math.Max(-o.RewardClip, math.Min(o.RewardClip, r[i]))
			}
		}
		for i := 0; i < T; i++ {
			var f float64
			for j := i + 1; j < T; j++ {
				f += r[j]
			}
			if o.LengthNorm && i < T-1 {
				f /= float64(T - 1 - i)
			}
			a[i] = f
			c := w[i]
			if o.ClipRange > 0 {
				c = math.Max(1-o.ClipRange, math.Min(1+o.ClipRange, w[i]))
			}
			live[i] = -a[i]*w[i] >= -a[i]*c
		}
		fdCheck(t, fmt.Sprintf("minillm %+v", o), s, g, func() float64 {
			var l float64
			for i := 0; i < T; i++ {
				kl := reverseKLRow(b, s[i*V:i*V+V], te[i*V:i*V+V])
				l += w[i] * kl
				if live[i] {
					l -= a[i] * w[i] * b.lq[y[i]]
				}
			}
			return 0.5 * l
		})
	}
}

// TestKLZeroWhenEqual: with the student's logits equal to the teacher's
// every loss is 0 and adds a zero gradient.
func TestKLZeroWhenEqual(t *testing.T) {
	const V, rows = 11, 5
	s := randLogits(5, "s", rows*V, 2)
	te := append([]float32(nil), s...)
	g := make([]float32, len(s))
	l1, err := ForwardKL(2, g, s, te, V, nil, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := ReverseKL(2, g, s, te, V, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	y := []int32{0, 3, 10, 7, 7}
	st, err := MiniLLMSequence(g, s, te, V, y, DefaultMiniLLM(0.2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != 0 || l2 != 0 || st.Single != 0 || st.Long != 0 || st.RevKL != 0 {
		t.Errorf("losses with equal logits: fkl %g rkl %g minillm %+v, want 0", l1, l2, st)
	}
	for i, v := range g {
		if v != 0 {
			t.Fatalf("gradient[%d] = %g with equal logits, want 0", i, v)
		}
	}
}

// TestMiniLLMExpectation is the Monte-Carlo check of the estimator on a
// small vocabulary.
//
// (1) One token drawn from the teacher-mixed p̃ (α = 0.2): the mean of the
// importance-weighted estimate w·(log q − log p) and of the gradient
// MiniLLMSequence adds must equal the exact reverse KL KL(q‖p) and its
// gradient. (2) Two tokens from a tabular student and teacher (the second
// distribution depends on the first token), sampled from the student
// (α = 0, the paper's unnormalised, unclipped estimator): the mean
// gradient must equal the exact gradient of the sequence-level reverse KL
// Σ_y q(y)·log(q(y)/p(y)), enumerated over all V² sequences.
//
// Tolerance: every component within 5 standard errors of the sample mean
// plus 1e-3 (200,000 draws; a correct estimator fails with probability
// below 1e-5 per component).
func TestMiniLLMExpectation(t *testing.T) {
	const V = 5
	const N = 200000
	within := func(what string, got, se, want float64) {
		t.Helper()
		if math.Abs(got-want) > 5*se+1e-3 {
			t.Errorf("%s: Monte-Carlo mean %.5f ± %.5f, exact %.5f", what, got, se, want)
		}
	}
	// (1) single step, α = 0.2.
	s := randLogits(11, "s1", V, 1.2)
	te := randLogits(12, "t1", V, 1.2)
	b := newRowBuf(V)
	exact := reverseKLRow(b, s, te)
	gExact := make([]float32, V)
	addReverseKLGrad(gExact, b, exact, 1)
	u := rng.New(1, "test/minillm-mc1")
	var m1, m2 float64
	gm, gs := make([]float64, V), make([]float64, V)
	for n := 0; n < N; n++ {
		y := SampleMixed(s, te, 0.2, u.Float64())
		g := make([]float32, V)
		st, err := MiniLLMSequence(g, s, te, V, []int32{y}, DefaultMiniLLM(0.2), 1)
		if err != nil {
			t.Fatal(err)
		}
		m1 += st.RevKL
		m2 += st.RevKL * st.RevKL
		for v := range g {
			gm[v] += float64(g[v])
			gs[v] += float64(g[v]) * float64(g[v])
		}
	}
	mean := m1 / N
	within("reverse KL, α=0.2", mean, math.Sqrt((m2/N-mean*mean)/N), exact)
	for v := range gm {
		mv := gm[v] / N
		within(fmt.Sprintf("d KL/ds[%d], α=0.2", v), mv, math.Sqrt(math.Max(gs[v]/N-mv*mv, 0)/N), float64(gExact[v]))
	}

	// (2) two steps, tabular.
	s1 := randLogits(21, "s1", V, 1)
	t1 := randLogits(22, "t1", V, 1)
	s2 := randLogits(23, "s2", V*V, 1) // row y1: logits of the second token
	t2 := randLogits(24, "t2", V*V, 1)
	seqKL := func() float64 {
		b1, b2 := newRowBuf(V), newRowBuf(V)
		logSoftmax(b1.lq, b1.q, s1, 1)
		logSoftmax(b1.lp, b1.p, t1, 1)
		var kl float64
		for y1 := 0; y1 < V; y1++ {
			logSoftmax(b2.lq, b2.q, s2[y1*V:y1*V+V], 1)
			logSoftmax(b2.lp, b2.p, t2[y1*V:y1*V+V], 1)
			for y2 := 0; y2 < V; y2++ {
				q := b1.q[y1] * b2.q[y2]
				kl += q * (b1.lq[y1] + b2.lq[y2] - b1.lp[y1] - b2.lp[y2])
			}
		}
		return kl
	}
	// The exact gradient by central differences of the enumerated KL
	// (float64 throughout except the float32 logits; step 1e-2).
	params := append(append([]float32(nil), s1...), s2...)
	exactG := make([]float64, len(params))
	for i := range params {
		x := &s1[0]
		if i < V {
			x = &s1[i]
		} else {
			x = &s2[i-V]
		}
		orig := *x
		*x = orig + 1e-2
		lp := seqKL()
		*x = orig - 1e-2
		lm := seqKL()
		*x = orig
		exactG[i] = (lp - lm) / 2e-2
	}
	u2 := rng.New(2, "test/minillm-mc2")
	sum, sq := make([]float64, len(params)), make([]float64, len(params))
	o := MiniLLMOptions{} // α = 0, no normalisation, no clip
	rows := make([]float32, 2*V)
	trows := make([]float32, 2*V)
	g := make([]float32, 2*V)
	for n := 0; n < N; n++ {
		y1 := SampleMixed(s1, t1, 0, u2.Float64())
		y2 := SampleMixed(s2[int(y1)*V:int(y1)*V+V], t2[int(y1)*V:int(y1)*V+V], 0, u2.Float64())
		copy(rows, s1)
		copy(rows[V:], s2[int(y1)*V:int(y1)*V+V])
		copy(trows, t1)
		copy(trows[V:], t2[int(y1)*V:int(y1)*V+V])
		clear(g)
		if _, err := MiniLLMSequence(g, rows, trows, V, []int32{y1, y2}, o, 1); err != nil {
			t.Fatal(err)
		}
		// A draw's gradient is zero for every table row it did not visit;
		// the mean runs over all draws.
		for v := 0; v < V; v++ {
			a, c := float64(g[v]), float64(g[V+v])
			sum[v] += a
			sq[v] += a * a
			k := V + int(y1)*V + v
			sum[k] += c
			sq[k] += c * c
		}
	}
	for i := range sum {
		mv := sum[i] / N
		se := math.Sqrt(math.Max(sq[i]/N-mv*mv, 0) / N)
		within(fmt.Sprintf("d KL(q(y)‖p(y))/dθ[%d]", i), mv, se, exactG[i])
	}
}

func TestDistillErrors(t *testing.T) {
	s := make([]float32, 10)
	if _, err := ForwardKL(1, nil, s, make([]float32, 8), 5, nil, 1, 1); err == nil {
		t.Error("mismatched teacher logits accepted")
	}
	if _, err := ForwardKL(1, nil, s, s, 5, nil, 0, 1); err == nil {
		t.Error("temperature 0 accepted")
	}
	if _, err := MiniLLMSequence(nil, s, s, 5, []int32{1, 9}, MiniLLMOptions{}, 1); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
	if _, err := MiniLLMSequence(nil, s, s, 5, []int32{1}, MiniLLMOptions{}, 1); err == nil {
		t.Error("row/token count mismatch accepted")
	}
}

// sampleOneByOne is the MiniLLM sampler decoding each window alone with
// Model.Step: the reference of the batched sampler.
func sampleOneByOne(t testing.TB, d *distiller, m *models.Model, step int64, mi int, tokens []int32, p plan) []int32 {
	t.Helper()
	L, P := p.seqLen, d.prompt
	seqs := append([]int32(nil), tokens...)
	for b := 0; b < p.micro; b++ {
		ss, ts := m.NewState(), d.teacher.NewState()
		var sl, tl []float32
		var err error
		feed := func(tok int32) {
			if sl, err = m.Step(ss, tok); err != nil {
				t.Fatal(err)
			}
			if tl, err = d.teacher.Step(ts, tok); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < P; i++ {
			feed(seqs[b*L+i])
		}
		r := rng.New(d.seed, fmt.Sprintf("distill/minillm/%d/%d/%d", step, mi, b))
		for i := P; i < L; i++ {
			y := SampleMixed(sl, tl, d.cfg.TeacherMix, r.Float64())
			seqs[b*L+i] = y
			if i < L-1 {
				feed(y)
			}
		}
	}
	return seqs
}

// TestMiniLLMSampleBatched: the batched sampler draws the tokens of
// decoding every window alone, at 1 and 3 threads, and keeps the prompts,
// also on later micro-batches of one distiller (its decoders reset, not
// new) after the student's weights changed.
func TestMiniLLMSampleBatched(t *testing.T) {
	mc := configs.ModelConfig{DModel: 16, NLayers: 3, AttnLayers: []int{1}, NHeads: 4, NKVHeads: 2, RopeTheta: 10000,
		DState: 8, Expand: 2, HeadDim: 8, NGroups: 1, DConv: 4, Chunk: 4, FFN: true, DFF: 24, Vocab: 40, Context: 24, NormEps: 1e-5, InitStd: 0.5}
	qc := configs.QuantConfig{SubLN: true, Scale: "absmean", ActBits: 8, Alpha4: 3, Alpha2: 1.5}
	student, err := models.New(mc, qc, 1)
	if err != nil {
		t.Fatal(err)
	}
	student.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	tmc := mc
	tmc.DModel, tmc.DFF = 32, 48
	teacher, err := models.New(tmc, configs.QuantConfig{Scale: "absmean", Alpha4: 3, Alpha2: 1.5}, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := plan{micro: 4, seqLen: 20, nMicro: 1}
	r := rng.New(9, "test/minillm-tokens")
	tokens := make([]int32, p.micro*p.seqLen)
	for i := range tokens {
		tokens[i] = int32(r.Intn(mc.Vocab))
	}
	for _, th := range []int{1, 3} {
		student.SetThreads(th)
		teacher.SetThreads(th)
		d := &distiller{cfg: configs.DistillConfig{TeacherMix: 0.2}, loss: configs.DistillMiniLLM, teacher: teacher, prompt: 7, threads: th, vocab: mc.Vocab, seed: 4}
		for k, step := range []int64{3, 3, 4} {
			if k == 2 { // an optimizer step between two micro-batches
				for _, prm := range student.Params() {
					for i := range prm.Data {
						prm.Data[i] *= 1.25
					}
				}
			}
			want := sampleOneByOne(t, d, student, step, 1, tokens, p)
			got, err := d.sample(student, step, 1, tokens, p)
			if err != nil {
				t.Fatal(err)
			}
			changed := 0
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("threads %d, call %d: token %d (row %d position %d) %d, decoding alone %d", th, k, i, i/p.seqLen, i%p.seqLen, got[i], want[i])
				}
				if i%p.seqLen < d.prompt && got[i] != tokens[i] {
					t.Fatalf("threads %d, call %d: prompt token %d changed", th, k, i)
				}
				if got[i] != tokens[i] {
					changed++
				}
			}
			if changed == 0 {
				t.Fatalf("threads %d, call %d: nothing was sampled", th, k)
			}
		}
	}
}
