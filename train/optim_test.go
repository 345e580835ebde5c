package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestAdamWHandComputed(t *testing.T) {
	tc := configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	w := models.NewParam("w", false, 2)
	b := models.NewParam("b", true, 1)
	w.Data[0], w.Data[1], b.Data[0] = 1, -2, 0.5
	opt, err := NewAdamW([]*models.Param{w, b}, tc)
	if err != nil {
		t.Fatal(err)
	}
	const lr = 0.01
	// Step 1, g = (0.5, -1), b's g = 2. With t=1 the bias-corrected ratio is
	// m̂/sqrt(v̂) = g/|g| = sign(g), so θ1 = θ0(1 − lr·wd) − lr·sign(g)·|g|/(|g|+eps).
	w.Grad[0], w.Grad[1], b.Grad[0] = 0.5, -1, 2
	opt.Step(lr)
	want1 := []float64{
		1*(1-lr*0.1) - lr*0.5/(0.5+1e-8),
		-2*(1-lr*0.1) + lr*1/(1+1e-8),
	}
	wantB1 := 0.5 - lr*2/(2+1e-8) // NoDecay: no lr·wd·θ term
	for i, want := range want1 {
		if !near(float64(w.Data[i]), want, 1e-6) {
			t.Errorf("step 1 w[%d] = %.9g, want %.9g", i, w.Data[i], want)
		}
	}
	if !near(float64(b.Data[0]), wantB1, 1e-6) {
		t.Errorf("step 1 b = %.9g, want %.9g (decay must be skipped)", b.Data[0], wantB1)
	}
	if !near(float64(opt.M[0][0]), 0.05, 1e-6) || !near(float64(opt.V[0][0]), 0.05*0.25, 1e-6) {
		t.Errorf("moments after step 1: m=%v v=%v, want 0.05, 0.0125", opt.M[0][0], opt.V[0][0])
	}

	// Step 2 on w[0] with g = 0.25:
	// m = 0.9·0.05 + 0.1·0.25 = 0.07; v = 0.95·0.0125 + 0.05·0.0625 = 0.015
	// m̂ = 0.07/(1−0.81) ; v̂ = 0.015/(1−0.9025)
	w.Grad[0], w.Grad[1], b.Grad[0] = 0.25, 0, 0
	theta1 := float64(w.Data[0])
	opt.Step(lr)
	mh := 0.07 / (1 - 0.81)
	vh := 0.015 / (1 - 0.9025)
	want2 := theta1*(1-lr*0.1) - lr*mh/(math.Sqrt(vh)+1e-8)
	if !near(float64(w.Data[0]), want2, 1e-6) {
		t.Errorf("step 2 w[0] = %.9g, want %.9g", w.Data[0], want2)
	}
	// b with zero gradient still moves by momentum: m = 0.9·0.2, v = 0.95·0.2.
	bPrev := wantB1
	wantB2 := bPrev - lr*(0.18/0.19)/(math.Sqrt(0.95*0.2/0.0975)+1e-8)
	if !near(float64(b.Data[0]), wantB2, 1e-6) {
		t.Errorf("step 2 b = %.9g, want %.9g", b.Data[0], wantB2)
	}
	if opt.Steps != 2 {
		t.Errorf("Steps = %d, want 2", opt.Steps)
	}
	opt.Reset()
	if opt.Steps != 0 || opt.M[0][0] != 0 || opt.V[1][0] != 0 {
		t.Errorf("Reset left state: steps %d m %v v %v", opt.Steps, opt.M[0][0], opt.V[1][0])
	}
}

