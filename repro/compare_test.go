package repro

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/registry"
)

func series(name string, pts ...float64) []registry.Metric {
	var ms []registry.Metric
	for i := 0; i+1 < len(pts); i += 2 {
		ms = append(ms, registry.Metric{Step: int64(pts[i]), Name: name, Value: pts[i+1]})
	}
	return ms
}

func TestCompareSeries(t *testing.T) {
	nan, negZero := math.NaN(), math.Copysign(0, -1)
	next := math.Nextafter(1, 2)
	cases := []struct {
		name     string
		rec, rep []registry.Metric
		status   Status
		step     int64
		a, b     string
		compared int
	}{
		{"equal", series("loss", 1, 2.5, 2, 1.25), series("loss", 1, 2.5, 2, 1.25), Identical, 0, "", "", 2},
		{"nan equals nan", series("loss", 1, nan), series("loss", 1, nan), Identical, 0, "", "", 1},
		{"one ulp", series("loss", 1, 1, 2, 1), series("loss", 1, 1, 2, next), Differs, 2, "1", "1.0000000000000002", 2},
		{"signed zero", series("loss", 4, 0), series("loss", 4, negZero), Differs, 4, "0", "-0", 1},
		{"nan vs number", series("loss", 3, nan), series("loss", 3, 1), Differs, 3, "NaN", "1", 1},
		{"missing reproduced step", series("loss", 1, 1, 2, 2), series("loss", 1, 1), Differs, 2, "2", missing, 2},
		{"extra reproduced step", series("loss", 2, 2), series("loss", 1, 1, 2, 2), Differs, 1, missing, "1", 2},
		{"first of several", series("loss", 1, 1, 2, 2, 3, 3), series("loss", 1, 1, 2, 9, 3, 8), Differs, 2, "2", "9", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := compareSeries("loss", tc.rec, tc.rep)
			if c.Status != tc.status || c.Compared != tc.compared {
				t.Fatalf("status %s compared %d, want %s %d", c.Status, c.Compared, tc.status, tc.compared)
			}
			if tc.status == Differs {
				d := c.First
				if d == nil || d.Step != tc.step || d.Recorded != tc.a || d.Reproduced != tc.b || d.Metric != "loss" {
					t.Fatalf("divergence %+v, want step %d %s vs %s", d, tc.step, tc.a, tc.b)
				}
			}
		})
	}
	if c := compareSeries("tokens_per_sec", series("x", 1, 1), series("x", 1, 2)); c.Status != Skipped {
		t.Errorf("timing series compared: %+v", c)
	}
}

func TestFirstDivergence(t *testing.T) {
	r := &Report{Checks: []Check{
		{Name: "metric a", Status: Identical},
		{Name: "checkpoint sha256", Status: Differs, First: &Divergence{Metric: "checkpoint_sha256", Step: -1}},
		{Name: "metric loss", Status: Differs, First: &Divergence{Metric: "loss", Step: 8}},
		{Name: "metric grad_norm", Status: Differs, First: &Divergence{Metric: "grad_norm", Step: 8}},
		{Name: "metric lr", Status: Differs, First: &Divergence{Metric: "lr", Step: 12}},
	}}
	d, ok := r.FirstDivergence()
	if !ok || d.Metric != "grad_norm" || d.Step != 8 {
		t.Fatalf("first divergence %+v, want grad_norm at step 8", d)
	}
	if r.Identical() || len(r.Divergences()) != 4 {
		t.Errorf("identical %v, %d divergences", r.Identical(), len(r.Divergences()))
	}
	only := &Report{Checks: []Check{{Name: "checkpoint sha256", Status: Differs, First: &Divergence{Metric: "checkpoint_sha256", Step: -1}}}}
	if d, ok := only.FirstDivergence(); !ok || d.Step != -1 {
		t.Errorf("step-less divergence not found: %+v", d)
	}
	if (&Report{}).Identical() {
		t.Error("a report with nothing compared is identical")
	}
}

func TestCompareTaskResults(t *testing.T) {
	rec := []registry.TaskResult{{Task: "a", Metric: "acc", Value: 0.5, Stderr: 0.1, N: 8}, {Task: "b", Metric: "acc", Value: 0.25, N: 8}}
	rep := []registry.TaskResult{{Task: "a", Metric: "acc", Value: 0.5, Stderr: 0.1, N: 8}, {Task: "b", Metric: "acc", Value: 0.25, N: 7}, {Task: "c", Metric: "acc", Value: 1, N: 1}}
	cs := compareTaskResults("e", rec, rep)
	want := []Status{Identical, Differs, Differs}
	if len(cs) != len(want) {
		t.Fatalf("%d checks, want %d: %+v", len(cs), len(want), cs)
	}
	for i, c := range cs {
		if c.Status != want[i] {
			t.Errorf("check %s: %s, want %s", c.Name, c.Status, want[i])
		}
	}
	if cs[2].First.Recorded != missing {
		t.Errorf("task only reproduced: %+v", cs[2].First)
	}
}
