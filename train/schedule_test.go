package train

import "testing"

func TestLRSchedule(t *testing.T) {
	s := LRSchedule{LR: 1e-3, MinLR: 1e-4, Warmup: 10, Total: 111}
	cases := []struct {
		name string
		step int64
		want float64
	}{
		{"first step", 0, 1e-3 * 1 / 10},
		{"mid warmup", 4, 1e-3 * 5 / 10},
		{"last warmup step", 9, 1e-3},
		{"warmup end", 10, 1e-3},               // cosine progress 0
		{"middle", 60, 1e-4 + 0.5*(1e-3-1e-4)}, // progress 0.5: cos = 0
		{"quarter", 35, 1e-4 + 0.5*(9e-4)*(1+0.7071067811865476)},
		{"end", 110, 1e-4},
		{"past end", 200, 1e-4},
	}
	for _, c := range cases {
		if got := s.At(c.step); !near(got, c.want, 1e-12) {
			t.Errorf("%s: At(%d) = %.15g, want %.15g", c.name, c.step, got, c.want)
		}
	}
	if got := (LRSchedule{LR: 2, MinLR: 1, Total: 1}).At(0); got != 2 {
		t.Errorf("single-step schedule: %v, want 2", got)
	}
}
