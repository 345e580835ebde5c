package hpo

import (
	"fmt"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"

	"github.com/nanomamba-edge/harness/rng"
)

// keyedTPE is a TPE sampler whose randomness is keyed by (seed, trial
// number, parameter name): every draw builds a fresh tpe.Sampler seeded
// from that key. Draws then depend only on the study's history and the
// trial number, never on which process or goroutine makes them.
type keyedTPE struct {
	seed    int64
	startup int
	ei      int
}

var _ goptuna.Sampler = keyedTPE{}

// NewTPESampler returns a TPE sampler keyed by trial number (see the
// package documentation). startup trials are drawn at random; ei is the
// number of candidates scored per draw.
func NewTPESampler(seed int64, startup, ei int) goptuna.Sampler {
	return keyedTPE{seed: seed, startup: startup, ei: ei}
}

// Sample draws one parameter value (internal representation).
func (k keyedTPE) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	s := tpe.NewSampler(
		tpe.SamplerOptionSeed(drawSeed(k.seed, trial.Number, name)),
		tpe.SamplerOptionNumberOfStartupTrials(k.startup),
		tpe.SamplerOptionNumberOfEICandidates(k.ei),
	)
	return s.Sample(study, trial, name, dist)
}

// keyedRandom is uniform random search keyed like keyedTPE.
type keyedRandom struct{ seed int64 }

// NewRandomSampler returns a random sampler keyed by trial number.
func NewRandomSampler(seed int64) goptuna.Sampler { return keyedRandom{seed: seed} }

// Sample draws one parameter value (internal representation).
func (k keyedRandom) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	s := goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(drawSeed(k.seed, trial.Number, name)))
	return s.Sample(study, trial, name, dist)
}

func drawSeed(seed int64, number int, name string) int64 {
	return int64(rng.New(seed, fmt.Sprintf("hpo trial %d param %s", number, name)).Uint64() >> 1)
}

// sampler builds the space's sampler.
func (s *Space) sampler() goptuna.Sampler {
	if r := s.Sampler.Random; r != nil {
		return NewRandomSampler(r.Seed)
	}
	t := s.Sampler.TPE
	return NewTPESampler(t.Seed, t.StartupTrials, t.EICandidates)
}

// Suggest asks the trial for a value of every parameter.
func (s *Space) Suggest(t goptuna.Trial) (Values, error) {
	v := Values{}
	for _, p := range s.Params {
		var x any
		var err error
		switch p.Type {
		case TypeFloat:
			x, err = t.SuggestFloat(p.Name, p.Low, p.High)
		case TypeLogFloat:
			x, err = t.SuggestLogFloat(p.Name, p.Low, p.High)
		case TypeInt:
			x, err = t.SuggestInt(p.Name, int(p.Low), int(p.High))
		case TypeCategorical:
			x, err = t.SuggestCategorical(p.Name, p.Choices)
		default:
			err = fmt.Errorf("unknown type %q", p.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("suggest %s: %w", p.Name, err)
		}
		v[p.Name] = x
	}
	return v, nil
}

// valuesFromParams converts a frozen trial's external parameter values
// into Values (ints may come back as float64 from storage).
func (s *Space) valuesFromParams(params map[string]interface{}) (Values, error) {
	v := Values{}
	for _, p := range s.Params {
		x, ok := params[p.Name]
		if !ok {
			return nil, fmt.Errorf("trial has no value for parameter %s", p.Name)
		}
		switch p.Type {
		case TypeInt:
			switch n := x.(type) {
			case int:
				v[p.Name] = n
			case float64:
				v[p.Name] = int(n)
			default:
				return nil, fmt.Errorf("parameter %s: value %v (%T) is not an integer", p.Name, x, x)
			}
		case TypeCategorical:
			str, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("parameter %s: value %v (%T) is not a choice", p.Name, x, x)
			}
			v[p.Name] = str
		default:
			f, ok := x.(float64)
			if !ok {
				return nil, fmt.Errorf("parameter %s: value %v (%T) is not a number", p.Name, x, x)
			}
			v[p.Name] = f
		}
	}
	return v, nil
}
