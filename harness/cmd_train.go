package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge/engine"
	"github.com/nanomamba-edge/harness/edge/hf"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/models/llama2c"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/repro"
	"github.com/nanomamba-edge/harness/rng"
	"github.com/nanomamba-edge/harness/tasks"
)

func init() {
	extraCommands = append(extraCommands, (*app).trainCmd, (*app).evalCmd, (*app).tasksCmd, (*app).generateCmd)
}

// signalContext is cancelled by SIGINT/SIGTERM so runs can checkpoint and be
// recorded as interrupted.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func (a *app) env(db *registry.DB) *experiment.Env {
	return &experiment.Env{Root: a.root, DB: db, Threads: a.threadCount(), Progress: os.Stderr}
}

func (a *app) trainCmd() *cobra.Command {
	var preset, resume string
	var sets []string
	var force bool
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a config into a recorded run (or print the recorded result if its hash is done)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			var c *configs.Config
			name := preset
			if resume != "" {
				h, err := resolve(db, resume)
				if err != nil {
					return err
				}
				if err := a.env(db).RequireTraining(h); err != nil {
					return fmt.Errorf("--resume: %w", err)
				}
				name = "as recorded"
				if r, err := db.LatestRun(h); err == nil && r.Name != "" {
					name = r.Name
				}
				js, err := db.Config(h)
				if err != nil {
					return err
				}
				if c, err = configs.FromCanonical(js); err != nil {
					return err
				}
				if err := c.ResolveData(a.fingerprint); err != nil {
					return err
				}
			} else if c, err = a.loadConfig(preset, sets); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			fmt.Fprintf(os.Stderr, "run %s (preset %s)\n", c.Hash(), name)
			res, err := a.env(db).Train(ctx, c, experiment.TrainOptions{Force: force})
			if err != nil {
				return err
			}
			if res.Reused {
				fmt.Println("already done; recorded result:")
			}
			fmt.Printf("hash        %s\nsteps       %d\ntokens      %d\ntrain loss  %.4f\nval loss    %.4f\nval bpb     %.4f\ntokens/s    %.0f\ncheckpoint  %s (sha256 %s)\n",
				res.Hash, res.Steps, res.Tokens, res.TrainLoss, res.ValLoss, res.ValBPB, res.TokensPerSec, res.Checkpoint, short(res.CheckpointSHA))
			if m, err := db.LastMetric(res.RunID, "bigram_val_bpb"); err == nil {
				fmt.Printf("bigram bpb  %.4f (add-one bigram on the same split and tokenizer; %s)\n", m.Value, versusBigram(res.ValBPB, m.Value))
			}
			for i, s := range res.Samples {
				fmt.Printf("sample %d: %q\n", i, s)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&preset, "preset", "tiny", "preset name or config file")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key, key=value (repeatable)")
	cmd.Flags().StringVar(&resume, "resume", "", "continue the run with this hash from its newest checkpoint")
	cmd.Flags().BoolVar(&force, "force", false, "retrain a done hash into a new attempt")
	return cmd
}

// versusBigram says how the model's bits per byte compare with the bigram's.
func versusBigram(model, bigram float64) string {
	d := 100 * (1 - model/bigram)
	switch {
	case d > 0:
		return fmt.Sprintf("the model is %.1f%% lower, better", d)
	case d < 0:
		return fmt.Sprintf("the model is %.1f%% higher, WORSE than the bigram", -d)
	}
	return "the model equals the bigram"
}

// generateFrom continues prompt (after the EOS that starts every
// document) with the training path's decoder: greedy at temperature 0,
// otherwise sampled from the counter-based stream of seed.
func generateFrom(m *models.Model, tok *data.Tokenizer, prompt string, steps int, temp float64, seed int64, threads int) error {
	pick, err := models.Sampler(temp, rng.New(seed, "generate"))
	if err != nil {
		return fmt.Errorf("--temperature: %w", err)
	}
	m.SetThreads(threads)
	st := m.NewState()
	var logits []float32
	for _, tk := range append([]int32{tok.EOS()}, tok.Encode(prompt)...) {
		if logits, err = m.Step(st, tk); err != nil {
			return err
		}
	}
	gen, err := m.Continue(st, logits, steps, tok.EOS(), pick, nil)
	if err != nil {
		return err
	}
	fmt.Println(prompt + tok.Decode(gen))
	return nil
}

// setArithmetic applies --arithmetic to a trained run's model and says on
// stderr which arithmetic decodes.
func setArithmetic(m *models.Model, flag string) error {
	var ar models.Arithmetic
	switch f := strings.ToLower(strings.TrimSpace(flag)); f {
	case "auto":
		if m.ExactSupported() == nil {
			ar = models.ArithExact
		}
	default:
		var err error
		if ar, err = models.ParseArithmetic(f); err != nil {
			return fmt.Errorf("--arithmetic: %w (or auto)", err)
		}
	}
	if err := m.SetArithmetic(ar); err != nil {
		return fmt.Errorf("--arithmetic %s: %w", flag, err)
	}
	fmt.Fprintf(os.Stderr, "arithmetic: %s\n", ar)
	return nil
}

