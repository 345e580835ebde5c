package train

import (
	"math"

	"github.com/nanomamba-edge/harness/kernels"
)

// LRSchedule is a linear warmup to LR over Warmup steps followed by a cosine
// decay that reaches MinLR at the last step (Total−1). Steps count from 0.
type LRSchedule struct {
	LR, MinLR float64
	Warmup    int64
	Total     int64
}

// At returns the learning rate of step (0-based). During warmup the rate is
// LR·(step+1)/Warmup, so step Warmup−1 runs at LR and no step runs at zero.
func (s LRSchedule) At(step int64) float64 {
	if step < s.Warmup {
		return s.LR * float64(step+1) / float64(s.Warmup)
	}
	span := s.Total - 1 - s.Warmup
	if span <= 0 {
		return s.LR
	}
	progress := float64(step-s.Warmup) / float64(span)
	if progress > 1 {
		progress = 1
	}
	return s.MinLR + 0.5*(s.LR-s.MinLR)*(1+kernels.Cos(math.Pi*progress))
}
