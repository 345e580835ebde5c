package experiment_test

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/engine"
	. "github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/registry"
)

// TestBenchReportAndRecord runs a minimal bench (one GEMM shape with the
// gonum reference, the micro preset's training step with and without gonum
// GEMMs) and records it in a temporary registry.
func TestBenchReportAndRecord(t *testing.T) {
	bo := BenchOptions{
		Threads: []int{1}, MinTime: time.Millisecond, Shapes: []GemmShape{{48, 40, 72}},
		Refs: []Reference{GonumReference}, Presets: []string{"micro"}, TrainSteps: 1,
		Batch: map[string][2]int{"micro": {2, 32}}, TrainRef: &GonumReference,
	}
	rep, err := Bench(bo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Gemm) != len(kernels.GemmVariants()) {
		t.Fatalf("got %d GEMM rows, want one per variant", len(rep.Gemm))
	}
	for _, g := range rep.Gemm {
		if g.Reference != "gonum" || !(g.GFLOPS > 0) || !(g.RefGFLOPS > 0) || g.RatioToRef != g.GFLOPS/g.RefGFLOPS {
			t.Fatalf("GEMM row %+v", g)
		}
	}
	if len(rep.Train) != 1 {
		t.Fatalf("got %d training rows, want 1", len(rep.Train))
	}
	tr := rep.Train[0]
	if tr.Preset != "micro" || tr.Batch != 2 || tr.SeqLen != 32 || !(tr.TokensPerSec > 0) || !(tr.PeakGFLOPS > 0) || tr.MFU != tr.GFLOPS/tr.PeakGFLOPS {
		t.Fatalf("training row %+v", tr)
	}
	if tr.RefName != "gonum" || !(tr.RefTokensPerSec > 0) || tr.Speedup != tr.TokensPerSec/tr.RefTokensPerSec {
		t.Fatalf("training reference %+v", tr)
	}
	if kernels.KernelSet() != "purego" && (rep.Peak[1] <= 0 || tr.PeakSource == "best GEMM") {
		t.Fatalf("no FMA peak measured: %+v", rep.Peak)
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := rep.Record(db, 1, bo)
	if err != nil {
		t.Fatal(err)
	}
	// Options are part of a bench run's identity: another option set is
	// another run, the same options another attempt of the same one.
	other := bo
	other.Presets = nil
	h2, err := rep.Record(db, 1, other)
	if err != nil || h2 == h {
		t.Fatalf("bench with other options recorded as %s (%v), the same hash as %s", h2, err, h)
	}
	h3, err := rep.Record(db, 1, bo)
	if err != nil || h3 != h {
		t.Fatalf("the same bench options recorded as %s (%v), want %s", h3, err, h)
	}
	run, err := db.LatestRun(h)
	if err != nil {
		t.Fatal(err)
	}
	var back BenchReport
	if err := json.Unmarshal([]byte(run.SummaryJSON), &back); err != nil {
		t.Fatalf("recorded summary: %v", err)
	}
	if run.Status != "done" || run.Kind != "bench" || len(back.Train) != 1 || back.Train[0].TokensPerSec != tr.TokensPerSec {
		t.Fatalf("recorded run %+v / %+v", run, back.Train)
	}
}

// inProcessChild measures a decode spec in this process (the harness runs
// each in a child process; the test checks the measurement itself).
func inProcessChild(spec DecodeSpec) (*DecodeChildResult, error) {
	if spec.Mode == "float32" {
		return DecodeChildFloat(spec)
	}
	m, err := engine.Load(spec.File)
	if err != nil {
		return nil, err
	}
	h, err := engine.ParseHead(spec.Head)
	if err != nil {
		return nil, err
	}
	if err := m.SetHead(h); err != nil {
		return nil, err
	}
	ts, err := m.TimeDecode(spec.Threads, spec.Prompt, spec.Tokens, spec.Reps)
	if err != nil {
		return nil, err
	}
	res := &DecodeChildResult{}
	for _, t := range ts {
		res.Timings = append(res.Timings, DecodeTiming{Threads: t.Threads, Prompt: t.Prompt, Tokens: t.Tokens, PrefillTokS: t.PrefillTokS, DecodeTokS: t.DecodeTokS})
	}
	res.WeightBytes, res.StateBytes = m.DecodeBytes(spec.Prompt + spec.Tokens/2)
	res.WrittenBytes = m.DecodeWritten()
	res.PeakRSSBytes = PeakRSS()
	return res, nil
}

// TestDecodeBench runs the decode bench on the micro preset and records it:
// rows for the float32 path and each packed variant, a roofline from the
// triad, and an identity that includes the decode options.
func TestDecodeBench(t *testing.T) {
	do := DecodeOptions{
		Presets: []string{"micro"}, Threads: []int{1, 2}, Prompt: 4, Tokens: map[string]int{"micro": 8}, Reps: 1, Seed: 3,
		TriadBytes: 1 << 20, Dir: t.TempDir(), Child: inProcessChild,
		Variants: []DecodeVariant{{"tq2_0", "f16", "float"}, {"tq1_0", "q8_0", "int8"}, {"tq1_0", "q3_k", "int8"}},
	}
	// The lean child runs one thread count per process: its peak memory
	// (here a marker of the thread count it ran) belongs to that row only.
	leanCalls := 0
	do.Lean = func(spec DecodeSpec) (*DecodeChildResult, error) {
		leanCalls++
		if len(spec.Threads) != 1 || spec.Mode != "packed" {
			return nil, fmt.Errorf("lean child asked for %s at threads %v", spec.Mode, spec.Threads)
		}
		res, err := inProcessChild(spec)
		if err != nil {
			return nil, err
		}
		res.PeakRSSBytes = int64(1000 * spec.Threads[0])
		return res, nil
	}
	bo := BenchOptions{Threads: do.Threads, Decode: &do}
	rep, err := Bench(bo)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Decode
	if d == nil || len(d.Rows) != 2*3 || d.DotKernels != dot.KernelSet() || !strings.Contains(d.Weights, "random") {
		t.Fatalf("decode report %+v", d)
	}
	// micro's d_model 32 takes no Q3_K blocks (256 elements): skipped, said so.
	if len(d.Skipped) != 1 || !strings.Contains(d.Skipped[0], "micro tq1_0/q3_k/int8") || !strings.Contains(d.Skipped[0], "d_model 32") {
		t.Fatalf("skipped variants %q", d.Skipped)
	}
	for _, th := range do.Threads {
		if !(d.Bandwidth[th] > 0) {
			t.Fatalf("no triad bandwidth at %d threads: %v", th, d.Bandwidth)
		}
	}
	for _, r := range d.Rows {
		if !(r.DecodeTokS > 0) || !(r.PrefillTokS > 0) || r.FileBytes <= 0 || r.Tokens != 8 || r.Prompt != 4 {
			t.Fatalf("row %+v", r)
		}
		if r.Path == "packed" {
			if r.WeightBytes <= 0 || r.StateBytes <= 0 || !(r.RooflineTokS > 0) || r.RooflineFraction != r.DecodeTokS/r.RooflineTokS || !(r.SpeedupFloat > 0) {
				t.Fatalf("packed row %+v", r)
			}
			if r.LeanPeakRSSBytes != int64(1000*r.Threads) || !(r.LeanDecodeTokS > 0) {
				t.Fatalf("packed row at %d threads has the lean child's RSS %d and rate %v", r.Threads, r.LeanPeakRSSBytes, r.LeanDecodeTokS)
			}
			if r.WrittenBytes <= 0 || 2*r.WrittenBytes > r.StateBytes || !(r.StreamReadGBs > 0) {
				t.Fatalf("packed row's state written back: %+v", r)
			}
			if !(r.StreamGBs > 0) || r.StreamRooflineTokS != r.StreamGBs*1e9/float64(r.WeightBytes+r.StateBytes) || r.StreamFraction != r.DecodeTokS/r.StreamRooflineTokS {
				t.Fatalf("packed row's stream roofline %+v", r)
			}
			if r.WeightBytes < r.FileBytes/2 || r.WeightBytes > r.FileBytes {
				t.Fatalf("packed row reads %d weight bytes per token from a %d-byte file", r.WeightBytes, r.FileBytes)
			}
		}
	}
	if leanCalls != (len(do.Variants)-1)*len(do.Threads) {
		t.Errorf("%d lean children for %d variants at %d thread counts", leanCalls, len(do.Variants), len(do.Threads))
	}
	for _, v := range []string{"tq2_0/q8_0/int8", "TQ1_0/Q4_0/float", "tq1_0/q3_k/int8", "tq2_0/Q3_K/float"} {
		if _, err := ParseDecodeVariant(v); err != nil {
			t.Errorf("ParseDecodeVariant(%q): %v", v, err)
		}
	}
	for _, v := range []string{"tq2_0/f16/int8", "q8_0/f16/float", "tq2_0/q8_0", "tq2_0/q9/float"} {
		if _, err := ParseDecodeVariant(v); err == nil {
			t.Errorf("ParseDecodeVariant(%q) succeeded", v)
		}
	}
	db, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := rep.Record(db, 1, bo)
	if err != nil {
		t.Fatal(err)
	}
	other := bo
	od := do
	od.Prompt = 5
	other.Decode = &od
	if h2, err := rep.Record(db, 1, other); err != nil || h2 == h {
		t.Fatalf("another prompt length recorded as %s (%v), the same hash as %s", h2, err, h)
	}
	plain := bo
	plain.Decode = nil
	if h3, err := rep.Record(db, 1, plain); err != nil || h3 == h {
		t.Fatalf("a bench without decode recorded as %s (%v), the same hash as %s", h3, err, h)
	}
	run, err := db.LatestRun(h)
	if err != nil {
		t.Fatal(err)
	}
	var back BenchReport
	if err := json.Unmarshal([]byte(run.SummaryJSON), &back); err != nil || back.Decode == nil || len(back.Decode.Rows) != len(d.Rows) {
		t.Fatalf("recorded summary %v: %+v", err, back.Decode)
	}
}

// TestBenchTrainModes times the micro preset's step with stored and with
// recomputed activations through a TrainChild (here in this process): one
// row per mode, the reference GEMMs only on the stored row, and the
// child's peak resident memory in each row.
func TestBenchTrainModes(t *testing.T) {
	var specs []TrainSpec
	bo := BenchOptions{
		Threads: []int{1}, MinTime: time.Millisecond, Presets: []string{"micro"}, TrainSteps: 0,
		Batch: map[string][2]int{"micro": {2, 32}}, TrainRef: &GonumReference, Recompute: []bool{false, true},
		TrainChild: func(s TrainSpec) (*TrainChildResult, error) {
			specs = append(specs, s)
			return BenchTrainChild(s, []Reference{GonumReference})
		},
	}
	rep, err := Bench(bo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Train) != 2 || len(specs) != 2 {
		t.Fatalf("got %d rows from %d children, want 2", len(rep.Train), len(specs))
	}
	for i, rc := range []bool{false, true} {
		r, s := rep.Train[i], specs[i]
		if r.Recompute != rc || s.Recompute != rc || s.Batch != 2 || s.SeqLen != 32 || s.Kernels != kernels.KernelSet() || !(r.TokensPerSec > 0) {
			t.Errorf("row %d: %+v from spec %+v", i, r, s)
		}
		if wantRef := !rc; (r.RefName == "gonum") != wantRef || (s.TrainRef == "gonum") != wantRef {
			t.Errorf("row %d (recompute %v): reference %q, spec %q", i, rc, r.RefName, s.TrainRef)
		}
		if PeakRSS() > 0 && r.PeakRSSBytes <= 0 {
			t.Errorf("row %d: no peak RSS", i)
		}
	}
	id, stored := bo.Identity("x"), bo
	stored.Recompute, stored.TrainChild = nil, nil
	if _, ok := id["recompute"]; !ok || len(stored.Identity("x")) != len(id)-2 {
		t.Errorf("identity %v: want the modes and the child recorded, and absent for the stored default", id)
	}
	if _, err := BenchTrainChild(TrainSpec{Preset: "micro", Batch: 1, SeqLen: 8, Threads: 1, TrainRef: "blis"}, []Reference{GonumReference}); err == nil || !strings.Contains(err.Error(), `"blis"`) {
		t.Errorf("unknown reference: %v", err)
	}
}

// ReadBandwidth and StreamBandwidth give a positive, finite rate for any
// size and thread count, the smallest sizes read as 4 KiB.
func TestReadBandwidth(t *testing.T) {
	for _, c := range []struct {
		threads  int
		read, rw int64
		passes   int
	}{{1, 0, 0, 1}, {1, 0, 100, 1}, {0, 100, 1 << 12, 0}, {2, 1 << 16, 1<<16 + 7, 2}, {3, 1 << 20, 1 << 18, 1}} {
		if bw := StreamBandwidth(c.threads, c.read, c.rw, c.passes, time.Millisecond); !(bw > 0) || math.IsInf(bw, 0) {
			t.Errorf("StreamBandwidth(%d, %d, %d, %d) = %v GB/s", c.threads, c.read, c.rw, c.passes, bw)
		}
	}
	for _, c := range []struct {
		threads int
		bytes   int64
		passes  int
	}{{1, 0, 1}, {0, 100, 0}, {1, 1 << 16, 3}, {2, 1<<16 + 7, 2}, {3, 1 << 20, 1}} {
		if bw := ReadBandwidth(c.threads, c.bytes, c.passes, time.Millisecond); !(bw > 0) || math.IsInf(bw, 0) {
			t.Errorf("ReadBandwidth(%d, %d, %d) = %v GB/s", c.threads, c.bytes, c.passes, bw)
		}
	}
}
