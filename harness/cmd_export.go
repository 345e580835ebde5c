package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/edge/engine"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/hf"
	"github.com/nanomamba-edge/harness/edge/onnx"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/models/llama2c"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/repro"
)

func init() { extraCommands = append(extraCommands, (*app).exportCmd, (*app).runGGUFCmd) }

func (a *app) exportCmd() *cobra.Command {
	var format, weights, embed, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "export <run-hash | llama2c.bin>",
		Short: "Export a trained run for deployment (GGUF) and record the file as an artifact of the run",
		Long: "export writes the final checkpoint of a done run as GGUF: BitLinear weights as ggml TQ2_0 or TQ1_0 blocks " +
			"with a float32 scale per tensor (a ternary run), or as F16 or Q8_0 (a run whose weights stay float, " +
			"qat.phases of float only with quant.act_bits 0), the tied embedding as F16, Q8_0, Q4_0, Q3_K or F32 (Q3_K: ggml's 3.4375-bit k-quant, " +
			"for d_model a multiple of 256; q8_0 and q4_0 need a multiple of 32), the tokenizer as " +
			"tokenizer.ggml.* and the run hash, config and code commit as provenance. The same run always gives the same bytes. " +
			"The default output is runs/<hash>/model-<weights>-<embed>.gguf under the project root. " +
			"A llama2.c checkpoint (a .bin file, e.g. datasets/llama2c/stories260K.bin) has float weights: it is exported " +
			"at f16 or q8_0 to -o, without a tokenizer and without a registry record.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch strings.ToLower(format) {
			case "gguf":
			case "onnx", "hf":
				db, h, err := a.openResolved(args[0])
				if err != nil {
					return err
				}
				defer db.Close()
				var res []*exportResult
				if strings.EqualFold(format, "onnx") {
					r, err := exportONNX(a.env(db), h, out, force)
					if err != nil {
						return err
					}
					res = append(res, r)
				} else if res, err = exportHF(a.env(db), h, out, force); err != nil {
					return err
				}
				for _, r := range res {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\tsha256 %s\trecorded for run %d as %s\n", r.Path, r.Bytes, r.SHA256, r.RunID, r.Record)
				}
				return nil
			default:
				return fmt.Errorf("--format %q: use gguf, onnx or hf", format)
			}
			wt, err := parseExportWeights(weights)
			if err != nil {
				return err
			}
			et, err := gguf.ParseType(embed)
			if err != nil || (et != gguf.F16 && et != gguf.Q8_0 && et != gguf.Q4_0 && et != gguf.Q3_K && et != gguf.F32) {
				return fmt.Errorf("--embed %q: use f16, q8_0, q4_0, q3_k (d_model a multiple of 256) or f32", embed)
			}
			if strings.HasSuffix(args[0], ".bin") {
				res, err := exportCheckpoint(a.registryPath(), args[0], edge.Options{Weights: wt, Embed: et}, out, force)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\tsha256 %s\n", res.Path, res.Bytes, res.SHA256)
				return nil
			}
			db, h, err := a.openResolved(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			res, err := exportRun(a.env(db), h, edge.Options{Weights: wt, Embed: et}, out, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\tsha256 %s\trecorded for run %d as %s\n", res.Path, res.Bytes, res.SHA256, res.RunID, res.Record)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "gguf", "output format: gguf (one file), onnx (a decode-step graph, runs/<hash>/model.onnx) or hf (a Hugging Face-style folder, runs/<hash>/hf/)")
	cmd.Flags().StringVar(&weights, "weights", "", "projection weights: tq2_0 (2.06 bits/weight) or tq1_0 (1.69 bits/weight) for a ternary run, f16 or q8_0 for a float-weight run (default tq2_0 or f16, by the run's weights)")
	cmd.Flags().StringVar(&embed, "embed", "f16", "embedding / output head type: f16, q8_0, q4_0, q3_k (3.44 bits/weight; d_model a multiple of 256) or f32")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default runs/<hash>/model-<weights>-<embed>.gguf)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing output file with other bytes (never the registry)")
	return cmd
}

