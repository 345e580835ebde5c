package repro

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// Options are the choices of Reproduce.
type Options struct {
	// NewAttempt records the re-run as a new attempt of the hash in the
	// environment's own registry and run directory, instead of in a scratch
	// registry and directory.
	NewAttempt bool
	// Keep leaves the scratch directory (registry, run dirs, token cache)
	// in place; Report.ScratchDir names it.
	Keep bool
	// ScratchParent is where the scratch directory is made; "" means the
	// system temporary directory.
	ScratchParent string
	// ReuseCache prepares the data from the environment's token-shard cache
	// instead of tokenizing the corpus afresh in the scratch directory.
	ReuseCache bool
	// SkipEval does not re-evaluate the run's eval runs.
	SkipEval bool
}

// Reproduce trains the recorded config of hash again and compares the
// result with the record; see the package comment. A returned error means
// the reproduction could not be carried out; a mismatch is reported in the
// Report (Identical is false), with a nil error.
func Reproduce(ctx context.Context, env *experiment.Env, hash string, o Options) (*Report, error) {
	began := time.Now()
	if env == nil || env.DB == nil {
		return nil, errors.New("reproduce: no environment or registry given")
	}
	rec, err := recordedRun(env.DB, hash)
	if err != nil {
		return nil, err
	}
	js, err := env.DB.Config(hash)
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
	}
	c, err := configs.FromCanonical(js)
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
	}
	r := &Report{
		Hash: hash, Attempt: rec.Attempt, Kind: rec.Kind,
		RecordedCode: CodeVersion{Commit: rec.CodeVersion, Dirty: rec.CodeDirty},
		CurrentCode:  currentCode(),
	}
	r.Warnings = codeWarnings(r.RecordedCode, r.CurrentCode)
	if got := sha256Hex([]byte(js)); got != hash {
		r.ConfigProblem = fmt.Sprintf("the stored config hashes to %s, not to its run hash %s: the registry was edited or corrupted after the run", short(got), short(hash))
	} else if h := c.Hash(); h != hash {
		r.Warnings = append(r.Warnings, fmt.Sprintf("this code canonicalises the config to hash %s, not %s: the config schema changed", short(h), short(hash)))
	}
	if o.NewAttempt && c.Hash() != hash {
		return nil, fmt.Errorf("reproduce %s: the stored config no longer hashes to its run hash, so it cannot be recorded as a new attempt of it; reproduce it in a scratch registry (without the new-attempt option)", short(hash))
	}
	r.DataMismatches = checkData(env.Root, c)
	if len(r.DataMismatches) > 0 {
		r.Elapsed = time.Since(began)
		return r, nil
	}
	var recRes train.Result
	if err := json.Unmarshal([]byte(rec.SummaryJSON), &recRes); err != nil {
		return nil, fmt.Errorf("reproduce %s: recorded attempt %d has an unreadable summary: %w", short(hash), rec.Attempt, err)
	}

	parent := o.ScratchParent
	if parent != "" {
		if parent, err = filepath.Abs(parent); err != nil {
			return nil, fmt.Errorf("reproduce: scratch parent %s: %w", o.ScratchParent, err)
		}
	}
	sc, err := newScratch(parent, env.Root)
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
	}
	defer func() {
		if o.Keep {
			_ = sc.close()
		} else {
			sc.remove()
		}
	}()
	if o.Keep {
		r.ScratchDir = sc.dir
	}
	scEnv := &experiment.Env{Root: sc.root, DB: sc.db, Threads: env.Threads, Progress: env.Progress, CacheDir: filepath.Join(sc.dir, "cache")}
	if o.ReuseCache {
		scEnv.CacheDir = env.CacheDir
		if scEnv.CacheDir == "" {
			scEnv.CacheDir = filepath.Join(env.Root, ".cache")
		}
		if scEnv.CacheDir, err = filepath.Abs(scEnv.CacheDir); err != nil {
			return nil, fmt.Errorf("reproduce: cache dir: %w", err)
		}
	}

	var res *train.Result
	repDB := sc.db
	if o.NewAttempt {
		repDB = env.DB
		res, err = env.Train(ctx, c, experiment.TrainOptions{Kind: rec.Kind, Force: true})
	} else {
		res, err = scEnv.Train(ctx, c, experiment.TrainOptions{Kind: rec.Kind})
	}
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
	}
	r.RerunHash, r.RerunID, r.RerunRegistry = res.Hash, res.RunID, repDB.Path()
	if !o.NewAttempt && !o.Keep {
		r.RerunRegistry = "" // removed with the scratch directory
	}

	metrics, err := compareMetrics(env.DB, rec.ID, repDB, res.RunID)
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: compare metrics: %w", short(hash), err)
	}
	r.Checks = append(metrics, compareSummaries(&recRes, res)...)

	if !o.SkipEval {
		checks, err := reEvaluate(ctx, env, scEnv, hash, res, o.NewAttempt)
		if err != nil {
			return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
		}
		r.Checks = append(r.Checks, checks...)
	}
	r.Elapsed = time.Since(began)
	return r, nil
}

