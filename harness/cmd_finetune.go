package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/experiment"
)

func init() { extraCommands = append(extraCommands, (*app).finetuneCmd) }

func (a *app) finetuneCmd() *cobra.Command {
	var sets []string
	var dataName, prompt, input string
	var merge, force bool
	var steps int
	cmd := &cobra.Command{
		Use:   "finetune <base-hash>",
		Short: "LoRA / QLoRA fine-tune of a trained run on instruction data, recorded as a run (adapters saved in PEFT's layout)",
		Long: "Trains LoRA adapters (lora.rank, lora.alpha, lora.dropout, lora.targets) on the frozen base run — quantized as the base " +
			"ends its schedule, so a ternary base is QLoRA's setting — with the Alpaca prompt template and the loss on response " +
			"tokens only. The fine-tune's config names the base hash and the data fingerprint; a done hash is reused. It reports " +
			"the held-out loss of (a) the base, (b) base + adapters and (c) the adapters merged and re-quantized. --merge also " +
			"writes the merged weights; --prompt answers an instruction with the adapters afterwards.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if steps < 1 {
				return fmt.Errorf("--steps %d: give at least 1 token to generate", steps)
			}
			all, err := dataSets(dataName)
			if err != nil {
				return err
			}
			all = append(all, sets...)
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			env := a.env(db)
			c, err := env.FinetuneConfig(args[0], all)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			fmt.Fprintf(os.Stderr, "fine-tune %s of base %s (rank %d, alpha %v, targets %s, data %s)\n", c.Hash(), short(c.LoRA.Base),
				c.LoRA.Rank, c.LoRA.Alpha, strings.Join(c.LoRA.Targets, ","), c.LoRA.Data.Path)
			res, err := env.Finetune(ctx, c, experiment.FinetuneOptions{Merge: merge, Force: force})
			if err != nil {
				return err
			}
			if res.Reused {
				fmt.Println("already done; recorded result:")
			}
			fmt.Printf("fine-tune %s: %d steps, %d training / %d held-out records\n", res.Hash, res.Steps, res.TrainExamples, res.HeldOutRecords)
			fmt.Printf("held-out loss (nats per response token, %d tokens):\n", res.HeldOutTokens)
			fmt.Printf("  (a) base                         %.4f\n", res.HeldOutBase)
			fmt.Printf("  (b) base + adapters (unmerged)   %.4f\n", res.HeldOut)
			fmt.Printf("  (c) merged and re-quantized      %.4f\n", res.HeldOutMerged)
			if res.TrainableParams > 0 {
				fmt.Printf("trainable parameters %d (%.2f%% of the base's %d); %.3f s per step at %d thread(s)\n", res.TrainableParams,
					100*float64(res.TrainableParams)/float64(max(res.BaseParams, 1)), res.BaseParams, res.StepSeconds, res.Threads)
			}
			fmt.Printf("adapters (PEFT): %s\n", res.AdapterDir)
			if res.Merged != "" {
				fmt.Printf("merged weights: %s\n", res.Merged)
			} else if merge {
				fmt.Println("merged weights: not written by the recorded run; rerun with --force --merge")
			}
			if prompt != "" {
				ft, err := env.LoadFinetuned(res.Hash)
				if err != nil {
					return err
				}
				text, err := experiment.GenerateInstruct(ft, prompt, input, steps)
				if err != nil {
					return err
				}
				fmt.Println(text)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataName, "data", "alpaca", "instruction data: alpaca (the shipped 5,000-record subset) or a path to a JSON array / JSON lines file of {instruction, input, output}")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "config override key=value, e.g. --set lora.rank=8 --set train.tokens=131072 (repeatable)")
	cmd.Flags().BoolVar(&merge, "merge", false, "also write the merged weights (W + (alpha/r)·B·A) as an artifact")
	cmd.Flags().BoolVar(&force, "force", false, "fine-tune again even if the hash is done")
	cmd.Flags().StringVar(&prompt, "prompt", "", "afterwards, answer this instruction with the adapters (Alpaca template, greedy)")
	cmd.Flags().StringVar(&input, "input", "", "the instruction's input (with --prompt)")
	cmd.Flags().IntVar(&steps, "steps", 64, "tokens to generate with --prompt")
	return cmd
}

// dataSets turns --data into lora.data overrides.
func dataSets(name string) ([]string, error) {
	switch {
	case name == "" || name == "alpaca":
		return nil, nil // the default: datasets/instruct/alpaca_5000.json
	case strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".jsonl"):
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".jsonl"), ".json")
		return []string{"lora.data.path=" + quoteYAML(filepath.ToSlash(name)), "lora.data.name=" + quoteYAML(base)}, nil
	}
	return nil, fmt.Errorf("--data %q: give alpaca (the shipped subset) or a .json / .jsonl file relative to the project root", name)
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
