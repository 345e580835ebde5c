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

// testOpts are a run's options with the registry it records in and
// whether to resume.
type testOpts struct {
	Options
	DB     *registry.DB
	resume bool
}

// testOptions returns options for a fresh registry and run dir under dir.
func testOptions(t *testing.T, dir string) testOpts {
	t.Helper()
	db, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return testOpts{Options: Options{
		Root: testRoot(t), CacheDir: filepath.Join(dir, "cache"), RunDir: filepath.Join(dir, "run"),
		Config: microConfig(), Hash: microHash, Threads: 1,
	}, DB: db}
}

// runT starts a registry attempt the way the experiment package does
// (resuming from the newest recorded checkpoint when asked) and trains.
func runT(ctx context.Context, o testOpts) (*Result, error) {
	if o.Hash == "" {
		return Run(ctx, o.Options)
	}
	att, err := o.DB.Start(registry.RunInfo{Hash: o.Hash, Kind: registry.KindTrain, Threads: o.Threads},
		registry.StartOptions{Resume: o.resume, Force: true, Root: filepath.Dir(o.RunDir)})
	if err != nil {
		return nil, err
	}
	if o.resume {
		arts, err := att.Artifacts()
		if err != nil {
			return nil, err
		}
		if o.Resume, err = FindCheckpoint(arts, att.Root(), false); err != nil {
			return nil, att.Fail(registry.StatusFailed, err)
		}
	}
	o.Recorder = att
	res, err := Run(ctx, o.Options)
	if err != nil {
		return nil, att.Fail(registry.StatusFailed, err)
	}
	if res.Stopped {
		return res, att.Abandon()
	}
	return res, nil
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
		o := testOpts{Options: Options{
			Root: testRoot(t), CacheDir: filepath.Join(dir, "cache"), RunDir: filepath.Join(dir, "run"),
			Config: microConfig(), Hash: microHash, Threads: 1,
		}, DB: refDB}
		refRes, refErr = runT(context.Background(), o)
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
	for _, a := range arts {
		if !strings.HasPrefix(a.Path, "run"+string(filepath.Separator)+"ckpt-") {
			t.Errorf("artifact path %q is not relative to the artifact root", a.Path)
		}
	}
	if res.Checkpoint != filepath.Join("run", "ckpt-000000020.safetensors") {
		t.Errorf("summary checkpoint %q, want run/ckpt-000000020.safetensors", res.Checkpoint)
	}
	f, err := ReadSafetensors(filepath.Join(refDir, res.Checkpoint))
	if err != nil || f.SHA256 != res.CheckpointSHA || f.Meta["step"] != "20" {
		t.Errorf("final checkpoint %s: err %v, sha %v vs %s", res.Checkpoint, err, f, res.CheckpointSHA)
	}
	if steps, _ := listCheckpoints(filepath.Join(refDir, "run")); len(steps) != checkpointsKept {
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

func TestReuseResultIsTheRecordedOne(t *testing.T) {
	ref, db := reference(t)
	done, err := db.DoneRun(microHash)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ReuseResult(done)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reused || res.RunID != ref.RunID || res.CheckpointSHA != ref.CheckpointSHA || res.ValLoss != ref.ValLoss || res.Checkpoint != ref.Checkpoint {
		t.Errorf("reused result %+v, want the recorded %+v", res, ref)
	}
	done.SummaryJSON = "{"
	if _, err := ReuseResult(done); err == nil {
		t.Error("an unreadable summary was reused")
	}
}

func TestRunDeterministicAcrossThreads(t *testing.T) {
	ref, _ := reference(t)
	o := testOptions(t, t.TempDir())
	o.Threads = 2
	res, err := runT(context.Background(), o)
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
	part, err := runT(context.Background(), o)
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
	o.StopAfter, o.resume = 0, true
	res, err := runT(context.Background(), o)
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
	if _, err := runT(context.Background(), o); err != nil {
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
	o.resume = true
	res, err := runT(context.Background(), o)
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
	_, err := runT(context.Background(), o)
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
			_, err := runT(context.Background(), o)
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
	_, err := runT(ctx, o)
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
		mod     func(*testOpts)
		wantErr string
	}{
		{"micro batch", func(o *testOpts) { o.Config.Train.MicroBatch = 3 }, "train.micro_batch"},
		{"too few tokens", func(o *testOpts) { o.Config.Train.Tokens = 10 }, "train.tokens"},
		{"bad phase", func(o *testOpts) { o.Config.QAT.Phases[1].Weights = "int3" }, "qat.phases[1].weights"},
		{"no hash", func(o *testOpts) { o.Hash = "" }, "Hash"},
	}
	for _, c := range cases {
		o := testOptions(t, t.TempDir())
		c.mod(&o)
		_, err := runT(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
	}
}

// A checkpoint is resumed from only when the registry recorded it, with
// the same bytes: a replaced file is refused, an unrecorded one ignored.
func TestResumeVerifiesRecordedCheckpoints(t *testing.T) {
	ref, _ := reference(t)
	stopped := func(t *testing.T) testOpts {
		o := testOptions(t, t.TempDir())
		o.StopAfter = 7 // the newest recorded checkpoint is step 5
		if _, err := runT(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		o.StopAfter, o.resume = 0, true
		return o
	}
	t.Run("replaced", func(t *testing.T) {
		o := stopped(t)
		final, err := os.ReadFile(filepath.Join(refDir, ref.Checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(checkpointPath(o.RunDir, 5), final, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = runT(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "the registry recorded") {
			t.Fatalf("resume from a replaced checkpoint: err = %v", err)
		}
		run, _ := o.DB.LatestRun(microHash)
		if run.Status != registry.StatusFailed || !strings.Contains(run.Error, "the registry recorded") {
			t.Errorf("run %s: %q", run.Status, run.Error)
		}
	})
	t.Run("unrecorded", func(t *testing.T) {
		o := stopped(t)
		five, err := os.ReadFile(checkpointPath(o.RunDir, 5))
		if err != nil {
			t.Fatal(err)
		}
		// A newer file nobody recorded (a writer killed before recording it, or planted).
		if err := os.WriteFile(checkpointPath(o.RunDir, 6), five, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := runT(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.CheckpointSHA != ref.CheckpointSHA {
			t.Errorf("resumed past an unrecorded file: checkpoint %s, uninterrupted %s", res.CheckpointSHA[:12], ref.CheckpointSHA[:12])
		}
	})
}

func TestFindCheckpoint(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sha := strings.Repeat("a", 64)
	arts := []registry.Artifact{
		{Kind: "checkpoint", Path: "runs/h/ckpt-000000005.safetensors", SHA256: sha},
		{Kind: "checkpoint", Path: "runs/h/ckpt-000000010.safetensors", SHA256: sha},
		{Kind: "results", Path: "runs/h/ckpt-000000099.safetensors", SHA256: sha},
	}
	write("runs/h/ckpt-000000005.safetensors")
	write("runs/h/ckpt-000000099.safetensors")
	if _, err := FindCheckpoint(arts, root, true); err == nil || !strings.Contains(err.Error(), "final checkpoint") {
		t.Errorf("final with the newest recorded file missing: err = %v", err)
	}
	c, err := FindCheckpoint(arts, root, false)
	if err != nil || c.Step != 5 || c.Path != filepath.Join(root, "runs/h/ckpt-000000005.safetensors") {
		t.Errorf("resume point %+v, %v; want step 5", c, err)
	}
	write("runs/h/ckpt-000000010.safetensors")
	if c, err := FindCheckpoint(arts, root, true); err != nil || c.Step != 10 {
		t.Errorf("final %+v, %v; want step 10", c, err)
	}
	if _, err := FindCheckpoint(nil, root, true); err == nil {
		t.Error("final of a run with no checkpoint")
	}
	if c, err := FindCheckpoint(nil, root, false); err != nil || c.Path != "" {
		t.Errorf("resume of a run with no checkpoint: %+v, %v", c, err)
	}
}
