package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/tasks"
	"github.com/nanomamba-edge/harness/train"
)

// Ablation is one recorded ablation rebuilt from the registry alone: its
// matrix, every member with the summaries of its done training and eval
// runs, and the summary table.
type Ablation struct {
	ID      int64
	Matrix  *ablations.Matrix
	Members []*experiment.ArmRun
	// TrainRuns are the done training runs of the members by hash.
	TrainRuns map[string]*registry.Run
	// EvalRuns are the done eval runs of the members by training hash.
	EvalRuns map[string]*registry.Run
	Table    AblationTable
	// DefHash is the recorded definition's identity; Provenance says
	// whether it is the shipped matrix file's ("" when not checked).
	DefHash    string
	Provenance string
}

// Arms lists the arm names in matrix order.
func (a *Ablation) Arms() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range a.Members {
		if !seen[m.Arm] {
			seen[m.Arm] = true
			out = append(out, m.Arm)
		}
	}
	return out
}

// Hashes returns the run hashes behind the ablation's numbers: the done
// training runs and their eval runs, sorted.
func (a *Ablation) Hashes() []string {
	var hs []string
	for h := range a.TrainRuns {
		hs = append(hs, h)
	}
	for _, r := range a.EvalRuns {
		hs = append(hs, r.Hash)
	}
	sort.Strings(hs)
	return hs
}

// Done counts the members with a done training run.
func (a *Ablation) Done() int { return len(a.TrainRuns) }

// storedMatrix is the JSON the experiment package records per ablation.
type storedMatrix struct {
	Matrix ablations.Matrix `json:"matrix"`
	Set    []string         `json:"set"`
}

// LoadAblations rebuilds one recorded ablation per name from the
// registry. With a project root, a shipped matrix is represented by the
// record whose definition hash equals the shipped file's expanded under
// root (so `harness ablate subln --preset micro` never replaces the
// paper's table); when no record matches, the most recent record of the
// name is used and its Provenance says that it is not the shipped
// definition. Without a root, the most recent record of each name wins.
// The result is sorted by name.
func LoadAblations(db *registry.DB, root string) ([]*Ablation, error) {
	recs, err := db.Ablations()
	if err != nil {
		return nil, err
	}
	latest := map[string]registry.Ablation{}
	byDef := map[string]registry.Ablation{}
	for _, r := range recs {
		latest[r.Name] = r // oldest first, so the last one wins
		byDef[r.DefHash] = r
	}
	names := make([]string, 0, len(latest))
	for n := range latest {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*Ablation
	for _, n := range names {
		rec, prov := latest[n], ""
		if root != "" {
			if m, lerr := ablations.Load(n); lerr == nil {
				def, derr := experiment.MatrixDef(root, m, nil)
				if derr != nil {
					return nil, fmt.Errorf("ablation %s: expand the shipped matrix: %w", n, derr)
				}
				want := def.Hash()
				if r, ok := byDef[want]; ok {
					rec = r
					prov = fmt.Sprintf("the record of the shipped `ablations/%s.yaml` (definition %s)", n, want[:12])
				} else {
					prov = fmt.Sprintf("NOT the shipped `ablations/%s.yaml`: no record matches its definition %s; shown: the latest record, definition %s (run `harness ablate %s` to record the shipped one)",
						n, want[:12], short(rec.DefHash), n)
				}
			}
		}
		a, err := loadAblation(db, rec)
		if err != nil {
			return nil, fmt.Errorf("ablation %s: %w", n, err)
		}
		a.DefHash, a.Provenance = rec.DefHash, prov
		out = append(out, a)
	}
	return out, nil
}

func loadAblation(db *registry.DB, rec registry.Ablation) (*Ablation, error) {
	var sm storedMatrix
	if err := json.Unmarshal([]byte(rec.MatrixJSON), &sm); err != nil {
		return nil, fmt.Errorf("stored matrix unreadable: %w", err)
	}
	m := &sm.Matrix
	if m.Name == "" {
		m.Name = rec.Name
	}
	members, err := db.AblationMembers(rec.ID)
	if err != nil {
		return nil, err
	}
	// Matrix order of the arms (the registry lists members by arm name).
	rank := map[string]int{}
	for i, arm := range m.ArmList() {
		rank[arm.Name] = i + 1
	}
	sort.SliceStable(members, func(i, j int) bool {
		ri, rj := rank[members[i].Arm], rank[members[j].Arm]
		if ri != rj {
			if ri == 0 || rj == 0 {
				return rj == 0 // arms unknown to the matrix go last
			}
			return ri < rj
		}
		return members[i].Seed < members[j].Seed
	})
	a := &Ablation{ID: rec.ID, Matrix: m, TrainRuns: map[string]*registry.Run{}, EvalRuns: map[string]*registry.Run{}}
	for _, mb := range members {
		ar := &experiment.ArmRun{Member: ablations.Member{Arm: mb.Arm, Seed: mb.Seed, Hash: mb.RunHash}}
		a.Members = append(a.Members, ar)
		if js, err := db.Config(mb.RunHash); err == nil {
			if c, err := configs.FromCanonical(js); err == nil {
				ar.Config = c
			}
		}
		run, err := db.DoneRun(mb.RunHash)
		if errors.Is(err, registry.ErrNotFound) {
			ar.Err = fmt.Errorf("run %s has no done attempt", short(mb.RunHash))
			continue
		} else if err != nil {
			return nil, err
		}
		var tr train.Result
		if err := json.Unmarshal([]byte(run.SummaryJSON), &tr); err != nil {
			ar.Err = fmt.Errorf("run %s: summary unreadable: %w", short(mb.RunHash), err)
			continue
		}
		ar.Train = &tr
		a.TrainRuns[mb.RunHash] = run
		if len(m.Tasks) == 0 {
			continue
		}
		eh, _ := experiment.EvalRequest{Model: mb.RunHash, Tasks: m.Tasks, Shots: -1, Limit: m.Limit}.Hash()
		erun, err := db.DoneRun(eh)
		if errors.Is(err, registry.ErrNotFound) {
			continue // trained but not evaluated yet: training metrics still count
		} else if err != nil {
			return nil, err
		}
		var res tasks.Results
		if err := json.Unmarshal([]byte(erun.SummaryJSON), &res); err != nil {
			return nil, fmt.Errorf("eval run %s: results unreadable: %w", short(eh), err)
		}
		ar.Eval = &experiment.EvalResult{Hash: eh, RunID: erun.ID, Results: &res, Reused: true}
		a.EvalRuns[mb.RunHash] = erun
		// The per-document scores in the registry (if the eval recorded
		// them) give the task metrics the bootstrap over documents.
		ar.Items, ar.ItemsErr = experiment.LoadItemScores(db, erun.ID)
	}
	baseline := m.Baseline
	if baseline == "" && (len(m.Axes) > 0 || len(m.Arms) > 0) {
		baseline = m.BaselineArm()
	}
	if baseline == "" && len(a.Members) > 0 {
		baseline = a.Members[0].Arm
	}
	a.Table = AblationTable{
		Name: m.Name, Description: m.Description, Baseline: baseline, Seeds: len(m.Seeds),
		Rows: experiment.Summarize(a.Members, baseline, m.Seeds, m.PrimaryMetric()),
	}
	return a, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