func TestAdamWThreadsBitIdentical(t *testing.T) {
	tc := configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	run := func(threads int) []float32 {
		p := models.NewParam("w", false, 1000)
		for i := range p.Data {
			p.Data[i] = float32(i%17) * 0.01
		}
		opt, _ := NewAdamW([]*models.Param{p}, tc)
		opt.Threads = threads
		for s := 0; s < 3; s++ {
			for i := range p.Grad {
				p.Grad[i] = float32((i*7+s)%13) - 6
			}
			opt.Step(1e-3)
		}
		return p.Data
	}
	a, b := run(1), run(2)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("element %d differs: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestNewAdamWRejectsBadConfig(t *testing.T) {
	good := configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
	cases := []struct {
		name string
		mod  func(*configs.TrainConfig)
	}{
		{"beta1", func(c *configs.TrainConfig) { c.Beta1 = 1 }},
		{"beta2", func(c *configs.TrainConfig) { c.Beta2 = -0.1 }},
		{"eps", func(c *configs.TrainConfig) { c.Eps = 0 }},
		{"weight_decay", func(c *configs.TrainConfig) { c.WeightDecay = math.NaN() }},
	}
	for _, c := range cases {
		tc := good
		c.mod(&tc)
		if _, err := NewAdamW(nil, tc); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	cases := []struct {
		clip      float64
		wantScale float64
	}{
		{clip: 1, wantScale: 1.0 / 13}, // norm 13 > 1: scaled by clip/norm
		{clip: 13, wantScale: 1},       // norm == clip: untouched
		{clip: 20, wantScale: 1},       // norm < clip: untouched
		{clip: 0, wantScale: 1},        // disabled
	}
	for _, c := range cases {
		a := models.NewParam("a", false, 2)
		b := models.NewParam("b", true, 1)
		a.Grad[0], a.Grad[1], b.Grad[0] = 3, 4, 12 // sqrt(9+16+144) = 13
		norm := ClipGradNorm([]*models.Param{a, b}, c.clip)
		if norm != 13 {
			t.Errorf("clip %v: norm %v, want 13", c.clip, norm)
		}
		for i, want := range []float64{3, 4, 12} {
			got := []float32{a.Grad[0], a.Grad[1], b.Grad[0]}[i]
			if !near(float64(got), want*c.wantScale, 1e-6) {
				t.Errorf("clip %v: grad %d = %v, want %v", c.clip, i, got, want*c.wantScale)
			}
		}
	}
}

func TestNonFiniteGrad(t *testing.T) {
	a := models.NewParam("a", false, 2)
	b := models.NewParam("b", false, 2)
	if got := NonFiniteGrad([]*models.Param{a, b}); got != "" {
		t.Errorf("finite grads: got %q", got)
	}
	b.Grad[1] = float32(math.Inf(-1))
	if got := NonFiniteGrad([]*models.Param{a, b}); got != "b" {
		t.Errorf("got %q, want b", got)
	}
	a.Grad[0] = float32(math.NaN())
	if got := NonFiniteGrad([]*models.Param{a, b}); got != "a" {
		t.Errorf("got %q, want a", got)
	}
}

// TestAdamWOnePassMatchesPerParam runs Step, which updates all parameters
// in one parallel pass, on parameters of sizes around its 256-value blocks
// (an empty one included) at several thread counts, and compares every
// weight and moment bit for bit with kernels.AdamWUpdate applied to each
// parameter whole.
func TestAdamWOnePassMatchesPerParam(t *testing.T) {
	tc := configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	sizes := []int{3, 0, 256, 1, 257, 1000, 255}
	mk := func() []*models.Param {
		var ps []*models.Param
		for i, n := range sizes {
			p := models.NewParam(fmt.Sprintf("p%d", i), i%2 == 1, n)
			for j := range p.Data {
				p.Data[j] = float32(math.Sin(float64(7*i+j))) * 0.5
				p.Grad[j] = float32(math.Cos(float64(3*i+j*j))) * 1e-2
			}
			ps = append(ps, p)
		}
		return ps
	}
	const lr = 3e-3
	want := mk()
	wm, wv := make([][]float32, len(want)), make([][]float32, len(want))
	for step := 1; step <= 2; step++ {
		c1, c2 := 1-kernels.Pow(tc.Beta1, float64(step)), 1-kernels.Pow(tc.Beta2, float64(step))
		for i, p := range want {
			if step == 1 {
				wm[i], wv[i] = make([]float32, len(p.Data)), make([]float32, len(p.Data))
			}
			decay := 0.0
			if !p.NoDecay {
				decay = lr * tc.WeightDecay
			}
			kernels.AdamWUpdate(p.Data, p.Grad, wm[i], wv[i], kernels.AdamWConsts{Beta1: tc.Beta1, Beta2: tc.Beta2, Decay: decay, C1: c1, C2: c2, Eps: tc.Eps, LR: lr})
		}
	}
	for _, threads := range []int{1, 2, 3} {
		got := mk()
		opt, err := NewAdamW(got, tc)
		if err != nil {
			t.Fatal(err)
		}
		opt.Threads = threads
		opt.Step(lr)
		opt.Step(lr)
		for i, p := range got {
			for j := range p.Data {
				if math.Float32bits(p.Data[j]) != math.Float32bits(want[i].Data[j]) ||
					math.Float32bits(opt.M[i][j]) != math.Float32bits(wm[i][j]) || math.Float32bits(opt.V[i][j]) != math.Float32bits(wv[i][j]) {
					t.Fatalf("threads %d: %s[%d] = %g (m %g, v %g), want %g (m %g, v %g)", threads, p.Name, j,
						p.Data[j], opt.M[i][j], opt.V[i][j], want[i].Data[j], wm[i][j], wv[i][j])
				}
			}
		}
	}
}