func (a *app) runGGUFCmd() *cobra.Command {
	var prompt string
	var steps int
	var stats bool
	cmd := &cobra.Command{
		Use:   "run-gguf <file.gguf>",
		Short: "Generate text greedily from an exported GGUF file with the packed ternary engine",
		Long: "run-gguf loads a file written by `harness export` into the pure-Go engine (packed TQ2_0/TQ1_0 weights, " +
			"int8 activations, int32 accumulation) and continues --prompt greedily, as `harness generate <run-hash>` does " +
			"with the training path.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if steps < 0 {
				return fmt.Errorf("--steps %d must not be negative", steps)
			}
			m, err := engine.Load(args[0])
			if err != nil {
				return err
			}
			m.SetThreads(a.threadCount())
			text, err := m.Generate(prompt, steps)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), prompt+text)
			if stats {
				fmt.Fprintf(cmd.ErrOrStderr(), "%v; %.1f MB of weights per token\n", m.LastGeneration(), float64(m.WeightBytes())/1e6)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&prompt, "prompt", "", "text to continue")
	cmd.Flags().IntVar(&steps, "steps", 64, "tokens to generate")
	cmd.Flags().BoolVar(&stats, "stats", false, "print tokens/s to stderr")
	return cmd
}

// ggufArtifactKind is the registry kind of a GGUF export.
const ggufArtifactKind = "gguf"

// Result describes a written export.
type exportResult struct {
	Path   string // where the file was written
	Record string // the path recorded in the registry (relative to the root when inside it)
	SHA256 string
	Bytes  int64
	RunID  int64
}

// defaultExportName is the file name of an export in the run's directory, e.g.
// "model-tq2_0-f16.gguf".
func defaultExportName(o edge.Options) string {
	w, e := o.Weights, o.Embed
	if w == 0 {
		w = gguf.TQ2_0
	}
	return fmt.Sprintf("model-%s-%s.gguf", strings.ToLower(w.String()), strings.ToLower(e.String()))
}

// parseExportWeights parses --weights: "" (chosen by the run) or one of
// the four projection types.
func parseExportWeights(s string) (gguf.Type, error) {
	if s == "" {
		return 0, nil
	}
	t, err := gguf.ParseType(s)
	if err != nil || (t != gguf.TQ2_0 && t != gguf.TQ1_0 && !edge.FloatWeights(t)) {
		return 0, fmt.Errorf("--weights %q: use tq2_0 or tq1_0 (ternary runs) or f16 or q8_0 (float-weight runs)", s)
	}
	return t, nil
}

// exportWeights checks the projection type w against the weights of the
// model being exported (what names it in errors) and fills the default:
// tq2_0 for ternary weights, f16 for float ones.
func exportWeights(what string, q models.QuantState, w gguf.Type) (gguf.Type, error) {
	name := strings.ToLower(w.String())
	if q.From == models.Float && q.To == models.Float {
		switch {
		case w == 0:
			return gguf.F16, nil
		case !edge.FloatWeights(w):
			return 0, fmt.Errorf("export: %s has float weights (not quantized): --weights %s stores ternary weights; use f16 or q8_0", what, name)
		}
		return w, nil
	}
	format := q.To.String()
	if q.From != q.To {
		format = fmt.Sprintf("%s→%s (λ %v)", q.From, q.To, q.Lambda)
	}
	switch {
	case w == 0:
		return gguf.TQ2_0, nil
	case edge.FloatWeights(w):
		return 0, fmt.Errorf("export: %s has %s weights: --weights %s is for float-weight runs; use tq2_0 or tq1_0", what, format, name)
	}
	return w, nil
}

// exportCheckpoint writes the GGUF file of a llama2.c checkpoint (float
// weights, no tokenizer in the file) to out (never the registry at
// registryPath); nothing is recorded.
func exportCheckpoint(registryPath, path string, o edge.Options, out string, force bool) (*exportResult, error) {
	if out == "" {
		return nil, fmt.Errorf("export %s: a llama2.c checkpoint has no run directory; name the output with -o", path)
	}
	m, _, err := llama2c.Load(path)
	if err != nil {
		return nil, err
	}
	if o.Weights, err = exportWeights("the llama2.c checkpoint "+path, m.Quant(), o.Weights); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(path), ".bin")
	}
	f, err := edge.Export(m, llama2c.QuantConfig(), nil, o, edge.Provenance{})
	if err != nil {
		return nil, err
	}
	b, err := f.Bytes()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := repro.WriteFile(registryPath, out, b, force); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &exportResult{Path: out, Record: out, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))}, nil
}

