package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/hpo"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/repro"
)

func init() { extraCommands = append(extraCommands, (*app).sweepCmd) }

// sweepFlags are the flags every sweep subcommand shares.
type sweepFlags struct {
	emit, output string
	spec         sweepSpec
	noEnqueue    bool
	force        bool
	staleAfter   time.Duration
}

// checkOutput refuses a bad -o before anything is queued.
func (f *sweepFlags) checkOutput(registryPath string) error {
	if f.output == "" {
		return nil
	}
	if err := repro.CheckOutput(registryPath, f.output, f.force); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

func (a *app) sweepCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Queue an ablation or a study in the registry and write a Slurm job array or a Kubernetes Job whose tasks run `harness worker`",
		Long: "The cluster scheduler starts the workers; the harness only queues the work and writes the job:\n\n" +
			"  harness --registry postgres://harness@db/harness --root /shared/harness sweep ablation subln --emit slurm --tasks 8 -o subln.sbatch\n" +
			"  harness --registry postgres://harness@db/harness sweep hpo tiny --trials 24 --emit k8s --image registry.example/harness:v1 --pvc harness-shared -o tiny-job.yaml\n\n" +
			"Every task claims items until the queue is empty; a task that dies leaves its item to be taken over and resumed.",
	}
	cmd.AddCommand(a.sweepAblationCmd(), a.sweepHPOCmd())
	return cmd
}

func (a *app) addSweepFlags(cmd *cobra.Command, f *sweepFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.emit, "emit", "", "what to write: slurm (an sbatch job-array script) or k8s (a Kubernetes Job manifest)")
	fl.StringVarP(&f.output, "output", "o", "", "write the script or manifest to this file (default stdout)")
	fl.BoolVar(&f.force, "force", false, "replace an existing output file (never the registry)")
	fl.IntVar(&f.spec.Tasks, "tasks", 0, "worker tasks (array size / completions; default: the number of unfinished items, at most 16)")
	fl.IntVar(&f.spec.Parallelism, "parallelism", 0, "k8s: pods running at once (default: --tasks)")
	fl.IntVar(&f.spec.CPUs, "cpus", 2, "CPUs per task (each worker runs that many threads)")
	fl.StringVar(&f.spec.Mem, "mem", "", "memory per task (default 4G for Slurm, 4Gi for k8s)")
	fl.StringVar(&f.spec.Time, "time", "", "Slurm --time per task (default 04:00:00)")
	fl.StringVar(&f.spec.Partition, "partition", "", "Slurm partition")
	fl.StringVar(&f.spec.LogDir, "log-dir", "", "Slurm: directory of the tasks' output files (default: --root)")
	fl.StringVar(&f.spec.Binary, "binary", "", "Slurm: the harness binary on the nodes (default: this binary's absolute path)")
	fl.StringVar(&f.spec.Image, "image", "", "k8s: container image with harness on its PATH")
	fl.StringVar(&f.spec.Secret, "secret", "harness-registry", "k8s: Secret holding the registry DSN")
	fl.StringVar(&f.spec.SecretKey, "secret-key", "dsn", "k8s: key of the DSN in the Secret")
	fl.StringVar(&f.spec.PVC, "pvc", "", "k8s: PersistentVolumeClaim (ReadWriteMany) holding the shared root")
	fl.StringVar(&f.spec.Root, "mount", "/shared", "k8s: where the shared root is mounted in the pods")
	fl.DurationVar(&f.staleAfter, "stale-after", registry.DefaultStaleAfter, "a worker's claim is taken over after this long without a heartbeat")
	fl.BoolVar(&f.noEnqueue, "no-enqueue", false, "only write the job (the work is queued already)")
}

