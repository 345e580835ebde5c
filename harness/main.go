// Command harness runs the NanoMamba-Edge study: it trains, evaluates,
// searches and ablates tiny hybrid Mamba-2/attention language models with
// ternary BitLinear weights, records every run by the hash of its resolved
// config in an embedded SQLite registry, and renders the paper from it.
//
// The commands are thin: configs, registry, models, data, train, tasks,
// ablations, hpo and reports hold the work.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/registry"
)

// app holds the global flags: the only global state of the program.
type app struct {
	root     string
	registry string
	threads  int
	// cpuProfile: a file for the process's CPU profile (--cpuprofile).
	cpuProfile string
	profFile   *os.File
}

func main() {
	a := &app{}
	cmd := a.rootCmd()
	err := cmd.Execute()
	// A failed command skips the post-run hook: end the profile here too
	// (stopProfile does nothing the second time).
	if perr := a.stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "harness",
		Short:         "Reproducible research harness for NanoMamba-Edge",
		Long:          "harness trains, evaluates, searches and ablates NanoMamba-Edge models; every run is a content-hashed config recorded in registry.db, and the paper is re-rendered from that registry.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.root, "root", envOr("HARNESS_ROOT", "."), "project root holding datasets/ (env HARNESS_ROOT)")
	pf.StringVar(&a.registry, "registry", envOr("HARNESS_REGISTRY", ""), "registry database (default <root>/registry.db; env HARNESS_REGISTRY)")
	pf.IntVar(&a.threads, "threads", 0, "worker threads (0 = all cores); results are bit-identical for any value")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to this file (go tool pprof; the child processes of bench are not profiled); changes no result")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return a.startProfile() }
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return a.stopProfile() }
	root.AddCommand(a.configCmd(), a.runsCmd(), a.showCmd(), a.diffCmd(), a.metricsCmd(), a.gcCmd(), a.modelCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra(a))
	}
	return root
}

// startProfile starts the CPU profile of --cpuprofile, if any.
func (a *app) startProfile() error {
	if a.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(a.cpuProfile)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile %s: %w", a.cpuProfile, err)
	}
	a.profFile = f
	return nil
}

// stopProfile ends the CPU profile started by startProfile and closes its
// file.
func (a *app) stopProfile() error {
	if a.profFile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := a.profFile.Close()
	a.profFile = nil
	if err != nil {
		return fmt.Errorf("--cpuprofile %s: %w", a.cpuProfile, err)
	}
	return nil
}

// extraCommands are registered by the other command files.
var extraCommands []func(*app) *cobra.Command

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (a *app) threadCount() int {
	if a.threads > 0 {
		return a.threads
	}
	return runtime.NumCPU()
}

func (a *app) registryPath() string {
	if a.registry != "" {
		return a.registry
	}
	return filepath.Join(a.root, "registry.db")
}

func (a *app) openRegistry() (*registry.DB, error) {
	db, err := registry.Open(a.registryPath())
	if err != nil {
		return nil, err
	}
	return db, nil
}

// resolve turns a hash prefix into a full hash.
func resolve(db *registry.DB, prefix string) (string, error) {
	h, err := db.ResolvePrefix(prefix)
	if errors.Is(err, registry.ErrNotFound) {
		return "", fmt.Errorf("no run or config with hash %q in %s (list them with `harness runs`)", prefix, db.Path())
	}
	return h, err
}

// openRegistryRO opens the registry for a command that only reads: a
// missing file is an error, never a new empty registry.
func (a *app) openRegistryRO() (*registry.DB, error) {
	return registry.OpenReadOnly(a.registryPath())
}

// openResolved opens the registry and resolves a hash prefix in it; the
// caller closes the registry.
func (a *app) openResolved(prefix string) (*registry.DB, string, error) {
	return a.resolveIn(a.openRegistry, prefix)
}

// openResolvedRO is openResolved for commands that only read.
func (a *app) openResolvedRO(prefix string) (*registry.DB, string, error) {
	return a.resolveIn(a.openRegistryRO, prefix)
}

func (a *app) resolveIn(open func() (*registry.DB, error), prefix string) (*registry.DB, string, error) {
	db, err := open()
	if err != nil {
		return nil, "", err
	}
	h, err := resolve(db, prefix)
	if err != nil {
		db.Close()
		return nil, "", err
	}
	return db, h, nil
}
