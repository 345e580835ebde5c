package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/hpo"
	"github.com/nanomamba-edge/harness/registry"
)

func init() { extraCommands = append(extraCommands, (*app).workerCmd) }

func (a *app) workerCmd() *cobra.Command {
	var batch, name string
	var staleAfter, poll time.Duration
	var noWait bool
	var max int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Claim queued ablation members and hpo trials from the registry and run them until the queue is empty",
		Long: "Takes one queued item at a time (`harness ablate <name> --enqueue`, `harness hpo <space> --enqueue`, `harness sweep`), " +
			"holds it under a heartbeat lease, trains (and for ablation members evaluates) it, records it and moves on. " +
			"An item whose worker died (its process gone on this host, or no heartbeat for --stale-after) is claimed again and " +
			"resumes from its last recorded checkpoint. Many workers, on one machine or many, may share one registry and --root.\n\n" +
			"  harness ablate subln --enqueue && harness worker & harness worker & wait && harness ablate subln",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openRegistry()
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, stop := signalContext()
			defer stop()
			env := a.env(db)
			if name == "" {
				name = workerName()
			}
			w := &experiment.Worker{
				DB: db, Batch: batch, Name: name, StaleAfter: staleAfter, Poll: poll, NoWait: noWait, Max: max, Log: os.Stderr,
				Handlers: map[string]experiment.Handler{
					registry.QueueAblationMember: env.RunQueuedMember,
					registry.QueueHPOTrial:       hpo.QueueHandler(env, os.Stderr),
				},
			}
			rep, err := w.Run(ctx)
			if rep != nil {
				fmt.Printf("worker %s: %d items done, %d failed, %d taken over from dead workers\n", name, rep.Done, rep.Failed, rep.Reclaimed)
			}
			if err != nil {
				return err
			}
			if rep.Failed > 0 {
				return fmt.Errorf("%d queued items failed (recorded; see `harness queue`)", rep.Failed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&batch, "batch", "", "only claim items of this batch (ablation/<name>/<def>, study/<name>; default: any)")
	cmd.Flags().StringVar(&name, "name", "", "worker name recorded with its claims (default: from SLURM_*/JOB_COMPLETION_INDEX, else host/pid)")
	cmd.Flags().DurationVar(&staleAfter, "stale-after", registry.DefaultStaleAfter, "take over another host's claim after this long without a heartbeat")
	cmd.Flags().DurationVar(&poll, "poll", 2*time.Second, "how often an idle worker looks again while other workers hold items")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "exit when nothing is claimable, without waiting for items other workers hold")
	cmd.Flags().IntVar(&max, "max", 0, "stop after this many items (0 = until the queue is empty)")
	return cmd
}

// workerName names a worker after the scheduler task it runs in.
func workerName() string {
	if j, t := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv("SLURM_ARRAY_TASK_ID"); j != "" && t != "" {
		return "slurm-" + j + "_" + t
	}
	if i := os.Getenv("JOB_COMPLETION_INDEX"); i != "" {
		if h, _ := os.Hostname(); h != "" {
			return "k8s-" + i + "-" + h
		}
		return "k8s-" + i
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}
