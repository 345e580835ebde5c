package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/reports"
)

func init() { extraCommands = append(extraCommands, (*app).paperCmd) }

func (a *app) paperCmd() *cobra.Command {
	var out string
	var check bool
	cmd := &cobra.Command{
		Use:   "paper",
		Short: "Re-render the paper's tables, figures, numbers and README from the registry",
		Long: "Reads the registry (read only) and re-renders paper/tables, paper/figures, paper/generated and paper/README.md " +
			"(from paper/README.tmpl.md). The output is a pure function of the registry: running it twice gives identical bytes. " +
			"With --check it renders into a temporary directory instead and fails, listing the files, if the committed paper differs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = filepath.Join(a.root, "paper")
			}
			db, err := registry.OpenReadOnly(a.registryPath())
			if err != nil {
				return fmt.Errorf("paper: %w", err)
			}
			defer db.Close()
			w := cmd.OutOrStdout()
			if check {
				diffs, err := reports.Check(db, reports.Options{Dir: out, Root: a.root})
				if err != nil {
					return err
				}
				if len(diffs) > 0 {
					return fmt.Errorf("%s is out of date with %s (run `harness paper` and commit the result):\n  %s",
						out, db.Path(), strings.Join(diffs, "\n  "))
				}
				fmt.Fprintf(w, "%s is up to date with %s\n", out, db.Path())
				return nil
			}
			p, err := reports.Render(db, reports.Options{Dir: out, Root: a.root})
			if err != nil {
				return err
			}
			missing := 0
			for _, o := range p.Outputs {
				if o.Note != "" {
					missing++
				}
			}
			fmt.Fprintf(w, "wrote %d files to %s (%d outputs, %d without data yet; provenance in %s)\n",
				len(p.Files), out, len(p.Outputs), missing, filepath.Join(out, "tables", "provenance.md"))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "paper directory (default <root>/paper)")
	cmd.Flags().BoolVar(&check, "check", false, "render into a temporary directory and fail if the committed paper differs")
	return cmd
}
