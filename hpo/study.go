package hpo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/medianstopping"
	"github.com/c-bata/goptuna/successivehalving"

	"github.com/nanomamba-edge/harness/registry"
)

// Study user attributes written by Run.
const (
	attrSpace     = "space"        // the space as JSON
	attrSpaceHash = "space_sha256" // Space.Hash of it
	attrObjective = "objective"    // val_loss or val_bpb
	attrInterrupt = "interrupted"  // trial user attr: the trial was requeued
)

// pruner builds the space's pruner (nil when none is configured).
func (s *Space) pruner() (goptuna.Pruner, error) {
	switch {
	case s.Pruner.Median != nil:
		p := medianstopping.NewMedianPruner()
		p.NStartUpTrials = s.Pruner.Median.StartupTrials
		p.NWarmUpSteps = s.Pruner.Median.WarmupSteps
		return p, nil
	case s.Pruner.SuccessiveHalving != nil:
		h := s.Pruner.SuccessiveHalving
		p, err := successivehalving.NewPruner(
			successivehalving.OptionMinResource(h.MinResource),
			successivehalving.OptionReductionFactor(h.ReductionFactor),
			successivehalving.OptionMinEarlyStoppingRate(h.MinEarlyStoppingRate))
		if err != nil {
			return nil, fmt.Errorf("pruner.successive_halving: %w", err)
		}
		return p, nil
	}
	return nil, nil
}

// OpenStudy creates the named study in the registry, or loads it when it
// exists, with the space's sampler, pruner and direction. A study that
// was created with a different space is refused, so one study never mixes
// two search spaces.
func OpenStudy(db *registry.DB, name string, s *Space) (*goptuna.Study, error) {
	pr, err := s.pruner()
	if err != nil {
		return nil, err
	}
	opts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(db.StudyStorage()),
		goptuna.StudyOptionSampler(s.sampler()),
		goptuna.StudyOptionDirection(goptuna.StudyDirection(s.Direction)),
		goptuna.StudyOptionLoadIfExists(true),
		goptuna.StudyOptionLogger(nil),
	}
	if pr != nil {
		opts = append(opts, goptuna.StudyOptionPruner(pr))
	}
	study, err := goptuna.CreateStudy(name, opts...)
	if err != nil {
		// Another process may have created it between our load and create.
		var lerr error
		if study, lerr = goptuna.LoadStudy(name, opts...); lerr != nil {
			return nil, fmt.Errorf("study %q: %w", name, err)
		}
	}
	if study.Direction() != goptuna.StudyDirection(s.Direction) {
		return nil, fmt.Errorf("study %q was created to %s, the space says %s; name another study with --study", name, study.Direction(), s.Direction)
	}
	attrs, err := study.GetUserAttrs()
	if err != nil {
		return nil, fmt.Errorf("study %q: %w", name, err)
	}
	h := s.Hash()
	if old, ok := attrs[attrSpaceHash]; ok {
		if old != h {
			return nil, fmt.Errorf("study %q was created with a different search space (sha256 %s, this one %s); name another study with --study", name, old[:12], h[:12])
		}
		return study, nil
	}
	js, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	for _, kv := range [][2]string{{attrSpace, string(js)}, {attrObjective, s.Objective}, {attrSpaceHash, h}} {
		if err := study.SetUserAttr(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("study %q: %w", name, err)
		}
	}
	return study, nil
}

// studySpace reads back the space a study was created with.
func studySpace(st goptuna.Storage, studyID int) (*Space, error) {
	attrs, err := st.GetStudyUserAttrs(studyID)
	if err != nil {
		return nil, err
	}
	js, ok := attrs[attrSpace]
	if !ok {
		return nil, errors.New("the study records no search space (it was not created by harness hpo)")
	}
	var s Space
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		return nil, fmt.Errorf("recorded search space: %w", err)
	}
	if err := s.checkConfigs(); err != nil {
		return nil, fmt.Errorf("recorded search space: %w", err)
	}
	return &s, nil
}

// TrialInfo is one trial as the CLI shows it.
type TrialInfo struct {
	Number  int
	ID      int
	State   string  // running, complete, pruned, fail, waiting
	Value   float64 // NaN when the trial has none
	Params  map[string]any
	RunHash string
	// Interrupted marks a trial stopped by a signal and queued again.
	Interrupted bool
}

func stateName(s goptuna.TrialState) string {
	switch s {
	case goptuna.TrialStateRunning:
		return "running"
	case goptuna.TrialStateComplete:
		return "complete"
	case goptuna.TrialStatePruned:
		return "pruned"
	case goptuna.TrialStateFail:
		return "fail"
	case goptuna.TrialStateWaiting:
		return "waiting"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Trials lists a study's trials by number, with their linked run hashes.
func Trials(db *registry.DB, study string) ([]TrialInfo, error) {
	st := db.StudyStorage()
	id, err := st.GetStudyIDFromName(study)
	if err != nil {
		return nil, fmt.Errorf("study %q: %w (list studies with `harness hpo list`)", study, err)
	}
	return trialsOf(db, id)
}

func trialsOf(db *registry.DB, studyID int) ([]TrialInfo, error) {
	ts, err := db.StudyStorage().GetAllTrials(studyID)
	if err != nil {
		return nil, err
	}
	out := make([]TrialInfo, 0, len(ts))
	for _, t := range ts {
		ti := TrialInfo{Number: t.Number, ID: t.ID, State: stateName(t.State), Value: math.NaN(), Params: t.Params,
			Interrupted: t.UserAttrs[attrInterrupt] != ""}
		if t.State == goptuna.TrialStateComplete || t.State == goptuna.TrialStatePruned {
			ti.Value = t.Value
		}
		if ti.RunHash, err = db.TrialRunHash(t.ID); err != nil {
			return nil, err
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// finishedTrials counts the trials that count toward a search's budget:
// complete, pruned or failed, but not interrupted-and-requeued ones.
func finishedTrials(st goptuna.Storage, studyID int) (int, error) {
	ts, err := st.GetAllTrials(studyID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		if t.State.IsFinished() && t.UserAttrs[attrInterrupt] == "" {
			n++
		}
	}
	return n, nil
}

// StudySummary is one line of `harness hpo list`.
type StudySummary struct {
	Name      string
	Direction string
	Objective string
	// Counts are trials by state name.
	Counts map[string]int
	Total  int
	// Best is the best complete trial, nil when there is none.
	Best *TrialInfo
}

// Studies summarises every study in the registry.
func Studies(db *registry.DB) ([]StudySummary, error) {
	st := db.StudyStorage()
	sums, err := st.GetAllStudySummaries()
	if err != nil {
		return nil, err
	}
	out := make([]StudySummary, 0, len(sums))
	for _, s := range sums {
		ts, err := trialsOf(db, s.ID)
		if err != nil {
			return nil, fmt.Errorf("study %q: %w", s.Name, err)
		}
		sum := StudySummary{Name: s.Name, Direction: string(s.Direction), Objective: s.UserAttrs[attrObjective], Counts: map[string]int{}, Total: len(ts)}
		best, berr := st.GetBestTrial(s.ID)
		if berr != nil && !errors.Is(berr, goptuna.ErrNoCompletedTrials) {
			return nil, fmt.Errorf("study %q: %w", s.Name, berr)
		}
		for i, t := range ts {
			sum.Counts[t.State]++
			if berr == nil && t.ID == best.ID {
				sum.Best = &ts[i]
			}
		}
		out = append(out, sum)
	}
	return out, nil
}