// emitSweep fills in the shared fields, renders the job and writes it.
func (a *app) emitSweep(cmd *cobra.Command, f *sweepFlags, db *registry.DB, batch, what string) error {
	items, err := db.QueueItems(batch)
	if err != nil {
		return err
	}
	open := 0
	for _, it := range items {
		if it.State == registry.QueueQueued || it.State == registry.QueueClaimed {
			open++
		}
	}
	s := f.spec
	s.Batch, s.What, s.StaleAfter = batch, what, f.staleAfter
	s.Name = "harness-" + strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(batch, "ablation/"), "study/"), "/", "-")
	if !cmd.Flags().Changed("tasks") {
		s.Tasks = min(max(open, 1), 16)
	}
	s.Registry = a.registryPath()
	var out string
	switch f.emit {
	case "slurm":
		if s.Binary == "" {
			if exe, err := os.Executable(); err == nil && !strings.Contains(exe, "go-build") {
				s.Binary = exe
			} else {
				s.Binary = "harness"
			}
		}
		if s.Root, err = filepath.Abs(a.root); err != nil {
			return err
		}
		if !strings.Contains(s.Registry, "://") {
			if s.Registry, err = filepath.Abs(s.Registry); err != nil {
				return err
			}
		}
		out, err = emitSlurm(s)
	case "k8s":
		out, err = emitK8s(s)
	default:
		return fmt.Errorf("--emit %q: choose slurm or k8s", f.emit)
	}
	if err != nil {
		return err
	}
	if f.output == "" {
		_, err = fmt.Print(out)
		return err
	}
	// The same output rules as export-run: never the registry, an existing
	// file only with --force.
	if err := repro.WriteFile(db.Path(), f.output, []byte(out), f.force); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if f.emit == "slurm" {
		if err := os.Chmod(f.output, 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d unfinished items in batch %s; %s job with %d tasks written to %s\n", what, open, batch, f.emit, s.Tasks, f.output)
	return nil
}

func (a *app) sweepAblationCmd() *cobra.Command {
	var f sweepFlags
	var sets []string
	var seeds int
	cmd := &cobra.Command{
		Use:   "ablation <name|file.yaml>",
		Short: "Queue an ablation's members and write the cluster job that runs them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.checkOutput(a.registryPath()); err != nil {
				return err
			}
			if f.emit != "slurm" && f.emit != "k8s" {
				return fmt.Errorf("--emit %q: choose slurm or k8s", f.emit)
			}
			m, err := ablations.Load(args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("seeds") {
				if err := m.WithSeeds(seeds); err != nil {
					return err
				}
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			env := a.env(db)
			var batch string
			if f.noEnqueue {
				def, err := experiment.MatrixDef(a.root, m, sets)
				if err != nil {
					return err
				}
				batch = experiment.AblationBatch(m.Name, def.Hash())
			} else {
				q, err := env.EnqueueAblation(m, sets)
				if err != nil {
					return err
				}
				batch = q.Batch
				fmt.Fprintf(os.Stderr, "ablation %s: %d members, %d queued now, %d queued again, %d already queued or done\n", m.Name, q.Members, q.Stats.Added, q.Stats.Requeued, q.Stats.Kept)
			}
			return a.emitSweep(cmd, &f, db, batch, fmt.Sprintf("ablation %s (%d arms × %d seeds)", m.Name, len(m.ArmList()), len(m.Seeds)))
		},
	}
	a.addSweepFlags(cmd, &f)
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key for every arm, key=value (repeatable)")
	cmd.Flags().IntVar(&seeds, "seeds", 3, "run seeds 1..N instead of the matrix's seeds")
	return cmd
}

func (a *app) sweepHPOCmd() *cobra.Command {
	var f sweepFlags
	var trials int
	var study string
	cmd := &cobra.Command{
		Use:   "hpo <space|file.yaml>",
		Short: "Queue a study's trial slots and write the cluster job that runs them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.checkOutput(a.registryPath()); err != nil {
				return err
			}
			if f.emit != "slurm" && f.emit != "k8s" {
				return fmt.Errorf("--emit %q: choose slurm or k8s", f.emit)
			}
			space, err := hpo.LoadSpace(args[0])
			if err != nil {
				return err
			}
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			name := study
			if name == "" {
				name = space.Name
			}
			if !f.noEnqueue {
				q, err := hpo.Enqueue(a.env(db), space, hpo.Options{Trials: trials, Study: study})
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "study %s: %d trials finished, %d slots pending, %d queued now\n", q.Study, q.Finished, q.Pending, q.Stats.Added+q.Stats.Requeued)
			}
			return a.emitSweep(cmd, &f, db, hpo.StudyBatch(name), fmt.Sprintf("hpo study %s (space %s)", name, space.Name))
		},
	}
	a.addSweepFlags(cmd, &f)
	cmd.Flags().IntVar(&trials, "trials", 0, "finished trials the study should hold (0 = the space's default)")
	cmd.Flags().StringVar(&study, "study", "", "study name (default: the space's name)")
	return cmd
}
