package train

import (
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
)

func TestQATScheduleContinual(t *testing.T) {
	// float for 20% of 100 steps, then int4 entered over 10 steps, then
	// ternary abruptly at 60%.
	q := configs.QATConfig{Phases: []configs.QATPhase{
		{Weights: "float", Start: 0},
		{Weights: "int4", Start: 0.2, Ramp: 0.1},
		{Weights: "ternary", Start: 0.6},
	}}
	s, err := NewQATSchedule(q, 100)
	if err != nil {
		t.Fatal(err)
	}
	F, I4, T := models.Float, models.Int4, models.Ternary
	cases := []struct {
		step  int64
		want  models.QuantState
		phase int
		start bool
	}{
		{0, models.QuantState{From: F, To: F, Lambda: 1}, 0, true},
		{19, models.QuantState{From: F, To: F, Lambda: 1}, 0, false},
		{20, models.QuantState{From: F, To: I4, Lambda: 0}, 1, true},
		{21, models.QuantState{From: F, To: I4, Lambda: 0.1}, 1, false},
		{25, models.QuantState{From: F, To: I4, Lambda: 0.5}, 1, false},
		{29, models.QuantState{From: F, To: I4, Lambda: 0.9}, 1, false},
		{30, models.QuantState{From: F, To: I4, Lambda: 1}, 1, false},
		{59, models.QuantState{From: F, To: I4, Lambda: 1}, 1, false},
		{60, models.QuantState{From: I4, To: T, Lambda: 1}, 2, true},
		{99, models.QuantState{From: I4, To: T, Lambda: 1}, 2, false},
	}
	for _, c := range cases {
		if got := s.At(c.step); got != c.want {
			t.Errorf("At(%d) = %+v, want %+v", c.step, got, c.want)
		}
		if got := s.PhaseIndex(c.step); got != c.phase {
			t.Errorf("PhaseIndex(%d) = %d, want %d", c.step, got, c.phase)
		}
		if got := s.PhaseStart(c.step); got != c.start {
			t.Errorf("PhaseStart(%d) = %v, want %v", c.step, got, c.start)
		}
	}
}

func TestQATScheduleSinglePhase(t *testing.T) {
	cases := []struct {
		name   string
		phases []configs.QATPhase
		want   models.WeightQuant
	}{
		{"float", []configs.QATPhase{{Weights: "float"}}, models.Float},
		{"empty means float", nil, models.Float},
		{"ternary from scratch", []configs.QATPhase{{Weights: "ternary"}}, models.Ternary},
	}
	for _, c := range cases {
		s, err := NewQATSchedule(configs.QATConfig{Phases: c.phases}, 10)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for step := int64(0); step < 10; step++ {
			want := models.QuantState{From: c.want, To: c.want, Lambda: 1}
			if got := s.At(step); got != want {
				t.Errorf("%s: At(%d) = %+v, want %+v", c.name, step, got, want)
			}
			if s.PhaseStart(step) != (step == 0) {
				t.Errorf("%s: PhaseStart(%d) = %v", c.name, step, s.PhaseStart(step))
			}
		}
	}
}

func TestQATScheduleValidation(t *testing.T) {
	ph := func(w string, start, ramp float64) configs.QATPhase {
		return configs.QATPhase{Weights: w, Start: start, Ramp: ramp}
	}
	cases := []struct {
		name    string
		phases  []configs.QATPhase
		total   int64
		wantErr string
	}{
		{"unknown weights", []configs.QATPhase{ph("int3", 0, 0)}, 100, "qat.phases[0].weights"},
		{"first start", []configs.QATPhase{ph("float", 0.1, 0)}, 100, "qat.phases[0].start"},
		{"start out of range", []configs.QATPhase{ph("float", 0, 0), ph("ternary", 1, 0)}, 100, "qat.phases[1].start"},
		{"starts not increasing", []configs.QATPhase{ph("float", 0, 0), ph("int4", 0.5, 0), ph("ternary", 0.5, 0)}, 100, "qat.phases[2].start"},
		{"negative ramp", []configs.QATPhase{ph("float", 0, 0), ph("ternary", 0.5, -0.1)}, 100, "qat.phases[1].ramp"},
		{"ramp past next start", []configs.QATPhase{ph("float", 0, 0), ph("int4", 0.2, 0.3), ph("ternary", 0.4, 0)}, 100, "qat.phases[1].ramp"},
		{"ramp past end", []configs.QATPhase{ph("float", 0, 0), ph("ternary", 0.8, 0.3)}, 100, "qat.phases[1].ramp"},
		{"first ramp", []configs.QATPhase{ph("ternary", 0, 0.1)}, 100, "qat.phases[0].ramp"},
		{"same step", []configs.QATPhase{ph("float", 0, 0), ph("ternary", 0.01, 0)}, 10, "same step"},
		{"no steps", []configs.QATPhase{ph("float", 0, 0)}, 0, "training steps"},
	}
	for _, c := range cases {
		_, err := NewQATSchedule(configs.QATConfig{Phases: c.phases}, c.total)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
	}
}
