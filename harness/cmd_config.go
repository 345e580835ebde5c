package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
)

// resolveConfig loads a preset with overrides and fingerprints its data.
func (a *app) resolveConfig(preset string, sets []string) (*configs.Config, error) {
	c, err := configs.Load(configs.Options{Preset: preset, Sets: sets})
	if err != nil {
		return nil, err
	}
	if err := c.ResolveData(a.fingerprint); err != nil {
		return nil, err
	}
	return c, nil
}

// loadConfig resolves a config to be trained: it also refuses one whose
// estimated training memory exceeds this machine's, before any work starts.
func (a *app) loadConfig(preset string, sets []string) (*configs.Config, error) {
	// The memory check runs in experiment.Env.Train, after a done hash
	// has been reported.
	return a.resolveConfig(preset, sets)
}

func (a *app) configCmd() *cobra.Command {
	var sets []string
	cmd := &cobra.Command{
		Use:   "config [preset|file.yaml]",
		Short: "Print the resolved config and its run hash",
		Long:  "Print the fully resolved config (defaults, preset, file, --set and HARNESS_* overrides, data fingerprints) as JSON, then its canonical form's SHA-256: the run hash. Presets: " + fmt.Sprint(configs.Presets()),
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := "tiny"
			if len(args) == 1 {
				p = args[0]
			}
			c, err := a.resolveConfig(p, sets)
			if err != nil {
				return err
			}
			fmt.Println(c.JSON())
			fmt.Println("hash:", c.Hash())
			// Printing needs no memory; say so if training would be refused.
			if err := models.CheckTrainMemory(c, a.threadCount()); err != nil {
				fmt.Fprintln(os.Stderr, "note: `harness train` would refuse this config here:", err)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key, key=value (repeatable)")
	return cmd
}

func (a *app) modelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "model", Short: "Model inspection"}
	var sets []string
	var summary bool
	info := &cobra.Command{
		Use:   "info [preset|file.yaml]",
		Short: "Parameters by component and the exported size with each tensor's bit width",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := "tiny"
			if len(args) == 1 {
				p = args[0]
			}
			c, err := configs.Load(configs.Options{Preset: p, Sets: sets})
			if err != nil {
				return err
			}
			in, err := models.Describe(c.Model, c.Quant)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "component\tparameters\t\n")
			for _, ci := range in.Components {
				fmt.Fprintf(w, "%s\t%d\t\n", ci.Name, ci.Params)
			}
			fmt.Fprintf(w, "total\t%d\t\n", in.Total)
			w.Flush()
			fmt.Println()
			if summary {
				fmt.Printf("exported size: %.3f MB with ternary weights at 1.58 bits and 16-bit float tensors (%d tensors; without --summary each is listed)\n", float64(in.SizeBytes(1.58))/1e6, len(in.Tensors))
				return nil
			}
			w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "tensor\tshape\tparams\tbits/weight\n")
			for _, t := range in.Tensors {
				fmt.Fprintf(w, "%s\t%v\t%d\t%g\n", t.Name, t.Shape, t.Params, t.Bits)
			}
			w.Flush()
			fmt.Println()
			for _, b := range []float64{1.58, 2} {
				sz := in.SizeBytes(b)
				fmt.Printf("exported size with ternary weights at %.2f bits: %d bytes = %.3f MB (embeddings and other float tensors at 16 bits)\n", b, sz, float64(sz)/1e6)
			}
			fmt.Printf("float32 size: %.3f MB\n", float64(in.Total)*4/1e6)
			if e, err := models.EstimateTrainMemory(c, a.threadCount()); err == nil {
				fmt.Printf("training memory estimate: %.3f GB (weights, gradients and AdamW moments %.3f GB, quantized weight buffers %.3f GB, activations of train.micro_batch·data.seq_len = %d rows %.3f GB, per-thread scratch %.3f GB)\n",
					float64(e.Total)/1e9, float64(e.Weights+e.Optimizer)/1e9, float64(e.Quant)/1e9, e.Rows, float64(e.Activations)/1e9, float64(e.Scratch)/1e9)
			}
			return nil
		},
	}
	info.Flags().StringArrayVar(&sets, "set", nil, "override a config key, key=value (repeatable)")
	info.Flags().BoolVar(&summary, "summary", false, "components, total and the exported size only (no per-tensor table)")
	cmd.AddCommand(info)
	return cmd
}
