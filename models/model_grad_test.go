package models

import (
	"fmt"
	"testing"
)

func TestModelGradients(t *testing.T) {
	for _, subln := range []bool{false, true} {
		t.Run(fmt.Sprintf("subln=%v", subln), func(t *testing.T) {
			m, err := New(hybridConfig(), quantConfig(subln, 8), 1)
			if err != nil {
				t.Fatal(err)
			}
			const B, T = 2, 7
			tokens := randTokens(1, B*T, 32)
			targets := randTokens(2, B*T, 32)
			targets[3] = -1
			loss := func() float64 {
				s, n, err := m.Loss(tokens, targets, B, T)
				if err != nil {
					t.Fatal(err)
				}
				return s / float64(n)
			}
			m.ZeroGrad()
			l, err := m.ForwardBackward(tokens, targets, B, T, 1)
			if err != nil {
				t.Fatal(err)
			}
			if d := l - loss(); d != 0 {
				t.Fatalf("ForwardBackward loss %v differs from Loss by %g", l, d)
			}
			checkGrads(t, loss, paramTensors(m.Params()), 3, 16, 1e-2, 5e-4)
		})
	}
}
