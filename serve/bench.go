package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// RefCell is one reference's rate for a GEMM row and our ratio to it.
type RefCell struct {
	Name   string `json:"name"`
	GFLOPS Num    `json:"gflops"`
	Ratio  Num    `json:"ours_over_ref"`
}

// GemmRow is one measured product of the newest bench run, as in the
// paper's bench table.
type GemmRow struct {
	Variant string    `json:"variant"`
	M       int       `json:"m"`
	K       int       `json:"k"`
	N       int       `json:"n"`
	Threads int       `json:"threads"`
	Ours    Num       `json:"gflops"`
	Refs    []RefCell `json:"refs"`
}

// TrainRow is one training-throughput line of one bench run.
type TrainRow struct {
	Hash            string `json:"hash"`
	Attempt         int    `json:"attempt"`
	Preset          string `json:"preset"`
	Batch           int    `json:"batch"`
	SeqLen          int    `json:"seq_len"`
	Threads         int    `json:"threads"`
	TokensPerSec    Num    `json:"tokens_per_sec"`
	GFLOPS          Num    `json:"gflops"`
	Peak            Num    `json:"peak_gflops"`
	MFU             Num    `json:"mfu"`
	RefName         string `json:"ref_name,omitempty"`
	RefTokensPerSec Num    `json:"ref_tokens_per_sec"`
	Speedup         Num    `json:"speedup"`
}

// PeakRow is the FMA peak at one thread count.
type PeakRow struct {
	Threads int `json:"threads"`
	GFLOPS  Num `json:"gflops"`
}

// BenchPage is the bench runs: the newest GEMM table and the training
// history of every done bench run with a report.
type BenchPage struct {
	Latest    *RunRow    `json:"latest,omitempty"`
	KernelSet string     `json:"kernel_set,omitempty"`
	PeakLoop  string     `json:"peak_loop,omitempty"`
	Peak      []PeakRow  `json:"peak"`
	Refs      []string   `json:"refs"`
	Gemm      []GemmRow  `json:"gemm"`
	Train     []TrainRow `json:"train"`
	Runs      []RunRow   `json:"runs"`
}

func (p *BenchPage) title() (string, string, string) { return "Bench", "bench", "/api/bench" }

func (s *Server) benchPage(r *http.Request) (string, any, error) {
	p, err := s.bench()
	return "bench", p, err
}

func (s *Server) bench() (*BenchPage, error) {
	runs, err := s.db.Runs(registry.RunFilter{Kind: registry.KindBench})
	if err != nil {
		return nil, err
	}
	p := &BenchPage{Peak: []PeakRow{}, Refs: []string{}, Gemm: []GemmRow{}, Train: []TrainRow{}, Runs: []RunRow{}}
	for i := range runs { // newest first
		run := &runs[i]
		p.Runs = append(p.Runs, runRow(run))
		if run.Status != registry.StatusDone {
			continue
		}
		var rep experiment.BenchReport
		if json.Unmarshal([]byte(run.SummaryJSON), &rep) != nil || (len(rep.Gemm) == 0 && len(rep.Train) == 0) {
			continue
		}
		if p.Latest == nil && len(rep.Gemm) > 0 {
			row := runRow(run)
			p.Latest, p.KernelSet, p.PeakLoop = &row, rep.KernelSet, rep.PeakLoop
			p.gemm(&rep)
		}
		for _, t := range rep.Train {
			tr := TrainRow{Hash: run.Hash, Attempt: run.Attempt, Preset: t.Preset, Batch: t.Batch, SeqLen: t.SeqLen, Threads: t.Threads,
				TokensPerSec: Num(t.TokensPerSec), GFLOPS: Num(t.GFLOPS), Peak: nan, MFU: nan, RefName: t.RefName, RefTokensPerSec: nan, Speedup: nan}
			if t.PeakGFLOPS > 0 && t.PeakSource != "" { // older runs stated MFU against the best GEMM rate
				tr.Peak, tr.MFU = Num(t.PeakGFLOPS), Num(t.MFU)
			}
			if t.RefName != "" {
				tr.RefTokensPerSec, tr.Speedup = Num(t.RefTokensPerSec), Num(t.Speedup)
			}
			p.Train = append(p.Train, tr)
		}
	}
	return p, nil
}

// gemm fills the GEMM table from one report, rows grouped by thread
// count in measured order, one column pair per reference.
func (p *BenchPage) gemm(rep *experiment.BenchReport) {
	type key struct {
		v             string
		m, k, n, thds int
	}
	idx := map[key]int{}
	for _, g := range rep.Gemm {
		if g.Reference != "" && !slices.Contains(p.Refs, g.Reference) {
			p.Refs = append(p.Refs, g.Reference)
		}
	}
	for _, g := range rep.Gemm {
		k := key{g.Variant, g.M, g.K, g.N, g.Threads}
		i, ok := idx[k]
		if !ok {
			i = len(p.Gemm)
			idx[k] = i
			row := GemmRow{Variant: g.Variant, M: g.M, K: g.K, N: g.N, Threads: g.Threads}
			for _, r := range p.Refs {
				row.Refs = append(row.Refs, RefCell{Name: r, GFLOPS: nan, Ratio: nan})
			}
			p.Gemm = append(p.Gemm, row)
		}
		p.Gemm[i].Ours = Num(g.GFLOPS)
		if g.Reference != "" && g.RefGFLOPS > 0 {
			j := slices.Index(p.Refs, g.Reference)
			p.Gemm[i].Refs[j] = RefCell{Name: g.Reference, GFLOPS: Num(g.RefGFLOPS), Ratio: Num(g.GFLOPS / g.RefGFLOPS)}
		}
	}
	sort.SliceStable(p.Gemm, func(i, j int) bool { return p.Gemm[i].Threads < p.Gemm[j].Threads })
	for th, g := range rep.Peak {
		p.Peak = append(p.Peak, PeakRow{th, Num(g)})
	}
	sort.Slice(p.Peak, func(i, j int) bool { return p.Peak[i].Threads < p.Peak[j].Threads })
}

// Shape formats M×K×N.
func (g GemmRow) Shape() string { return fmt.Sprintf("%d×%d×%d", g.M, g.K, g.N) }