func (a *app) fingerprint(s configs.DataSource) (string, error) {
	return data.Fingerprint(a.root, s)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (a *app) evalCmd() *cobra.Command {
	var taskList string
	var shots, limit int
	var out, tok string
	var logSamples, force bool
	cmd := &cobra.Command{
		Use:   "eval <run-hash | llama2c.bin>",
		Short: "Evaluate a trained run on lm-eval-style tasks (recorded as an eval run)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != "" {
				if err := repro.CheckOutput(a.registryPath(), out, force); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			names := splitList(taskList)
			if len(names) == 0 {
				return errors.New("--tasks: give at least one task (see `harness tasks`)")
			}
			ctx, stop := signalContext()
			defer stop()
			var res *experiment.EvalResult
			if strings.HasSuffix(args[0], ".bin") {
				// A llama2.c checkpoint: the outside reference.
				if tok == "" {
					tok = filepath.Join(a.root, "datasets", "llama2c", "tok512.bin")
				}
				lm, _, id, err := experiment.LoadLlama2C(args[0], tok, a.threadCount())
				if err != nil {
					return err
				}
				res, err = a.env(db).EvaluateWith(ctx, experiment.EvalRequest{Model: id, Tasks: names, Shots: shots, Limit: limit, LogSamples: logSamples, RequireSamples: logSamples}, lm)
				if err != nil {
					return err
				}
			} else {
				h, err := resolve(db, args[0])
				if err != nil {
					return err
				}
				res, err = a.env(db).Evaluate(ctx, experiment.EvalRequest{Model: h, Tasks: names, Shots: shots, Limit: limit, LogSamples: logSamples, RequireSamples: logSamples})
				if err != nil {
					return err
				}
			}
			if res.Reused {
				fmt.Println("already evaluated; recorded result:")
			}
			docs := "all documents of each task (full evaluation sets)"
			if limit > 0 {
				docs = fmt.Sprintf("the first %d documents of each task", limit)
			}
			fmt.Printf("limit %d: %s; shots %d (-1 = task defaults)\n", limit, docs, shots)
			printResults(res.Results)
			fmt.Printf("eval run %s; results JSON: %s\n", res.Hash, res.Path)
			if len(res.Samples) > 0 {
				ts := res.SampleTasks()
				fmt.Printf("per-sample logs (%d tasks): %s", len(ts), res.Samples[ts[0]])
				if len(ts) > 1 {
					fmt.Printf(" … %s", res.Samples[ts[len(ts)-1]])
				}
				fmt.Println()
			}
			if out != "" {
				js, _ := res.Results.JSON()
				return repro.WriteFile(a.registryPath(), out, js, force)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&taskList, "tasks", "blimp,hellaswag,arc_easy,piqa,lambada_openai", "comma-separated tasks or groups")
	cmd.Flags().IntVar(&shots, "shots", -1, "few-shot examples (-1 = each task's default)")
	cmd.Flags().IntVar(&limit, "limit", 0, "documents per task (0 = all)")
	cmd.Flags().BoolVar(&logSamples, "log-samples", false, "also record each task's per-document JSONL (lm-eval's --log_samples) as artifacts of the eval run; not part of its hash (a done run without them is evaluated again, as a new attempt)")
	cmd.Flags().StringVar(&out, "output", "", "also write the lm-eval JSON here")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --output file (never the registry)")
	cmd.Flags().StringVar(&tok, "tokenizer", "", "llama2.c tokenizer, when the argument is a llama2.c .bin checkpoint (default <root>/datasets/llama2c/tok512.bin)")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func printResults(r *tasks.Results) {
	rows := experiment.Rows(r)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tMETRIC\tVALUE\tSTDERR\tN")
	for _, row := range rows {
		if strings.HasPrefix(row.Task, "blimp_") {
			continue // the group line summarises the 67 paradigms
		}
		fmt.Fprintf(w, "%s\t%s\t%.4f\t%.4f\t%d\n", row.Task, row.Metric, row.Value, row.Stderr, row.N)
	}
	w.Flush()
}

func (a *app) tasksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tasks",
		Short: "List the shipped evaluation tasks with sizes and metrics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := tasks.List(a.root)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "TASK\tTYPE\tDOCS\tMETRICS")
			for _, t := range list {
				if t.Group != "" {
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", t.Name, t.OutputType, t.Docs, strings.Join(t.Metrics, ","))
			}
			return w.Flush()
		},
	}
}

func (a *app) generateCmd() *cobra.Command {
	var ckpt, tok, prompt string
	var steps int
	var temp float64
	var seed int64
	var alpaca bool
	var arith string
	cmd := &cobra.Command{
		Use:   "generate [run-hash | model.gguf | hf-folder]",
		Short: "Generate text from a trained run or an imported llama2.c checkpoint",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if steps < 1 {
				return fmt.Errorf("--steps %d: give at least 1 token to generate", steps)
			}
			if !(temp >= 0) || temp > 100 {
				return fmt.Errorf("--temperature %v: must be in [0, 100] (0 = greedy)", temp)
			}
			if cmd.Flags().Changed("arithmetic") && (alpaca || len(args) == 0 || strings.HasSuffix(args[0], ".gguf")) {
				return errors.New("--arithmetic: applies to a trained run's hash (without --alpaca) or an exported hf folder (a .gguf file always decodes in the exact arithmetic; llama2.c and fine-tunes in the training one)")
			}
			if alpaca && (len(args) == 0 || strings.HasSuffix(args[0], ".gguf")) {
				return errors.New("--alpaca: give the hash of a trained run (a fine-tune's base)")
			}
			if ckpt == "" {
				ckpt = filepath.Join(a.root, "datasets", "llama2c", "stories260K.bin")
			}
			if tok == "" {
				tok = filepath.Join(a.root, "datasets", "llama2c", "tok512.bin")
			}
			if len(args) == 0 {
				m, _, err := llama2c.Load(ckpt)
				if err != nil {
					return err
				}
				m.SetThreads(a.threadCount())
				tk, err := llama2c.ReadTokenizer(tok, m.Config().Vocab)
				if err != nil {
					return err
				}
				text, err := llama2c.Generate(m, tk, prompt, steps, temp, seed)
				if err != nil {
					return err
				}
				fmt.Println(text)
				return nil
			}
			if st, err := os.Stat(filepath.Join(args[0], hf.ConfigFile)); err == nil && !st.IsDir() {
				// A Hugging Face-style folder written by `harness export --format hf`.
				m, tok, err := hf.Load(args[0])
				if err != nil {
					return err
				}
				if err := setArithmetic(m, arith); err != nil {
					return err
				}
				return generateFrom(m, tok, prompt, steps, temp, seed, a.threadCount())
			}
			if strings.HasSuffix(args[0], ".gguf") {
				// An exported model file: the packed int8×ternary engine.
				if temp != 0 {
					return errors.New("--temperature: the packed engine decodes greedily; drop the flag")
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
				fmt.Println(prompt + text)
				fmt.Fprintln(os.Stderr, m.LastGeneration())
				return nil
			}
			db, h, err := a.openResolvedRO(args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			env := a.env(db)
			if ft, err := env.IsFinetune(h); err != nil {
				return err
			} else if ft {
				if cmd.Flags().Changed("arithmetic") {
					return errors.New("--arithmetic: fine-tunes decode in the training arithmetic; drop the flag")
				}
				// A fine-tune: the Alpaca template and the adapters (greedy).
				if temp != 0 {
					return errors.New("--temperature: fine-tunes decode greedily; drop the flag")
				}
				tr, err := env.LoadFinetuned(h)
				if err != nil {
					return err
				}
				tr.Model.SetThreads(a.threadCount())
				text, err := experiment.GenerateInstruct(tr, prompt, "", steps)
				if err != nil {
					return err
				}
				fmt.Println(text)
				return nil
			}
			tr, err := env.LoadTrained(h)
			if err != nil {
				return err
			}
			if alpaca {
				// A base answering an instruction as its fine-tunes do.
				if temp != 0 {
					return errors.New("--temperature: --alpaca decodes greedily, as a fine-tune does; drop the flag")
				}
				tr.Model.SetThreads(a.threadCount())
				text, err := experiment.GenerateInstruct(tr, prompt, "", steps)
				if err != nil {
					return err
				}
				fmt.Println(text)
				return nil
			}
			if err := setArithmetic(tr.Model, arith); err != nil {
				return err
			}
			return generateFrom(tr.Model, tr.Tokenizer, prompt, steps, temp, seed, a.threadCount())
		},
	}
	cmd.Flags().StringVar(&arith, "arithmetic", "auto", "a trained run's (or hf folder's) products: exact (BitNet inference: exact integer sums, the packed engine's), training (the float32 GEMMs of training and evaluation), or auto (exact where the run ends ternary, else training)")
	cmd.Flags().BoolVar(&alpaca, "alpaca", false, "a trained run answers --prompt as an instruction in the Alpaca template, greedily (what a fine-tune of it does; its output before fine-tuning)")
	cmd.Flags().StringVar(&ckpt, "checkpoint", "", "llama2.c checkpoint (used when no run hash is given; default <root>/datasets/llama2c/stories260K.bin)")
	cmd.Flags().StringVar(&tok, "tokenizer", "", "llama2.c tokenizer for --checkpoint (default <root>/datasets/llama2c/tok512.bin)")
	cmd.Flags().StringVar(&prompt, "prompt", "", "text to continue")
	cmd.Flags().IntVar(&steps, "steps", 256, "tokens to generate")
	cmd.Flags().Float64Var(&temp, "temperature", 0, "sampling temperature (0 = greedy)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "sampling seed")
	return cmd
}
