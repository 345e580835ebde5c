package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestBenchTrainRecompute runs `bench --shape` on the micro preset: each
// training measurement in a child process (this test binary standing in
// for the harness), one row with stored and one with recomputed
// activations, each with the child's peak RSS.
func TestBenchTrainRecompute(t *testing.T) {
	t.Setenv("HARNESS_TEST_AS_CLI", "1") // the children run main()
	out, err := run(t, "--threads", "1", "bench", "--presets", "micro", "--shape", "micro=1x16", "--no-gemm",
		"--train-ref", "", "--steps", "0", "--record=false", "--min-time", "1ms")
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "micro" || f[1] != "1×16" {
			continue
		}
		modes = append(modes, f[3])
		if rss, err := strconv.ParseFloat(f[5], 64); err != nil || !(rss > 0) {
			t.Errorf("row %q: peak RSS %q", line, f[5])
		}
	}
	if strings.Join(modes, ",") != "off,on" {
		t.Errorf("recompute modes %v, want off,on:\n%s", modes, out)
	}
	if _, err := run(t, "bench", "--presets", "micro", "--no-gemm", "--recompute", "sometimes", "--record=false"); err == nil ||
		!strings.Contains(err.Error(), `--recompute "sometimes": want off, on or both`) {
		t.Errorf("bad --recompute: %v", err)
	}
}
