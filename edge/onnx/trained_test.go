package onnx

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

var (
	trainedOnce sync.Once
	trained     *experiment.Trained
	trainedErr  error
	tempRoot    string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tempRoot != "" {
		os.RemoveAll(tempRoot)
	}
	os.Exit(code)
}

// microTrained trains the micro preset once for the package's tests, with
// a context of 128 so that a prompt and 64 greedy tokens fit (256 steps of
// 8×32 tokens, ending in ternary QAT), in a temporary project root whose
// datasets/ links to the repository's, with a temporary registry.
func microTrained(t *testing.T) *experiment.Trained {
	t.Helper()
	trainedOnce.Do(func() {
		trained, trainedErr = trainMicro("train.tokens=65536", "model.context=128")
	})
	if trainedErr != nil {
		t.Fatal(trainedErr)
	}
	return trained
}

func trainMicro(sets ...string) (*experiment.Trained, error) {
	root, err := os.MkdirTemp("", "onnx-test-")
	if err != nil {
		return nil, err
	}
	tempRoot = root
	ds, err := filepath.Abs(filepath.Join("..", "..", "datasets"))
	if err != nil {
		return nil, err
	}
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		return nil, err
	}
	db, err := registry.Open(filepath.Join(root, "registry.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	env := &experiment.Env{Root: root, DB: db, Threads: 2, CacheDir: filepath.Join(root, ".cache")}
	c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
	if err != nil {
		return nil, err
	}
	if err := c.ResolveData(func(s configs.DataSource) (string, error) { return data.Fingerprint(root, s) }); err != nil {
		return nil, err
	}
	if _, err := env.Train(context.Background(), c, experiment.TrainOptions{}); err != nil {
		return nil, err
	}
	return env.LoadTrained(c.Hash())
}

// TestTrainedMicroInORT is the end-to-end check: the trained micro run,
// exported, runs in ONNX Runtime over a prompt and 64 greedy steps; every
// step's logits agree with Model.Step within the tolerance of doc.go and
// the greedy text is identical.
func TestTrainedMicroInORT(t *testing.T) {
	ortScript(t)
	tr := microTrained(t)
	prompt := append([]int32{tr.Tokenizer.EOS()}, tr.Tokenizer.Encode("Once upon a time, there was a")...)
	a := decodeBoth(t, tr.Model, tr.Config.Quant, prompt, 64)
	t.Logf("%d steps (prompt %d + 63): max |Δlogit| %.3g, max |Δ|/max|logit| %.3g, steps above %g: %d, smallest top-1 margin %.3g",
		a.steps, len(prompt), a.maxAbs, a.maxRel, noFlipTol, a.overNoFlip, a.minMargin)
	want, got := tr.Tokenizer.Decode(a.harness), tr.Tokenizer.Decode(a.ortToks)
	t.Logf("greedy text: %q", got)
	if !a.tokensEqual || want != got || len(strings.TrimSpace(got)) == 0 {
		t.Errorf("greedy text differs:\nharness %q\nORT     %q", want, got)
	}
	if a.maxRel > flipTol {
		t.Errorf("logits differ by %.3g relative to the largest logit (tolerance %.3g)", a.maxRel, flipTol)
	}
	if a.overNoFlip > a.steps/8 {
		t.Errorf("%d of %d steps differ by more than %g relative: more than rare activation-code flips", a.overNoFlip, a.steps, noFlipTol)
	}

	// The same model gives the same bytes, and the provenance is recorded.
	p := edge.Provenance{RunHash: tr.Hash, ConfigJSON: tr.Config.Canonical(), CodeCommit: "abc", CodeDirty: true}
	x1, err := Export(tr.Model, tr.Config.Quant, p)
	if err != nil {
		t.Fatal(err)
	}
	x2, _ := Export(tr.Model, tr.Config.Quant, p)
	b1, _ := x1.Bytes()
	b2, _ := x2.Bytes()
	if !bytes.Equal(b1, b2) {
		t.Error("two exports of the same model differ")
	}
	meta := map[string]string{}
	for _, kv := range x1.Proto.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	if meta["nanomamba.provenance.run_hash"] != tr.Hash || meta["nanomamba.provenance.config"] != tr.Config.Canonical() {
		t.Errorf("provenance metadata %v", meta)
	}
	t.Logf("model.onnx: %d bytes", len(b1))
}
