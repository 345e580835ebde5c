package train

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/rng"
)

const (
	microSteps   = 20
	microBatch   = 4
	microSeqLen  = 32
	microHash    = "micro-test-config"
	childEnvDir  = "TRAIN_TEST_CHILD_DIR"
	childEnvRoot = "TRAIN_TEST_CHILD_ROOT"
)

var (
	fixtureOnce sync.Once
	fixtureRoot string
	fixtureErr  error
)

// testRoot builds a project root holding a few hundred KB of the real
// corpus shipped in ../datasets (TinyStories train and validation prefixes).
func testRoot(t testing.TB) string {
	t.Helper()
	if r := os.Getenv(childEnvRoot); r != "" {
		return r
	}
	fixtureOnce.Do(func() {
		fixtureRoot, fixtureErr = os.MkdirTemp("", "train-test-root-")
		if fixtureErr != nil {
			return
		}
		copyPrefix := func(src, dst string, n int) error {
			b, err := os.ReadFile(filepath.Join("..", "datasets", "corpus", "tinystories", src))
			if err != nil {
				return err
			}
			b = b[:min(n, len(b))]
			if err := os.MkdirAll(filepath.Join(fixtureRoot, "datasets"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(fixtureRoot, "datasets", dst), b, 0o644)
		}
		if fixtureErr = copyPrefix("TinyStoriesV2-GPT4-train.first10000lines.txt", "train.txt", 300_000); fixtureErr != nil {
			return
		}
		fixtureErr = copyPrefix("TinyStories-hf-validation.prefix.txt", "val.txt", 40_000)
	})
	if fixtureErr != nil {
		t.Fatalf("test corpus: %v", fixtureErr)
	}
	return fixtureRoot
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureRoot != "" && os.Getenv(childEnvRoot) == "" {
		os.RemoveAll(fixtureRoot)
	}
	if refDB != nil {
		refDB.Close()
	}
	if refDir != "" {
		os.RemoveAll(refDir)
	}
	os.Exit(code)
}

// microConfig is a tiny hybrid model (one Mamba-2 layer, one attention
// layer, SwiGLU FFN) trained for 20 steps with a float→ternary QAT ramp.
func microConfig() configs.Config {
	return configs.Config{
		Model: configs.ModelConfig{
			DModel: 16, NLayers: 2, AttnLayers: []int{1}, NHeads: 2, NKVHeads: 1, RopeTheta: 10000,
			DState: 8, Expand: 2, HeadDim: 8, NGroups: 1, DConv: 4, Chunk: 8,
			FFN: true, DFF: 32, Vocab: 258, Context: 64, NormEps: 1e-5, InitStd: 0.02,
		},
		Quant: configs.QuantConfig{SubLN: true, Scale: "absmean", ActBits: 8, Alpha4: 3, Alpha2: 1},
		QAT: configs.QATConfig{Phases: []configs.QATPhase{
			{Weights: "float", Start: 0},
			{Weights: "ternary", Start: 0.5, Ramp: 0.2},
		}, ResetOptimizer: true},
		Train: configs.TrainConfig{
			Tokens: microSteps * microBatch * microSeqLen, BatchSize: microBatch, MicroBatch: 2,
			LR: 1e-2, MinLR: 1e-3, Warmup: 3, WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
			Clip: 1, Seed: 1, EvalEvery: 10, EvalTokens: 1024, LogEvery: 1, SampleTokens: 8,
			CheckpointEvery: 5,
		},
		Data: configs.DataConfig{
			Sources:    []configs.DataSource{{Name: "tinystories", Path: "datasets/train.txt", Weight: 1, Format: "text"}},
			Validation: configs.DataSource{Name: "val", Path: "datasets/val.txt", Weight: 1, Format: "text"},
			Tokenizer:  "byte", SeqLen: microSeqLen,
		},
	}
}

// testOptions returns options for a fresh registry and run dir under dir.
func testOptions(t *testing.T, dir string) Options {
	t.Helper()
	db, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return Options{
		Root: testRoot(t), CacheDir: filepath.Join(dir, "cache"), RunDir: filepath.Join(dir, "run"),
		Config: microConfig(), Hash: microHash, DB: db, Threads: 1,
	}
}

var (
	refOnce sync.Once
	refRes  *Result
	refErr  error
	refDB   *registry.DB
	refDir  string
)

// reference trains the micro config once, uninterrupted, on one thread.
func reference(t *testing.T) (*Result, *registry.DB) {
	t.Helper()
	refOnce.Do(func() {
		dir, err := os.MkdirTemp("", "train-ref-")
		if err != nil {
			refErr = err
			return
		}
		refDir = dir
		if refDB, refErr = registry.Open(filepath.Join(dir, "registry.db")); refErr != nil {
			return
		}
		o := Options{
			Root: testRoot(t), CacheDir: filepath.Join(dir, "cache"), RunDir: filepath.Join(dir, "run"),
			Config: microConfig(), Hash: microHash, DB: refDB, Threads: 1,
		}
		refRes, refErr = Run(context.Background(), o)
	})
	if refErr != nil {
		t.Fatalf("reference run: %v", refErr)
	}
	return refRes, refDB
}

func TestRunTrainsAndRecords(t *testing.T) {
	res, db := reference(t)
	if res.Steps != microSteps || res.Tokens != microSteps*microBatch*microSeqLen || res.Reused {
		t.Errorf("result %+v", res)
	}
	losses, err := db.Metrics(res.RunID, "loss")
	if err != nil || len(losses) != microSteps {
		t.Fatalf("loss metrics: %d (err %v), want %d", len(losses), err, microSteps)
	}
	first := (losses[0].Value + losses[1].Value + losses[2].Value) / 3
	last := (losses[microSteps-3].Value + losses[microSteps-2].Value + losses[microSteps-1].Value) / 3
	t.Logf("train loss: first 3 steps %.4f, last 3 steps %.4f (ln 258 = %.4f); val loss %.4f, val bpb %.4f, %.0f tok/s",
		first, last, math.Log(258), res.ValLoss, res.ValBPB, res.TokensPerSec)
	if !(last < first-0.3) {
		t.Errorf("loss did not decrease: first %.4f, last %.4f", first, last)
	}
	if !(res.ValLoss > 0 && res.ValLoss < math.Log(258)) || !(res.ValBPB > 0) {
		t.Errorf("val loss %v, bpb %v", res.ValLoss, res.ValBPB)
	}
	for _, name := range []string{"lr", "grad_norm", "lambda", "phase", "tokens_per_sec"} {
		if ms, err := db.Metrics(res.RunID, name); err != nil || len(ms) != microSteps {
			t.Errorf("metric %s: %d values (err %v)", name, len(ms), err)
		}
	}
	if vals, _ := db.Metrics(res.RunID, "val_loss"); len(vals) != 2 || vals[0].Step != 10 || vals[1].Step != 20 {
		t.Errorf("val_loss metrics %+v, want steps 10 and 20", vals)
	}
	lambdas, _ := db.Metrics(res.RunID, "lambda")
	// Phase 2 starts at step 10 with a 4-step ramp: λ(step 10..14) = 0, .25, .5, .75, 1
	// (metrics are indexed by steps completed, so step s is logged at s+1).
	for s, want := range map[int]float64{9: 1, 10: 0, 12: 0.5, 14: 1} {
		if got := lambdas[s].Value; got != want {
			t.Errorf("lambda at step %d = %v, want %v", s, got, want)
		}
	}
	run, err := db.RunByID(res.RunID)
	if err != nil || run.Status != registry.StatusDone || run.SummaryJSON == "" {
		t.Fatalf("run %+v (err %v)", run, err)
	}
	arts, err := db.Artifacts(res.RunID)
	if err != nil || len(arts) != 4 { // steps 5, 10, 15, 20
		t.Errorf("artifacts %+v (err %v), want 4 checkpoints", arts, err)
	}
	f, err := ReadSafetensors(res.Checkpoint)
	if err != nil || f.SHA256 != res.CheckpointSHA || f.Meta["step"] != "20" {
		t.Errorf("final checkpoint %s: err %v, sha %v vs %s", res.Checkpoint, err, f, res.CheckpointSHA)
	}
	if steps, _ := listCheckpoints(filepath.Dir(res.Checkpoint)); len(steps) != checkpointsKept {
		t.Errorf("checkpoints on disk %v, want the newest %d", steps, checkpointsKept)
	}
	if len(res.Samples) != len(samplePrompts) {
		t.Errorf("samples %q", res.Samples)
	}
	for i, s := range res.Samples {
		if !strings.HasPrefix(s, samplePrompts[i]) {
			t.Errorf("sample %d %q does not start with its prompt", i, s)
		}
	}
	t.Logf("samples: %q", res.Samples)
}

func TestRunReusesDoneHash(t *testing.T) {
	ref, db := reference(t)
	o := testOptions(t, t.TempDir())
	o.DB = db
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reused || res.RunID != ref.RunID || res.CheckpointSHA != ref.CheckpointSHA || res.ValLoss != ref.ValLoss {
		t.Errorf("reused result %+v, want the recorded %+v", res, ref)
	}
	if _, err := os.Stat(o.RunDir); !os.IsNotExist(err) {
		t.Errorf("a reused run must not train (run dir exists: %v)", err)
	}
}

func TestRunDeterministicAcrossThreads(t *testing.T) {
	ref, _ := reference(t)
	o := testOptions(t, t.TempDir())
	o.Threads = 2
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.CheckpointSHA != ref.CheckpointSHA || res.ValLoss != ref.ValLoss {
		t.Errorf("2 threads: checkpoint %s val %v; 1 thread: %s val %v", res.CheckpointSHA, res.ValLoss, ref.CheckpointSHA, ref.ValLoss)
	}
}

func TestRunStopAndResume(t *testing.T) {
	ref, _ := reference(t)
	o := testOptions(t, t.TempDir())
	o.StopAfter = 7
	part, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if part.Steps != 7 {
		t.Errorf("stopped after %d steps, want 7", part.Steps)
	}
	run, _ := o.DB.RunByID(part.RunID)
	if run.Status != registry.StatusRunning {
		t.Errorf("stopped run status %q, want running", run.Status)
	}
	o.StopAfter, o.Resume = 0, true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.RunID != part.RunID {
		t.Errorf("resume opened run %d, want the interrupted run %d", res.RunID, part.RunID)
	}
	if res.CheckpointSHA != ref.CheckpointSHA {
		t.Errorf("resumed checkpoint %s, uninterrupted %s", res.CheckpointSHA, ref.CheckpointSHA)
	}
}

// TestChildTrain is the body of the child process of TestRunKilledAndResumed.
func TestChildTrain(t *testing.T) {
	dir := os.Getenv(childEnvDir)
	if dir == "" {
		t.Skip("runs only as the child process of TestRunKilledAndResumed")
	}
	o := testOptions(t, dir)
	o.Progress = os.Stdout
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func TestRunKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ref, _ := reference(t)
	dir := t.TempDir()
	seed := time.Now().UnixNano()
	killAt := 1 + rng.New(seed, "kill step").Intn(microSteps-2)
	t.Logf("killing the child after step %d (seed %d)", killAt, seed)

	cmd := exec.Command(os.Args[0], "-test.run=^TestChildTrain$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnvDir+"="+dir, childEnvRoot+"="+testRoot(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stepLine := regexp.MustCompile(`^step (\d+)/`)
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if m := stepLine.FindStringSubmatch(sc.Text()); m != nil {
			if s, _ := strconv.Atoi(m[1]); s >= killAt {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
				break
			}
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child ended before step %d", killAt)
	}

	o := testOptions(t, dir)
	o.Resume = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.CheckpointSHA != ref.CheckpointSHA {
		t.Errorf("killed at %d and resumed: checkpoint %s, uninterrupted %s", killAt, res.CheckpointSHA, ref.CheckpointSHA)
	}
	if run, _ := o.DB.RunByID(res.RunID); run.Attempt != 1 || run.Status != registry.StatusDone {
		t.Errorf("resumed run: attempt %d status %q, want attempt 1 done", run.Attempt, run.Status)
	}
}

func TestRunNonFiniteFails(t *testing.T) {
	o := testOptions(t, t.TempDir())
	o.Config.Train.LR, o.Config.Train.Warmup = 1e30, 0
	o.Config.Train.CheckpointEvery = 1
	_, err := Run(context.Background(), o)
	reason := regexp.MustCompile(`non-finite (loss|gradient in \S+|parameter \S+ after the update) at step (\d+)`)
	if err == nil || !reason.MatchString(err.Error()) {
		t.Fatalf("err = %v, want a non-finite failure", err)
	}
	run, lerr := o.DB.LatestRun(microHash)
	if lerr != nil || run.Status != registry.StatusFailed || !reason.MatchString(run.Error) {
		t.Fatalf("run %+v (err %v), want failed with the reason", run, lerr)
	}
	failStep, _ := strconv.ParseInt(reason.FindStringSubmatch(run.Error)[2], 10, 64)
	path, step, cerr := newestCheckpoint(o.RunDir)
	if failStep > 0 {
		if cerr != nil || path == "" || step != failStep {
			t.Fatalf("last good checkpoint: %q step %d (err %v), want step %d", path, step, cerr, failStep)
		}
		st := CheckpointState{ConfigHash: microHash}
		if _, err := LoadCheckpoint(path, &st); err != nil {
			t.Errorf("last good checkpoint does not load: %v", err)
		}
	}
	t.Logf("failure: %s", run.Error)
}

func TestRunOnEvalStops(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantStatus string
	}{
		{"pruned", fmt.Errorf("trial pruned: %w", ErrPruned), registry.StatusPruned},
		{"failed", errors.New("objective broke"), registry.StatusFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := testOptions(t, t.TempDir())
			var calls []int64
			o.OnEval = func(step int64, valLoss float64) error {
				calls = append(calls, step)
				return c.err
			}
			_, err := Run(context.Background(), o)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if len(calls) != 1 || calls[0] != 10 {
				t.Errorf("OnEval calls %v, want [10]", calls)
			}
			run, _ := o.DB.LatestRun(microHash)
			if run.Status != c.wantStatus || run.Error != c.err.Error() {
				t.Errorf("run status %q error %q", run.Status, run.Error)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	o := testOptions(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.OnEval = func(int64, float64) error { cancel(); return nil }
	_, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	run, _ := o.DB.LatestRun(microHash)
	if run.Status != registry.StatusFailed || run.Error != "interrupted" {
		t.Errorf("run status %q error %q, want failed/interrupted", run.Status, run.Error)
	}
	if _, step, _ := newestCheckpoint(o.RunDir); step != 10 {
		t.Errorf("newest checkpoint at step %d, want 10", step)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"micro batch", func(o *Options) { o.Config.Train.MicroBatch = 3 }, "train.micro_batch"},
		{"too few tokens", func(o *Options) { o.Config.Train.Tokens = 10 }, "train.tokens"},
		{"bad phase", func(o *Options) { o.Config.QAT.Phases[1].Weights = "int3" }, "qat.phases[1].weights"},
		{"no hash", func(o *Options) { o.Hash = "" }, "Hash"},
	}
	for _, c := range cases {
		o := testOptions(t, t.TempDir())
		c.mod(&o)
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
	}
}
