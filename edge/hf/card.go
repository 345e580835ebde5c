package hf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
)

// Card is what the model card says beyond the config: the run's
// provenance, its results and the data's licences, gathered from the
// registry and datasets/SOURCES.md by CardFromRegistry.
type Card struct {
	Name       string
	RunHash    string // the training run (`harness reproduce <hash>`)
	CodeCommit string
	CodeDirty  bool
	Started    time.Time
	Finished   time.Time
	Threads    int
	Final      []Metric  // last recorded value of the training metrics
	Evals      []EvalRun // the run's done eval runs
	Sources    []Source  // one per training data source
}

// Metric is a named number at a step.
type Metric struct {
	Name  string
	Step  int64
	Value float64
}

// EvalRun is one eval run of the model with its task results.
type EvalRun struct {
	Hash    string
	Name    string
	Results []registry.TaskResult
}

// Source is a training data source with its licence from SOURCES.md.
type Source struct {
	configs.DataSource
	Files   []SourceFile
	Missing bool // no row of SOURCES.md matches the path
}

// SourceFile is one row of datasets/SOURCES.md.
type SourceFile struct {
	File, Origin, Licence, SHA256 string
}

// CardFromRegistry gathers the card of a loaded training run: its done
// attempt, final metrics and eval runs from env's registry, and the
// licences of its data from <root>/datasets/SOURCES.md.
func CardFromRegistry(env *experiment.Env, tr *experiment.Trained) (*Card, error) {
	run, err := env.DB.DoneRun(tr.Hash)
	if err != nil {
		return nil, fmt.Errorf("hf: run %s: %w", tr.Hash, err)
	}
	c := &Card{Name: "nanomamba-" + tr.Config.Preset + "-" + tr.Hash[:min(12, len(tr.Hash))], RunHash: tr.Hash,
		CodeCommit: run.CodeVersion, CodeDirty: run.CodeDirty, Started: run.Started, Finished: run.Finished, Threads: run.Threads}
	for _, name := range []string{"loss", "val_loss", "val_bpb"} {
		mt, err := env.DB.LastMetric(run.ID, name)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		c.Final = append(c.Final, Metric{Name: name, Step: mt.Step, Value: mt.Value})
	}
	evals, err := env.DB.Runs(registry.RunFilter{Status: registry.StatusDone, Kind: registry.KindEval})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range evals {
		if r.ParentHash != tr.Hash || seen[r.Hash] {
			continue
		}
		seen[r.Hash] = true
		rs, err := env.DB.TaskResults(r.ID)
		if err != nil {
			return nil, err
		}
		c.Evals = append(c.Evals, EvalRun{Hash: r.Hash, Name: r.Name, Results: rs})
	}
	sort.Slice(c.Evals, func(i, j int) bool { return c.Evals[i].Hash < c.Evals[j].Hash })
	rows, err := readSources(filepath.Join(env.Root, "datasets", "SOURCES.md"))
	if err != nil {
		return nil, err
	}
	for _, s := range tr.Config.Data.Sources {
		src := Source{DataSource: s}
		pat := strings.TrimPrefix(filepath.ToSlash(s.Path), "datasets/")
		for _, r := range rows {
			if ok, _ := filepath.Match(pat, r.File); ok || r.File == pat {
				src.Files = append(src.Files, r)
			}
		}
		src.Missing = len(src.Files) == 0
		c.Sources = append(c.Sources, src)
	}
	return c, nil
}

// readSources reads the file tables of SOURCES.md: rows whose first cell
// is a path, with origin, licence and sha256 columns.
func readSources(path string) ([]SourceFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: the data licences come from %s: %w", path, err)
	}
	var rows []SourceFile
	var cols []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			cols = nil
			continue
		}
		cells := splitRow(line)
		if cols == nil {
			cols = cells
			continue
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		get := func(name string) string {
			for i, c := range cols {
				if strings.EqualFold(c, name) && i < len(cells) {
					return cells[i]
				}
			}
			return ""
		}
		if get("licence") == "" {
			continue
		}
		rows = append(rows, SourceFile{File: cells[0], Origin: get("origin (repo @ commit, path)"), Licence: get("licence"), SHA256: get("sha256")})
	}
	return rows, sc.Err()
}

