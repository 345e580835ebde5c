package hpo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/c-bata/goptuna"
	"gopkg.in/yaml.v3"

	"github.com/nanomamba-edge/harness/registry"
)

// Best is a study's best trial with the config overlay that reproduces it.
type Best struct {
	Study     string
	Objective string
	Trial     TrialInfo
	// Overrides are the trial's parameters as config overrides (with
	// qat.transition expanded into qat.phases); with the space's fixed
	// set in front when the overlay includes it.
	Overrides []string
	// Overlay is a YAML config file naming the base preset ("preset:
	// <base>") with the overrides as nested keys; load it with
	// `--preset overlay.yaml`.
	Overlay []byte
}

// BestOverlay finds the best complete trial of a study and writes its
// parameters as a config overlay. withSet also includes the space's fixed
// overrides (such as the reduced per-trial token budget), so that the
// overlay reproduces the trial's config exactly; without them it carries
// the searched values only, for a full-budget run.
func BestOverlay(db *registry.DB, study string, withSet bool) (*Best, error) {
	st := db.StudyStorage()
	id, err := st.GetStudyIDFromName(study)
	if err != nil {
		return nil, fmt.Errorf("study %q: %w (list studies with `harness hpo list`)", study, err)
	}
	space, err := studySpace(st, id)
	if err != nil {
		return nil, fmt.Errorf("study %q: %w", study, err)
	}
	bt, err := st.GetBestTrial(id)
	if errors.Is(err, goptuna.ErrNoCompletedTrials) {
		return nil, fmt.Errorf("study %q has no complete trial yet", study)
	} else if err != nil {
		return nil, err
	}
	v, err := space.valuesFromParams(bt.Params)
	if err != nil {
		return nil, fmt.Errorf("study %q trial %d: %w", study, bt.Number, err)
	}
	all, err := space.Overrides(v)
	if err != nil {
		return nil, err
	}
	nset := len(space.Set)
	sets := all
	if !withSet {
		sets = all[nset:]
	}
	hash, err := db.TrialRunHash(bt.ID)
	if err != nil {
		return nil, err
	}
	b := &Best{Study: study, Objective: space.Objective, Overrides: sets,
		Trial: TrialInfo{Number: bt.Number, ID: bt.ID, State: stateName(bt.State), Value: bt.Value, Params: bt.Params, RunHash: hash}}
	head := fmt.Sprintf("best trial %d of study %s: %s %.6g (run %s)", bt.Number, study, space.Objective, bt.Value, hash)
	if !withSet && nset > 0 {
		head += "\nthe search also fixed: " + strings.Join(all[:nset], ", ")
	}
	if b.Overlay, err = overlayYAML(space.Base, sets, head); err != nil {
		return nil, err
	}
	return b, nil
}

// overlayYAML renders "key=value" overrides as a nested YAML config file
// on top of base.
func overlayYAML(base string, sets []string, comment string) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, scalar("preset"), scalar(base))
	root.HeadComment = comment
	for _, s := range sets {
		k, val, _ := strings.Cut(s, "=")
		var vn yaml.Node
		if err := yaml.Unmarshal([]byte(val), &vn); err != nil {
			return nil, fmt.Errorf("override %s: %w", s, err)
		}
		value := &vn
		if vn.Kind == yaml.DocumentNode && len(vn.Content) == 1 {
			value = vn.Content[0]
		}
		m := root
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			m = child(m, p)
		}
		m.Content = append(m.Content, scalar(parts[len(parts)-1]), value)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// child returns the mapping under key in m, adding it when missing.
func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	c := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, scalar(key), c)
	return c
}
