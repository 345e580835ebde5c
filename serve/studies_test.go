package serve

import (
	"math"
	"testing"

	"github.com/c-bata/goptuna"
)

// TestImportance checks η², its chance level, the groups and the spread
// against values worked out by hand.
func TestImportance(t *testing.T) {
	var trials []goptuna.FrozenTrial
	for i := 1; i <= 8; i++ {
		c := "a"
		if i%2 == 0 {
			c = "b"
		}
		trials = append(trials, goptuna.FrozenTrial{Number: i - 1, State: goptuna.TrialStateComplete, Value: float64(i),
			Params: map[string]any{"x": float64(i), "c": c}})
	}
	// A pruned and a failed trial do not count.
	trials = append(trials, goptuna.FrozenTrial{Number: 8, State: goptuna.TrialStatePruned, Value: 100, Params: map[string]any{"x": 100.0, "c": "a"}},
		goptuna.FrozenTrial{Number: 9, State: goptuna.TrialStateFail, Value: math.NaN(), Params: map[string]any{"x": 1.0, "c": "b"}})
	imps, note := importance(trials, []string{"c", "x"})
	if note != "" || len(imps) != 2 {
		t.Fatalf("importance: %+v %q", imps, note)
	}
	x, c := imps[0], imps[1] // most important first
	if x.Param != "x" || c.Param != "c" {
		t.Fatalf("order %s, %s", x.Param, c.Param)
	}
	// x: 4 quantile bins of 2 (means 1.5, 3.5, 5.5, 7.5); SSB 40, SST 42.
	near := func(what string, got Num, want float64) {
		t.Helper()
		if math.Abs(float64(got)-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("η²(x)", x.Eta2, 40.0/42)
	near("chance(x)", x.Chance, 3.0/7)
	near("spread(x)", x.Spread, 6)
	if x.Kind != "quantile bins" || len(x.Bins) != 4 || x.Bins[0].Label != "1 – 2" || x.Bins[0].N != 2 {
		t.Errorf("x bins %+v", x)
	}
	// c: a = {1,3,5,7} mean 4, b = {2,4,6,8} mean 5; SSB 2.
	near("η²(c)", c.Eta2, 2.0/42)
	near("chance(c)", c.Chance, 1.0/7)
	if c.Kind != "by value" || len(c.Bins) != 2 || c.Bins[0].Label != "a" || c.Bins[1].N != 4 {
		t.Errorf("c bins %+v", c)
	}
	// Too few complete trials: a note, no estimate.
	if imps, note := importance(trials[:2], []string{"x"}); len(imps) != 0 || note == "" {
		t.Errorf("2 trials: %+v %q", imps, note)
	}
	// Ties share a bin.
	var tied []goptuna.FrozenTrial
	for i, v := range []float64{1, 1, 1, 2, 3, 4, 5, 6} {
		tied = append(tied, goptuna.FrozenTrial{Number: i, State: goptuna.TrialStateComplete, Value: float64(i), Params: map[string]any{"x": v}})
	}
	imps, _ = importance(tied, []string{"x"})
	if len(imps) != 1 || imps[0].Kind != "quantile bins" || imps[0].Bins[0].N != 3 || imps[0].Bins[0].Label != "1" || imps[0].Bins[1].Label != "2" {
		t.Errorf("tied bins %+v", imps)
	}
}
