package registry

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/medianstopping"
	"github.com/c-bata/goptuna/tpe"
)

// quadratic is a 1-D objective with a minimum of 0 at x = 2 that reports a
// decreasing curve of intermediate values and honours pruning.
func quadratic(trial goptuna.Trial) (float64, error) {
	x, err := trial.SuggestFloat("x", -10, 10)
	if err != nil {
		return 0, err
	}
	f := float64((x - 2) * (x - 2))
	for step := range 5 {
		if err := trial.ShouldPrune(step, f+float64(5-step)); err != nil {
			return 0, err
		}
	}
	return f, nil
}

func TestGoptunaStudy(t *testing.T) {
	db := openTemp(t)
	st := db.StudyStorage()
	// A seeded sampler: the same 30 trials on every run and backend, so
	// the convergence check below is a fixed outcome, not a chance one.
	study, err := goptuna.CreateStudy("quadratic",
		goptuna.StudyOptionStorage(st),
		goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(1))),
		goptuna.StudyOptionPruner(medianstopping.NewMedianPruner()),
		goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetBestTrial(study.ID); !errors.Is(err, goptuna.ErrNoCompletedTrials) {
		t.Fatalf("GetBestTrial on an empty study = %v, want ErrNoCompletedTrials", err)
	}
	if err := study.Optimize(quadratic, 30); err != nil {
		t.Fatal(err)
	}
	trials, err := study.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 30 {
		t.Fatalf("%d trials, want 30", len(trials))
	}
	counts := map[goptuna.TrialState]int{}
	for i, tr := range trials {
		counts[tr.State]++
		if tr.Number != i || tr.StudyID != study.ID || tr.DatetimeStart.IsZero() || tr.DatetimeComplete.IsZero() {
			t.Fatalf("trial %d = %+v", i, tr)
		}
		x, ok := tr.Params["x"].(float64)
		if !ok || x < -10 || x > 10 || tr.InternalParams["x"] != x {
			t.Fatalf("trial %d params = %v / %v", i, tr.Params, tr.InternalParams)
		}
		if _, ok := tr.Distributions["x"].(goptuna.UniformDistribution); !ok {
			t.Fatalf("trial %d distribution = %#v", i, tr.Distributions["x"])
		}
		last, _ := tr.GetLatestStep()
		switch tr.State {
		case goptuna.TrialStateComplete:
			if len(tr.IntermediateValues) != 5 || tr.Value != (x-2)*(x-2) {
				t.Fatalf("complete trial %d = %+v", i, tr)
			}
		case goptuna.TrialStatePruned:
			if tr.Value != tr.IntermediateValues[last] || len(tr.IntermediateValues) == 0 {
				t.Fatalf("pruned trial %d value %v, last intermediate %v", i, tr.Value, tr.IntermediateValues[last])
			}
		default:
			t.Fatalf("trial %d in state %v", i, tr.State)
		}
	}
	t.Logf("states: %d complete, %d pruned", counts[goptuna.TrialStateComplete], counts[goptuna.TrialStatePruned])
	if counts[goptuna.TrialStateComplete] < 5 || counts[goptuna.TrialStatePruned] == 0 {
		t.Fatalf("want ≥5 complete (pruner start-up) and some pruned trials; got %v", counts)
	}
	best, err := st.GetBestTrial(study.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trials {
		if tr.State == goptuna.TrialStateComplete && tr.Value < best.Value {
			t.Fatalf("best %v is not the minimum: trial %d has %v", best.Value, tr.Number, tr.Value)
		}
	}
	if best.Value > 1 {
		t.Errorf("TPE best value after 30 trials = %v, want < 1", best.Value)
	}
	sums, err := st.GetAllStudySummaries()
	if err != nil || len(sums) != 1 || sums[0].Name != "quadratic" || sums[0].BestTrial.ID != best.ID ||
		sums[0].Direction != goptuna.StudyDirectionMinimize || !sums[0].DatetimeStart.Equal(trials[0].DatetimeStart) {
		t.Fatalf("summaries = %+v, %v", sums, err)
	}
	// A finished trial cannot change.
	done := trials[0].ID
	for name, err := range map[string]error{
		"value":        st.SetTrialValue(done, 1),
		"intermediate": st.SetTrialIntermediateValue(done, 99, 1),
		"param":        st.SetTrialParam(done, "y", 0.5, goptuna.UniformDistribution{Low: 0, High: 1}),
		"state":        st.SetTrialState(done, goptuna.TrialStateRunning),
		"user attr":    st.SetTrialUserAttr(done, "k", "v"),
		"system attr":  st.SetTrialSystemAttr(done, "k", "v"),
	} {
		if err != goptuna.ErrTrialCannotBeUpdated {
			t.Errorf("set %s on a finished trial = %v, want ErrTrialCannotBeUpdated", name, err)
		}
	}
	if err := db.LinkTrialRun(best.ID, hashOf("best")); err != nil {
		t.Fatal(err)
	}
	if h, err := db.TrialRunHash(best.ID); err != nil || h != hashOf("best") {
		t.Fatalf("TrialRunHash = %q, %v", h, err)
	}
	if err := db.LinkTrialRun(123456, hashOf("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LinkTrialRun(missing) = %v", err)
	}
}

