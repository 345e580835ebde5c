package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanomamba-edge/harness/serve"
)

func init() { extraCommands = append(extraCommands, (*app).serveCmd) }

func (a *app) serveCmd() *cobra.Command {
	var addr string
	var allowRemote bool
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "A read-only web view of the registry: runs, curves, ablations, HPO studies, bench, provenance",
		Long: "serve opens the registry read-only and serves its runs, metric curves (live while a run trains), " +
			"evaluation results, artifacts, ablations, HPO studies and bench runs as web pages with JSON twins under /api/. " +
			"Figures are the paper's gonum/plot renderings as SVG. It listens on loopback only unless --allow-remote is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := serve.CheckAddr(addr, allowRemote); err != nil {
				return err
			}
			db, err := a.openRegistryRO()
			if err != nil {
				return err
			}
			defer db.Close()
			logger := log.New(os.Stderr, "", log.LstdFlags)
			srv, err := serve.New(db, serve.Options{Root: a.root, AllowRemote: allowRemote, Poll: poll, Log: logger})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: listen on %s: %w", addr, err)
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: logger}
			fmt.Fprintf(os.Stderr, "serving %s (read-only) at http://%s/ — Ctrl-C stops\n", db.Path(), ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (host:port); loopback only unless --allow-remote")
	cmd.Flags().BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback listen address and any Host header (the registry becomes readable from the network)")
	cmd.Flags().DurationVar(&poll, "poll", 3*time.Second, "how often a running run's page polls for new points")
	return cmd
}
