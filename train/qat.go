package train

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
)

// QATSchedule is the continual quantization-aware training schedule resolved
// to steps. Phase i begins at step floor(start_i·total) and is entered by a
// linear λ ramp over floor(ramp_i·total) steps: λ = (step−begin)/rampSteps,
// capped at 1, so the phase's first step still runs fully at the previous
// phase's weights. A ramp of 0 switches abruptly (λ = 1 at once). The first
// phase has nothing to blend from: From = To and λ = 1.
type QATSchedule struct {
	phases []qatPhase
	total  int64
}

type qatPhase struct {
	weights models.WeightQuant
	begin   int64
	ramp    int64
}

// NewQATSchedule validates the phases of q and resolves them for a run of
// total steps. An empty phase list means float weights throughout.
func NewQATSchedule(q configs.QATConfig, total int64) (*QATSchedule, error) {
	if total < 1 {
		return nil, fmt.Errorf("qat schedule: %d training steps; need at least 1", total)
	}
	phases := q.Phases
	if len(phases) == 0 {
		phases = []configs.QATPhase{{Weights: "float"}}
	}
	s := &QATSchedule{total: total}
	for i, p := range phases {
		w, err := models.ParseWeightQuant(p.Weights)
		if err != nil {
			return nil, fmt.Errorf("qat.phases[%d].weights: %w", i, err)
		}
		if !(p.Start >= 0 && p.Start < 1) {
			return nil, fmt.Errorf("qat.phases[%d].start = %v: must be in [0,1)", i, p.Start)
		}
		if i == 0 && p.Start != 0 {
			return nil, fmt.Errorf("qat.phases[0].start = %v: the first phase must start at 0", p.Start)
		}
		if i > 0 && p.Start <= phases[i-1].Start {
			return nil, fmt.Errorf("qat.phases[%d].start = %v: starts must increase strictly (qat.phases[%d].start = %v)", i, p.Start, i-1, phases[i-1].Start)
		}
		if !(p.Ramp >= 0) || math.IsInf(p.Ramp, 0) {
			return nil, fmt.Errorf("qat.phases[%d].ramp = %v: must be a finite number >= 0", i, p.Ramp)
		}
		if i == 0 && p.Ramp != 0 {
			return nil, fmt.Errorf("qat.phases[0].ramp = %v: must be 0, the first phase has no earlier phase to ramp from", p.Ramp)
		}
		end, endName := 1.0, "the end of training (1)"
		if i+1 < len(phases) {
			end, endName = phases[i+1].Start, fmt.Sprintf("qat.phases[%d].start = %v", i+1, phases[i+1].Start)
		}
		if p.Start+p.Ramp > end {
			return nil, fmt.Errorf("qat.phases[%d].ramp = %v: start+ramp = %v runs past %s", i, p.Ramp, p.Start+p.Ramp, endName)
		}
		begin := int64(math.Floor(p.Start * float64(total)))
		if i > 0 && begin <= s.phases[i-1].begin {
			return nil, fmt.Errorf("qat.phases[%d].start = %v: falls on the same step (%d) as qat.phases[%d] in a run of %d steps; spread the starts or train longer", i, p.Start, begin, i-1, total)
		}
		s.phases = append(s.phases, qatPhase{weights: w, begin: begin, ramp: int64(math.Floor(p.Ramp * float64(total)))})
	}
	return s, nil
}

// PhaseIndex returns the index of the phase that step belongs to.
func (s *QATSchedule) PhaseIndex(step int64) int {
	i := 0
	for i+1 < len(s.phases) && step >= s.phases[i+1].begin {
		i++
	}
	return i
}

// PhaseStart reports whether a phase begins exactly at step (step 0 begins
// the first phase).
func (s *QATSchedule) PhaseStart(step int64) bool {
	return s.phases[s.PhaseIndex(step)].begin == step
}

// At returns the quantization state of step.
func (s *QATSchedule) At(step int64) models.QuantState {
	i := s.PhaseIndex(step)
	p := s.phases[i]
	if i == 0 {
		return models.QuantState{From: p.weights, To: p.weights, Lambda: 1}
	}
	lambda := float32(1)
	if p.ramp > 0 && step-p.begin < p.ramp {
		lambda = float32(float64(step-p.begin) / float64(p.ramp))
	}
	return models.QuantState{From: s.phases[i-1].weights, To: p.weights, Lambda: lambda}
}