// exportRun loads the final checkpoint of a done run, writes its GGUF file to
// out (default <root>/runs/<hash>/defaultExportName) and records it as an
// artifact of the run with its sha256 and size.
func exportRun(env *experiment.Env, hash string, o edge.Options, out string, force bool) (*exportResult, error) {
	tr, err := env.LoadTrained(hash)
	if err != nil {
		return nil, err
	}
	run, err := env.DB.DoneRun(hash)
	if err != nil {
		return nil, err
	}
	if o.Weights, err = exportWeights("run "+hash[:min(12, len(hash))], tr.Model.Quant(), o.Weights); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "nanomamba-" + tr.Config.Preset + "-" + hash[:min(12, len(hash))]
	}
	o.Name = name
	f, err := edge.Export(tr.Model, tr.Config.Quant, tr.Tokenizer, o, edge.Provenance{
		RunHash: hash, ConfigJSON: tr.Config.Canonical(), CodeCommit: run.CodeVersion, CodeDirty: run.CodeDirty,
	})
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(env.RunDir(hash), defaultExportName(o))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	b, err := f.Bytes()
	if err != nil {
		return nil, err
	}
	if err := repro.WriteFile(env.DB.Path(), out, b, force); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	res := &exportResult{Path: out, Record: recordPath(env.Root, out), SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b)), RunID: tr.RunID}
	if err := env.DB.PutArtifact(registry.Artifact{RunID: tr.RunID, Kind: ggufArtifactKind, Path: res.Record, SHA256: res.SHA256, Bytes: res.Bytes}); err != nil {
		return nil, fmt.Errorf("export: recording %s: %w", res.Record, err)
	}
	return res, nil
}

// recordPath is path relative to root when it lies inside root, else the
// absolute path.
func recordPath(root, path string) string {
	ar, err1 := filepath.Abs(root)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	rel, err := filepath.Rel(ar, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ap
	}
	return filepath.ToSlash(rel)
}

// Registry kinds of the ONNX graph and of the files of a Hugging Face-style folder.
const (
	onnxArtifactKind = "onnx"
	hfArtifactKind   = "hf"
)

// exportONNX writes the decode-step ONNX graph of a done ternary run to out
// (default <root>/runs/<hash>/model.onnx) and records it as an artifact.
func exportONNX(env *experiment.Env, hash, out string, force bool) (*exportResult, error) {
	tr, err := env.LoadTrained(hash)
	if err != nil {
		return nil, err
	}
	run, err := env.DB.DoneRun(hash)
	if err != nil {
		return nil, err
	}
	x, err := onnx.Export(tr.Model, tr.Config.Quant, edge.Provenance{
		RunHash: hash, ConfigJSON: tr.Config.Canonical(), CodeCommit: run.CodeVersion, CodeDirty: run.CodeDirty,
	})
	if err != nil {
		return nil, err
	}
	b, err := x.Bytes()
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(env.RunDir(hash), "model.onnx")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := repro.WriteFile(env.DB.Path(), out, b, force); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	res := &exportResult{Path: out, Record: recordPath(env.Root, out), SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b)), RunID: tr.RunID}
	if err := env.DB.PutArtifact(registry.Artifact{RunID: tr.RunID, Kind: onnxArtifactKind, Path: res.Record, SHA256: res.SHA256, Bytes: res.Bytes}); err != nil {
		return nil, fmt.Errorf("export: recording %s: %w", res.Record, err)
	}
	return res, nil
}

// exportHF writes the Hugging Face-style folder of a done ternary run to
// the directory out (default <root>/runs/<hash>/hf) and records every file
// as an artifact.
func exportHF(env *experiment.Env, hash, out string, force bool) ([]*exportResult, error) {
	run, err := env.DB.DoneRun(hash)
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(env.RunDir(hash), "hf")
	}
	r, err := hf.Export(env, hash, out, force)
	if err != nil {
		return nil, err
	}
	var res []*exportResult
	for _, f := range r.Files {
		e := &exportResult{Path: f.Path, Record: recordPath(env.Root, f.Path), SHA256: f.SHA256, Bytes: f.Bytes, RunID: run.ID}
		if err := env.DB.PutArtifact(registry.Artifact{RunID: run.ID, Kind: hfArtifactKind, Path: e.Record, SHA256: e.SHA256, Bytes: e.Bytes}); err != nil {
			return nil, fmt.Errorf("export: recording %s: %w", e.Record, err)
		}
		res = append(res, e)
	}
	return res, nil
}