func TestStudyStorageRoundTrip(t *testing.T) {
	db := openTemp(t)
	st := db.StudyStorage()
	id, err := st.CreateNewStudy("rt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateNewStudy("rt"); err == nil {
		t.Fatal("duplicate study name accepted")
	}
	anon, err := st.CreateNewStudy("")
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := st.GetStudyNameFromID(anon); len(name) != len(goptuna.DefaultStudyNamePrefix)+36 {
		t.Fatalf("generated study name %q", name)
	}
	if err := st.SetStudyDirection(id, goptuna.StudyDirectionMaximize); err != nil {
		t.Fatal(err)
	}
	if d, err := st.GetStudyDirection(id); err != nil || d != goptuna.StudyDirectionMaximize {
		t.Fatalf("direction = %v, %v", d, err)
	}
	if err := st.SetStudyDirection(999, goptuna.StudyDirectionMaximize); err != goptuna.ErrInvalidStudyID {
		t.Fatalf("direction of missing study = %v", err)
	}
	for _, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
		if err := st.SetStudyUserAttr(id, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
		if err := st.SetStudySystemAttr(id, kv[0], "s"+kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	ua, _ := st.GetStudyUserAttrs(id)
	sa, _ := st.GetStudySystemAttrs(id)
	if fmt.Sprint(ua) != "map[a:3 b:2]" || fmt.Sprint(sa) != "map[a:s3 b:s2]" {
		t.Fatalf("study attrs %v %v", ua, sa)
	}
	if got, err := st.GetStudyIDFromName("rt"); err != nil || got != id {
		t.Fatalf("GetStudyIDFromName = %d, %v", got, err)
	}
	if _, err := st.GetStudyIDFromName("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing study = %v", err)
	}

	tid, err := st.CreateNewTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	dists := map[string]any{
		"lr":    goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-1},
		"layer": goptuna.IntUniformDistribution{Low: 1, High: 8},
		"act":   goptuna.CategoricalDistribution{Choices: []string{"silu", "relu", "gelu"}},
		"drop":  goptuna.DiscreteUniformDistribution{Low: 0, High: 0.5, Q: 0.1},
		"heads": goptuna.StepIntUniformDistribution{Low: 2, High: 8, Step: 2},
	}
	internal := map[string]float64{"lr": 3e-4, "layer": 4, "act": 2, "drop": 0.2, "heads": 6}
	for name, d := range dists {
		if err := st.SetTrialParam(tid, name, internal[name], d); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetTrialIntermediateValue(tid, 0, 0.5); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialIntermediateValue(tid, 0, 0.4); err == nil {
		t.Fatal("duplicate step accepted")
	}
	if err := st.SetTrialIntermediateValue(tid, 3, math.NaN()); err != nil {
		t.Fatal(err)
	}
	st.SetTrialUserAttr(tid, "note", "x")
	st.SetTrialSystemAttr(tid, "fixed", "y")
	if err := st.SetTrialValue(tid, 0.75); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialState(tid, goptuna.TrialStateRunning); err != goptuna.ErrTrialCannotBeUpdated {
		t.Fatalf("running→running = %v, want ErrTrialCannotBeUpdated", err)
	}
	if err := st.SetTrialState(tid, goptuna.TrialStateComplete); err != nil {
		t.Fatal(err)
	}
	tr, err := st.GetTrial(tid)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != goptuna.TrialStateComplete || tr.Value != 0.75 || tr.Number != 0 || tr.DatetimeComplete.IsZero() ||
		tr.IntermediateValues[0] != 0.5 || !math.IsNaN(tr.IntermediateValues[3]) ||
		tr.UserAttrs["note"] != "x" || tr.SystemAttrs["fixed"] != "y" {
		t.Fatalf("trial = %+v", tr)
	}
	wantExt := map[string]any{"lr": 3e-4, "layer": 4, "act": "gelu", "drop": 0.2, "heads": 6}
	params, _ := st.GetTrialParams(tid)
	for name, want := range wantExt {
		if fmt.Sprint(params[name]) != fmt.Sprint(want) || tr.InternalParams[name] != internal[name] ||
			fmt.Sprint(tr.Distributions[name]) != fmt.Sprint(dists[name]) {
			t.Errorf("param %s: external %v (want %v), internal %v, dist %v", name, params[name], want, tr.InternalParams[name], tr.Distributions[name])
		}
	}
	if v, err := st.GetTrialParam(tid, "lr"); err != nil || v != 3e-4 {
		t.Fatalf("GetTrialParam = %v, %v", v, err)
	}
	if n, _ := st.GetTrialNumberFromID(tid); n != 0 {
		t.Fatalf("number = %d", n)
	}
	if sid, _ := st.GetStudyIDFromTrialID(tid); sid != id {
		t.Fatalf("study of trial = %d", sid)
	}
	if _, err := st.GetTrial(99999); err != goptuna.ErrInvalidTrialID {
		t.Fatalf("GetTrial(missing) = %v", err)
	}

	// CloneTrial copies everything and assigns the next number.
	cid, err := st.CloneTrial(id, tr)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := st.GetTrial(cid)
	if cl.Number != 1 || cl.Value != tr.Value || cl.State != tr.State || fmt.Sprint(cl.Params) != fmt.Sprint(tr.Params) ||
		fmt.Sprint(cl.UserAttrs) != fmt.Sprint(tr.UserAttrs) || len(cl.IntermediateValues) != 2 || !cl.DatetimeStart.Equal(tr.DatetimeStart) {
		t.Fatalf("clone = %+v\nfrom %+v", cl, tr)
	}
	// Maximise: the best is the larger value.
	t2, _ := st.CreateNewTrial(id)
	st.SetTrialValue(t2, 2)
	st.SetTrialState(t2, goptuna.TrialStateComplete)
	if best, err := st.GetBestTrial(id); err != nil || best.ID != t2 {
		t.Fatalf("best = %+v, %v", best, err)
	}
	// A waiting trial (EnqueueTrial) is popped by exactly one Waiting→Running.
	wid, _ := st.CloneTrial(id, goptuna.FrozenTrial{State: goptuna.TrialStateWaiting, DatetimeStart: tr.DatetimeStart})
	if err := st.SetTrialState(wid, goptuna.TrialStateRunning); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialState(wid, goptuna.TrialStateRunning); err != goptuna.ErrTrialCannotBeUpdated {
		t.Fatalf("second pop = %v", err)
	}
	if err := st.DeleteStudy(id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTrial(tid); err != goptuna.ErrInvalidTrialID {
		t.Fatalf("trial after DeleteStudy = %v", err)
	}
	if err := st.DeleteStudy(id); err != goptuna.ErrInvalidStudyID {
		t.Fatalf("second DeleteStudy = %v", err)
	}
}

func childOptimise(path string, index int) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	study, err := goptuna.CreateStudy("shared",
		goptuna.StudyOptionStorage(db.StudyStorage()),
		goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(int64(index)+1))),
		goptuna.StudyOptionPruner(medianstopping.NewMedianPruner()),
		goptuna.StudyOptionLoadIfExists(true),
		goptuna.StudyOptionLogger(nil))
	if err != nil {
		return err
	}
	return study.Optimize(func(trial goptuna.Trial) (float64, error) {
		v, err := quadratic(trial)
		if errors.Is(err, goptuna.ErrTrialPruned) {
			return v, goptuna.ErrTrialPruned
		}
		return v, err
	}, 12)
}

func TestGoptunaTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	db := mustOpen(t, path)
	defer db.Close()
	if _, err := goptuna.CreateStudy("shared", goptuna.StudyOptionStorage(db.StudyStorage()), goptuna.StudyOptionLogger(nil)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		cmd, stderr := startChild(t, "study", path, i)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Errorf("%w\n%s", err, stderr)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	st := db.StudyStorage()
	id, err := st.GetStudyIDFromName("shared")
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 24 {
		t.Fatalf("%d trials, want 24", len(trials))
	}
	seen := make([]int, 24)
	for _, tr := range trials {
		if tr.Number < 0 || tr.Number >= 24 {
			t.Fatalf("trial number %d out of range", tr.Number)
		}
		seen[tr.Number]++
		if !tr.State.IsFinished() || tr.State == goptuna.TrialStateFail {
			t.Fatalf("trial %d ended %v", tr.Number, tr.State)
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Fatalf("trial number %d used %d times", n, c)
		}
	}
}