// splitRow splits a Markdown table row on unescaped pipes.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == '|' {
			cur.WriteByte('|')
			i++
			continue
		}
		if line[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(line[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// render writes README.md.
func (c *Card) render(cfg *configs.Config, weightBytes int, packed int64) ([]byte, error) {
	mc, qc := cfg.Model, cfg.Quant
	info, err := models.Describe(mc, qc)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	name := c.Name
	if name == "" {
		name = "nanomamba-" + cfg.Preset
	}
	p("---\nlibrary_name: nanomamba-edge\ntags:\n- mamba2\n- bitnet\n- ternary\n- text-generation\n")
	p("license: other\nlicense_name: see-training-data\npipeline_tag: text-generation\n---\n\n")
	p("# %s\n\n", name)
	p("A %s-parameter NanoMamba-Edge hybrid language model: Mamba-2 blocks and grouped-query attention layers, "+
		"every projection a BitNet b1.58 ternary BitLinear. Trained and exported by the NanoMamba-Edge harness; "+
		"this folder is the harness's Hugging Face-style export (`model.safetensors`, `config.json`, `tokenizer.json`, "+
		"`generation_config.json`). It is not a `transformers` architecture: load it with the harness (`hf.Load`), "+
		"or read the tensors with any safetensors reader using the packing below.\n\n", humanCount(info.Total))

	p("## Architecture\n\n| | |\n|---|---|\n")
	attn := "none"
	if len(mc.AttnLayers) > 0 {
		attn = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(mc.AttnLayers)), ", "), "[]")
		attn = fmt.Sprintf("layers %s: %d query / %d key-value heads of %d, RoPE θ = %g", attn, mc.NHeads, mc.NKVHeads, mc.DModel/max(mc.NHeads, 1), mc.RopeTheta)
	}
	p("| layers | %d (d_model %d), pre-RMSNorm residual blocks |\n", mc.NLayers, mc.DModel)
	p("| attention | %s |\n", attn)
	p("| Mamba-2 | all other layers: d_inner %d, %d heads of %d, d_state %d, %d B/C group(s), conv width %d |\n",
		mc.Expand*mc.DModel, mc.Expand*mc.DModel/max(mc.HeadDim, 1), mc.HeadDim, mc.DState, mc.NGroups, mc.DConv)
	if mc.FFN {
		p("| FFN | SwiGLU, hidden %d, after every mixer |\n", mc.DFF)
	} else {
		p("| FFN | none |\n")
	}
	p("| vocabulary / context | %d byte-level BPE tokens / %d positions; tied input and output embedding |\n", mc.Vocab, mc.Context)
	act := "none"
	if qc.ActBits > 0 {
		act = fmt.Sprintf("%d-bit per-token absmax", qc.ActBits)
	}
	p("| BitLinear | ternary weights, %s scale per tensor, activations %s, SubLN %v |\n", qc.Scale, act, qc.SubLN)
	p("| parameters | %d |\n\n", info.Total)
	for _, comp := range info.Components {
		if comp.Params > 0 {
			p("- %s: %d\n", comp.Name, comp.Params)
		}
	}
	p("\n")

	p("## Size at each precision\n\n| storage | bytes |\n|---|---|\n")
	p("| float32, every tensor | %d |\n", info.Total*4)
	p("| float16, every tensor | %d |\n", info.Total*2)
	for _, r := range []struct {
		what string
		bits float64
	}{{"TQ2_0 (2.0625 bits/weight)", 2.0625}, {"TQ1_0 (1.6875 bits/weight)", 1.6875}, {"log2(3) = 1.58 bits/weight (information bound)", models.TernaryBits}} {
		p("| ternary BitLinear weights at %s + fp16 rest | %d |\n", r.what, info.SizeBytes(r.bits))
	}
	p("| this folder's `model.safetensors` (2-bit packed codes, float32 rest) | %d |\n\n", weightBytes)
	p("%d BitLinear weights are ternary.\n\n", packed)

	p("## Weight format\n\n%s\n\n", PackingScheme)
	p("Activations: every BitLinear input (after its SubLN when on) is quantized per token as "+
		"x_q = RoundClip(x·s, −2^(b−1), 2^(b−1)−1)/s with s = (2^(b−1)−1)/max(max|x|, 1e-5) and b = %d, "+
		"rounding half away from zero (not to even).\n\n", qc.ActBits)

	p("## Training\n\n")
	steps := cfg.Train.Tokens / max(int64(cfg.Train.BatchSize)*int64(cfg.Data.SeqLen), 1)
	p("- budget: %d tokens = %d steps of %d × %d tokens; AdamW lr %g → %g (warmup %d), weight decay %g, seed %d\n",
		cfg.Train.Tokens, steps, cfg.Train.BatchSize, cfg.Data.SeqLen, cfg.Train.LR, cfg.Train.MinLR, cfg.Train.Warmup, cfg.Train.WeightDecay, cfg.Train.Seed)
	var ph []string
	for _, q := range cfg.QAT.Phases {
		ph = append(ph, fmt.Sprintf("%s from %g (ramp %g)", q.Weights, q.Start, q.Ramp))
	}
	p("- continual quantization-aware training: %s (fractions of training)\n", strings.Join(ph, ", "))
	if !c.Finished.IsZero() && !c.Started.IsZero() {
		p("- trained in %s on %d thread(s)\n", c.Finished.Sub(c.Started).Round(time.Second), c.Threads)
	}
	for _, m := range c.Final {
		p("- final %s: %.4f (step %d)\n", m.Name, m.Value, m.Step)
	}
	p("\n### Data and licences\n\n")
	if len(c.Sources) == 0 {
		for _, s := range cfg.Data.Sources {
			p("- %s (`%s`, weight %g, sha256 %s)\n", s.Name, s.Path, s.Weight, s.Fingerprint)
		}
		p("\nSee `datasets/SOURCES.md` of the harness for the licences.\n\n")
	} else {
		p("| source | weight | file | origin | licence |\n|---|---|---|---|---|\n")
		for _, s := range c.Sources {
			if s.Missing {
				p("| %s | %g | `%s` | not listed in datasets/SOURCES.md | unknown |\n", esc(s.Name), s.Weight, esc(s.Path))
			}
			for _, f := range s.Files {
				p("| %s | %g | `%s` | %s | %s |\n", esc(s.Name), s.Weight, esc(f.File), esc(f.Origin), esc(f.Licence))
			}
		}
		p("\nThe weights are derived from this data; use them under the most restrictive of these licences (from the harness's `datasets/SOURCES.md`).\n\n")
	}

	p("## Evaluation\n\n")
	if len(c.Evals) == 0 {
		p("No eval run of this model is recorded in the registry (`harness eval %s --tasks ...`).\n\n", c.RunHash)
	} else {
		p("Recorded eval runs of this model (lm-eval-style tasks). Intervals are 95%%: Wilson score intervals for accuracies " +
			"(a value in [0, 1] over n examples), value ± 1.96 standard errors otherwise.\n\n")
		p("| task | metric | value | 95%% interval | n | eval run |\n|---|---|---|---|---|---|\n")
		var subs []string
		for _, e := range c.Evals {
			top := map[string]bool{}
			for _, t := range strings.Split(e.Name, ",") {
				top[strings.TrimSpace(t)] = true
			}
			for _, r := range e.Results {
				row := fmt.Sprintf("| %s | %s | %.4f | %s | %d | `%s` |\n", esc(r.Task), esc(r.Metric), r.Value, interval(r), r.N, e.Hash[:min(12, len(e.Hash))])
				if top[r.Task] || len(top) == 0 {
					p("%s", row)
				} else {
					subs = append(subs, row)
				}
			}
		}
		if len(subs) > 0 {
			p("\n<details><summary>%d subtasks</summary>\n\n| task | metric | value | 95%% interval | n | eval run |\n|---|---|---|---|---|---|\n%s\n</details>\n", len(subs), strings.Join(subs, ""))
		}
		p("\n")
	}

	p("## Intended use and limitations\n\n")
	p("A research artifact for studying tiny ternary hybrid models (quantization-aware training, SubLN, deployment formats) and for " +
		"checking deployments against the harness bit for bit. It writes short children's-story-like English and nothing more: " +
		"it has no instruction tuning, no safety tuning and no knowledge to rely on, it repeats itself, and at this size its benchmark scores are " +
		"expected to be close to chance (see the table). Do not use it for decisions about people or as a source of facts.\n\n")

	p("## Provenance\n\n")
	if c.RunHash != "" {
		p("- training run: `%s` (`harness reproduce %s` re-runs it and compares bit for bit)\n", c.RunHash, c.RunHash)
	}
	for _, e := range c.Evals {
		p("- eval run: `%s` (`harness reproduce %s`)\n", e.Hash, e.Hash)
	}
	if c.CodeCommit != "" {
		dirty := ""
		if c.CodeDirty {
			dirty = " (with uncommitted changes)"
		}
		p("- code: commit `%s`%s\n", c.CodeCommit, dirty)
	}
	p("- resolved config: `config.json` → `nanomamba.config` (its sha256 is the run hash)\n")
	return []byte(b.String()), nil
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// interval is the 95% interval of a task result: Wilson's score interval
// for an accuracy-like value in [0, 1] over N > 0 examples, else
// value ± 1.96 standard errors ("–" without a standard error).
func interval(r registry.TaskResult) string {
	const z = 1.96
	isRate := strings.HasPrefix(r.Metric, "acc") || strings.HasPrefix(r.Metric, "exact")
	if isRate && r.N > 0 && r.Value >= 0 && r.Value <= 1 {
		n, ph := float64(r.N), r.Value
		den := 1 + z*z/n
		mid := (ph + z*z/(2*n)) / den
		half := z * math.Sqrt(ph*(1-ph)/n+z*z/(4*n*n)) / den
		return fmt.Sprintf("[%.4f, %.4f]", max(mid-half, 0), min(mid+half, 1))
	}
	if r.Stderr > 0 && !math.IsNaN(r.Stderr) && !math.IsInf(r.Stderr, 0) {
		return fmt.Sprintf("[%.4f, %.4f]", r.Value-z*r.Stderr, r.Value+z*r.Stderr)
	}
	return "–"
}