// recordedRun is the latest done attempt of a training-like run.
func recordedRun(db *registry.DB, hash string) (*registry.Run, error) {
	rec, err := db.DoneRun(hash)
	if errors.Is(err, registry.ErrNotFound) {
		if last, lerr := db.LatestRun(hash); lerr == nil {
			return nil, fmt.Errorf("reproduce %s: no attempt finished with status done (latest attempt %d is %s); only done runs can be reproduced", short(hash), last.Attempt, last.Status)
		}
		return nil, fmt.Errorf("reproduce %s: no run with this hash in %s", short(hash), db.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("reproduce %s: %w", short(hash), err)
	}
	switch rec.Kind {
	case registry.KindTrain, registry.KindAblationArm, registry.KindHPOTrial:
		return rec, nil
	case registry.KindEval:
		return nil, fmt.Errorf("reproduce %s: this is an eval run; reproduce its training run %s, which re-evaluates it too", short(hash), rec.ParentHash)
	default:
		return nil, fmt.Errorf("reproduce %s: runs of kind %q cannot be reproduced (valid: train, ablation-arm, hpo-trial)", short(hash), rec.Kind)
	}
}

// checkData fingerprints every data source of c under root and lists those
// that differ from the fingerprints the config records.
func checkData(root string, c *configs.Config) []DataMismatch {
	var out []DataMismatch
	check := func(key string, s configs.DataSource) {
		if s.Path == "" && s.Fingerprint == "" {
			return
		}
		m := DataMismatch{Key: key, Name: s.Name, Path: s.Path, Recorded: s.Fingerprint}
		got, err := data.Fingerprint(root, s)
		switch {
		case err != nil:
			m.Err = err.Error()
		case got != s.Fingerprint:
			m.Current = got
		default:
			return
		}
		out = append(out, m)
	}
	for i, s := range c.Data.Sources {
		check(fmt.Sprintf("data.sources[%d]", i), s)
	}
	check("data.validation", c.Data.Validation)
	return out
}

// evalHashes lists the eval configs with a done run whose parent is hash,
// sorted.
func evalHashes(db *registry.DB, hash string) ([]string, error) {
	runs, err := db.Runs(registry.RunFilter{Kind: registry.KindEval, Status: registry.StatusDone})
	if err != nil {
		return nil, fmt.Errorf("eval runs of %s: %w", short(hash), err)
	}
	var hs []string
	for _, r := range runs {
		if r.ParentHash == hash && !slices.Contains(hs, r.Hash) {
			hs = append(hs, r.Hash)
		}
	}
	slices.Sort(hs)
	return hs, nil
}

// reEvaluate scores the reproduced checkpoint on every recorded eval
// request of hash, in the scratch registry, and compares the task metrics.
func reEvaluate(ctx context.Context, env, scEnv *experiment.Env, hash string, res *train.Result, newAttempt bool) ([]Check, error) {
	hs, err := evalHashes(env.DB, hash)
	if err != nil || len(hs) == 0 {
		return nil, err
	}
	if res.Hash != hash {
		return []Check{{Name: "eval runs", Status: Skipped, Note: "the reproduced run has another hash, so its eval requests differ"}}, nil
	}
	if newAttempt {
		if err := seedTrained(scEnv, env, hash, res); err != nil {
			return nil, err
		}
	}
	var checks []Check
	for _, eh := range hs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		js, err := env.DB.Config(eh)
		if err != nil {
			return nil, err
		}
		var req experiment.EvalRequest
		if err := json.Unmarshal([]byte(js), &req); err != nil {
			return nil, fmt.Errorf("eval run %s: stored request unreadable: %w", short(eh), err)
		}
		if got, _ := req.Hash(); got != eh {
			checks = append(checks, Check{Name: "eval " + short(eh), Status: Differs,
				First: &Divergence{Check: "eval " + short(eh), Metric: "request hash", Step: -1, Recorded: eh, Reproduced: got}})
			continue
		}
		done, err := env.DB.DoneRun(eh)
		if err != nil {
			return nil, err
		}
		recRows, err := env.DB.TaskResults(done.ID)
		if err != nil {
			return nil, err
		}
		er, err := scEnv.Evaluate(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("re-evaluate %s: %w", short(eh), err)
		}
		repRows, err := scEnv.DB.TaskResults(er.RunID)
		if err != nil {
			return nil, err
		}
		checks = append(checks, compareTaskResults(eh, recRows, repRows)...)
	}
	return checks, nil
}

// seedTrained records a reproduced run of the environment's registry in the
// scratch registry (config, a done run, its checkpoint) so the scratch
// environment can evaluate it.
func seedTrained(scEnv, env *experiment.Env, hash string, res *train.Result) error {
	js, err := env.DB.Config(hash)
	if err != nil {
		return err
	}
	if err := scEnv.DB.PutConfig(hash, js); err != nil {
		return err
	}
	// The summary's checkpoint path is relative to the project root of
	// the registry that trained it.
	ckpt := res.Checkpoint
	if !filepath.IsAbs(ckpt) {
		ckpt = filepath.Join(env.Root, ckpt)
	}
	if ckpt, err = filepath.Abs(ckpt); err != nil {
		return err
	}
	arts, err := env.DB.Artifacts(res.RunID)
	if err != nil {
		return err
	}
	var size int64
	for _, a := range arts {
		if a.SHA256 == res.CheckpointSHA {
			size = a.Bytes
		}
	}
	att, err := scEnv.DB.Start(registry.RunInfo{Hash: hash, Kind: registry.KindTrain, Threads: scEnv.Threads},
		registry.StartOptions{Force: true, Root: scEnv.Root})
	if err != nil {
		return err
	}
	// The file lives under the other registry's root: recorded by its
	// absolute path, which ArtifactPath keeps as it is.
	if err := scEnv.DB.PutArtifact(registry.Artifact{RunID: att.RunID(), Kind: "checkpoint", Path: ckpt, SHA256: res.CheckpointSHA, Bytes: size}); err != nil {
		return att.Fail(registry.StatusFailed, err)
	}
	return att.Finish(registry.StatusDone, "")
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
