package hpo

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
)

// Values are one trial's parameter values by name: float64 for float and
// log_float, int for int, and the choice's YAML text for categorical.
type Values map[string]any

// Overrides turns values into config overrides ("key=value"): the space's
// fixed set first (sorted by key), then the parameters in file order, with
// qat.transition expanded into qat.phases.
func (s *Space) Overrides(v Values) ([]string, error) {
	out, err := s.setOverrides()
	if err != nil {
		return nil, err
	}
	for _, p := range s.Params {
		x, ok := v[p.Name]
		if !ok {
			return nil, fmt.Errorf("no value for parameter %s", p.Name)
		}
		if p.Name == TransitionParam {
			t, ok := x.(float64)
			if !ok {
				return nil, fmt.Errorf("%s: value %v (%T) is not a number", p.Name, x, x)
			}
			phases, err := TransitionPhases(s.baseQAT, t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			out = append(out, "qat.phases="+PhasesYAML(phases))
			continue
		}
		out = append(out, p.Name+"="+formatValue(x))
	}
	return out, nil
}

func formatValue(x any) string {
	switch x := x.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	case string:
		return x // categorical: already YAML text
	default:
		return fmt.Sprint(x)
	}
}

// Config loads the base preset with the space's fixed overrides and the
// trial's values. Data fingerprints are not filled in (see
// configs.Config.ResolveData).
func (s *Space) Config(v Values) (*configs.Config, error) {
	sets, err := s.Overrides(v)
	if err != nil {
		return nil, err
	}
	c, err := configs.Load(configs.Options{Preset: s.Base, Sets: sets, Env: []string{}})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// TransitionPhases moves a QAT schedule so that its first quantized phase
// starts at t: phases from that one on map affinely from [s0, 1] onto
// [t, 1] (starts and ramps alike); float phases before it stay. t must lie
// after the last float phase's start and below 1.
func TransitionPhases(base []configs.QATPhase, t float64) ([]configs.QATPhase, error) {
	q := -1
	for i, ph := range base {
		if ph.Weights != "float" {
			q = i
			break
		}
	}
	if q < 1 {
		return nil, fmt.Errorf("the base schedule (qat.phases) needs a float phase followed by a quantized one to move the transition (it has %s)", phaseList(base))
	}
	if !(t > base[q-1].Start) || !(t < 1) {
		return nil, fmt.Errorf("transition %v must lie in (%v, 1): after the start of the float phase before it", t, base[q-1].Start)
	}
	s0 := base[q].Start
	scale := (1 - t) / (1 - s0)
	out := append([]configs.QATPhase(nil), base...)
	for i := q; i < len(out); i++ {
		out[i].Start = t + (base[i].Start-s0)*scale
		out[i].Ramp = base[i].Ramp * scale
	}
	return out, nil
}

func phaseList(ps []configs.QATPhase) string {
	if len(ps) == 0 {
		return "no phases"
	}
	var ws []string
	for _, p := range ps {
		ws = append(ws, p.Weights)
	}
	return strings.Join(ws, " → ")
}

// PhasesYAML renders a schedule as a one-line YAML list, the value of a
// qat.phases override.
func PhasesYAML(ps []configs.QATPhase) string {
	var b strings.Builder
	b.WriteString("[")
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{weights: %s, start: %s, ramp: %s}", p.Weights,
			strconv.FormatFloat(p.Start, 'g', -1, 64), strconv.FormatFloat(p.Ramp, 'g', -1, 64))
	}
	b.WriteString("]")
	return b.String()
}
