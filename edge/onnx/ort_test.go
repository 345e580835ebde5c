package onnx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/edge"
	pb "github.com/nanomamba-edge/harness/edge/onnx/onnxpb"
	"github.com/nanomamba-edge/harness/kernels/vec"
	"github.com/nanomamba-edge/harness/models"
)

// ortScript returns the path of tools/ort/run.js, skipping the test when
// node or the onnxruntime-node package is missing.
func ortScript(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: ONNX Runtime checks need node and tools/ort (cd tools/ort && npm ci --ignore-scripts)")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools", "ort"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node")); err != nil {
		t.Skip("onnxruntime-node is not installed in tools/ort: run (cd tools/ort && npm ci --ignore-scripts)")
	}
	return filepath.Join(dir, "run.js")
}

// runORT writes the request (with the model bytes as model.onnx) and
// decodes the script's JSON answer into out.
func runORT(t *testing.T, model []byte, req map[string]any, out any) {
	t.Helper()
	script := ortScript(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	req["model"] = path
	rb, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	rp := filepath.Join(dir, "request.json")
	if err := os.WriteFile(rp, rb, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("node", script, rp)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("decoding the ORT answer: %v\n%.500s", err, stdout.String())
	}
}

type ortTensor struct {
	Type string    `json:"type"`
	Dims []int64   `json:"dims"`
	Data []float64 `json:"data"`
}

// quantGraph is a graph y = actQuant(x) (8 bits) with the given rounding.
func quantGraph(t *testing.T, n int, round func(e *exporter) func(string) string) []byte {
	t.Helper()
	e := &exporter{b: newBuilder("act_quant")}
	e.b.g.Input = []*pb.ValueInfoProto{valueInfo("x", tFloat, []int64{1, int64(n)}, "")}
	y := e.actQuant("x", 8, round(e))
	e.b.node("Identity", []string{y}, []string{"y"})
	e.b.g.Output = []*pb.ValueInfoProto{valueInfo("y", tFloat, []int64{1, int64(n)}, "")}
	mp := &pb.ModelProto{IrVersion: proto.Int64(IRVersion), Graph: e.b.g,
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}}}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestActQuantRounding checks the exported activation quantizer against the
// harness's kernel (vec.QuantMulDiv, ties away from zero) on values that
// scale to exact ties and to the float32 neighbours of ties, and shows that
// ONNX's Round (ties to even) would disagree on them.
func TestActQuantRounding(t *testing.T) {
	ortScript(t)
	x := []float32{127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 3.5, 0, -0,
		math.Nextafter32(0.5, 0), math.Nextafter32(0.5, 1), math.Nextafter32(-2.5, 0), math.Nextafter32(-2.5, -3),
		math.Nextafter32(126.5, 0), 64.5, -64.5, 100.49999}
	n := len(x)
	want := make([]float32, n)
	s := 127 / max(vec.AbsMax(x), 1e-5)
	vec.QuantMulDiv(want, x, s, -128, 127)
	run := func(model []byte) []float32 {
		var res struct {
			Outputs map[string]ortTensor `json:"outputs"`
		}
		data := make([]float64, n)
		for i, v := range x {
			data[i] = float64(v)
		}
		runORT(t, model, map[string]any{"mode": "run", "inputs": map[string]any{
			"x": map[string]any{"type": "float32", "dims": []int{1, n}, "data": data}}}, &res)
		y := res.Outputs["y"]
		got := make([]float32, len(y.Data))
		for i, v := range y.Data {
			got[i] = float32(v)
		}
		return got
	}
	got := run(quantGraph(t, n, func(e *exporter) func(string) string { return e.roundHalfAway }))
	for i := range x {
		if got[i] != want[i] {
			t.Errorf("x = %v: ONNX %v, harness %v", x[i], got[i], want[i])
		}
	}
	even := run(quantGraph(t, n, func(e *exporter) func(string) string {
		return func(v string) string { return e.b.op("Round", []string{v}) }
	}))
	differ := 0
	for i := range x {
		if even[i] != want[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Error("ONNX Round agrees with the harness on every tie: the test no longer exercises the rounding rule")
	}
	t.Logf("ONNX Round (ties to even) differs from the harness on %d of %d values; the exported rule agrees on all", differ, n)
}

// microModel is the micro preset with random weights, quantized to ternary.
func microModel(t testing.TB, sets ...string) (*models.Model, *configs.Config) {
	t.Helper()
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(c.Model, c.Quant, 7)
	if err != nil {
		t.Fatal(err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	return m, c
}

// decodeResult is what tools/ort/run.js prints in decode mode.
type decodeResult struct {
	ORT    string      `json:"ort"`
	Tokens []int32     `json:"tokens"`
	Logits [][]float64 `json:"logits"`
}

// agreement summarises ORT against Model.Step over one greedy decode.
type agreement struct {
	steps            int
	maxAbs, maxRel   float64 // max |Δlogit| and max over steps of |Δ|/max|logit|
	overNoFlip       int     // steps whose relative difference is above noFlipTol
	minMargin        float64 // smallest top-1 margin of the harness
	tokensEqual      bool
	harness, ortToks []int32
}

// Tolerances on max_j |Δlogit_j| / max_j |logit_j| per step (see doc.go).
const (
	noFlipTol = 1e-5
	flipTol   = 2.0 / 127
)

// decodeBoth runs the harness's Step/Greedy and the exported graph in ORT
// over the prompt and n greedy tokens.
func decodeBoth(t *testing.T, m *models.Model, qc configs.QuantConfig, prompt []int32, n int) agreement {
	t.Helper()
	x, err := Export(m, qc, edge.Provenance{RunHash: "test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := x.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// The harness: every step's logits, then greedy tokens.
	st := m.NewState()
	var rows [][]float32
	var logits []float32
	for _, tok := range prompt {
		if logits, err = m.Step(st, tok); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, logits)
	}
	var gen []int32
	for len(gen) < n {
		next := int32(vec.Argmax(logits))
		gen = append(gen, next)
		if len(gen) == n {
			break
		}
		if logits, err = m.Step(st, next); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, logits)
	}
	if want, _ := func() ([]int32, error) {
		st := m.NewState()
		var l []float32
		for _, tok := range prompt {
			l, _ = m.Step(st, tok)
		}
		return m.Greedy(st, l, n, -1, nil)
	}(); fmt.Sprint(want) != fmt.Sprint(gen) {
		t.Fatalf("the reference loop %v differs from Model.Greedy %v", gen, want)
	}
	var res decodeResult
	runORT(t, b, map[string]any{"mode": "decode", "prompt": prompt, "steps": n, "states": x.States}, &res)
	a := agreement{steps: len(res.Logits), minMargin: math.Inf(1), harness: gen, ortToks: res.Tokens}
	a.tokensEqual = fmt.Sprint(gen) == fmt.Sprint(res.Tokens)
	if len(res.Logits) != len(rows) {
		t.Fatalf("ORT ran %d steps, the harness %d", len(res.Logits), len(rows))
	}
	for i, r := range rows {
		o := res.Logits[i]
		if len(o) != len(r) {
			t.Fatalf("step %d: ORT gives %d logits, the harness %d", i, len(o), len(r))
		}
		var scale, d float64
		for j := range r {
			scale = max(scale, math.Abs(float64(r[j])))
			d = max(d, math.Abs(float64(r[j])-o[j]))
		}
		a.maxAbs = max(a.maxAbs, d)
		a.maxRel = max(a.maxRel, d/scale)
		if d/scale > noFlipTol {
			a.overNoFlip++
		}
		best := vec.Argmax(r)
		second := math.Inf(-1)
		for j, v := range r {
			if j != best {
				second = max(second, float64(v))
			}
		}
		a.minMargin = min(a.minMargin, float64(r[best])-second)
	}
	return a
}

// TestRandomMicroMatchesStep exports the micro preset with random ternary
// weights (context 128) and compares ORT with Model.Step over a prompt and
// 64 greedy tokens.
func TestRandomMicroMatchesStep(t *testing.T) {
	ortScript(t)
	m, c := microModel(t, "model.context=128")
	prompt := []int32{5, 17, 200, 3, 99, 42}
	a := decodeBoth(t, m, c.Quant, prompt, 64)
	t.Logf("%d steps: max |Δlogit| %.3g, max |Δ|/max|logit| %.3g, steps above %g: %d, smallest top-1 margin %.3g",
		a.steps, a.maxAbs, a.maxRel, noFlipTol, a.overNoFlip, a.minMargin)
	if !a.tokensEqual {
		t.Errorf("greedy tokens differ:\nharness %v\nORT     %v", a.harness, a.ortToks)
	}
	if a.maxRel > flipTol {
		t.Errorf("logits differ by %.3g relative (tolerance %.3g)", a.maxRel, flipTol)
	}
}

// TestRandomVariantsMatchStep covers the other quant and model settings
// with random ternary weights: no SubLN, no activation quantization,
// absmedian scales with two B/C groups, no FFN, and a pure Mamba stack.
func TestRandomVariantsMatchStep(t *testing.T) {
	ortScript(t)
	for _, sets := range [][]string{
		{"quant.subln=false"},
		{"quant.act_bits=0"},
		{"quant.scale=absmedian", "model.n_groups=2", "quant.act_bits=6"},
		{"model.ffn=false", "model.attn_layers=[0,2]"},
		{"model.attn_layers=[]"},
	} {
		t.Run(fmt.Sprint(sets), func(t *testing.T) {
			m, c := microModel(t, append(sets, "model.context=48")...)
			a := decodeBoth(t, m, c.Quant, []int32{1, 2, 3, 300}, 24)
			t.Logf("%d steps: max |Δlogit| %.3g, max |Δ|/max|logit| %.3g, steps above %g: %d", a.steps, a.maxAbs, a.maxRel, noFlipTol, a.overNoFlip)
			if !a.tokensEqual {
				t.Errorf("greedy tokens differ:\nharness %v\nORT     %v", a.harness, a.ortToks)
			}
			if a.maxRel > flipTol {
				t.Errorf("logits differ by %.3g relative (tolerance %.3g)", a.maxRel, flipTol)
			}
		})
	}
}
