package models

// ExtraLoss adds the gradient of a further loss on the logits of a forward
// pass: logits and dlogits are (batch·seqLen)×vocab, dlogits already holds
// the scaled cross-entropy gradient, and the function adds its own (scaled)
// gradient into it. It returns an error to abandon the step.
type ExtraLoss func(logits, dlogits []float32) error

// ForwardBackwardWith is ForwardBackward with the cross-entropy weighted by
// ceScale (0: no cross-entropy gradient; targets may then all be −1) and
// extra, when not nil, adding the gradient of another loss on the logits
// before the backward pass (distillation). It returns the mean
// cross-entropy over the scored targets (0 when there are none).
func (m *Model) ForwardBackwardWith(tokens, targets []int32, batch, seqLen int, ceScale float32, extra ExtraLoss) (float64, error) {
	if err := m.check(tokens, targets, batch, seqLen); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range targets {
		if t >= 0 {
			n++
		}
	}
	w := m.workspace(batch, seqLen)
	m.forward(w, tokens)
	g := float32(0)
	if n > 0 {
		g = float32(float64(ceScale) / float64(n))
	}
	sum, _ := m.crossEntropy(w, targets, true, g)
	if extra != nil {
		if err := extra(w.logits, w.dlogits); err != nil {
			return 0, err
		}
	}
	m.backward(w, tokens)
	if n == 0 {
		return 0, nil
	}
	return sum / float64(n), nil
}
