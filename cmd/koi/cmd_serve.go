package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/httpapi"
	"github.com/koihq/koi/engine/scheduler"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		listen  string
		demoArg bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run koi as a server: playbooks on their schedules, and the HTTP API",
		Long: `Run koi as a server: each scheduled playbook runs on its cron, in its timezone,
and the HTTP API (/api/v1) takes events and customers.

SIGINT or SIGTERM stops it: the API stops taking requests, and a running
playbook gets up to 30 s to finish before it is cancelled between batches.

With --demo, an empty database is first filled with a demo pond, and an admin
key is generated and printed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			a, err := openApp(ctx, g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			keys := a.cfg.API.keys
			if demoArg {
				k, err := startDemo(ctx, a, g.db, out)
				if err != nil {
					return err
				}
				keys = append(keys, k)
			}
			if len(keys) == 0 {
				return &exitError{code: exitUsage, err: errors.New("no API keys: add api.keys to koi.yaml (koi key makes one), or use --demo")}
			}
			if err := a.engine.Load(a.cfg.Playbooks); err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if err := a.engine.Warm(ctx); err != nil {
				return err
			}
			sched, err := scheduler.New(a.engine, scheduler.Options{Log: log})
			if err != nil {
				return err
			}
			if err := sched.Sync(a.engine.Playbooks()); err != nil {
				log.Error("scheduling playbooks", "err", err)
			}
			sched.Start()
			if listen == "" {
				listen = a.cfg.API.Listen
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				sched.Shutdown()
				return fmt.Errorf("listen: %w", err)
			}
			srv := &http.Server{
				Handler:           httpapi.New(a.engine, httpapi.Config{Keys: keys, Location: a.cfg.location, Log: log}),
				ReadHeaderTimeout: 10 * time.Second,
			}
			fmt.Fprintf(out, "koi serving http://%s/api/v1 with %s scheduled\n", ln.Addr(), plural(countScheduled(a), "playbook"))
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			select {
			case err = <-served:
			case <-ctx.Done():
				log.Info("stopping")
			}
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if serr := srv.Shutdown(shutdownCtx); serr != nil {
				log.Error("stopping the API", "err", serr)
			}
			if serr := sched.Shutdown(); serr != nil {
				log.Error("stopping the scheduler", "err", serr)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "`address` to serve the API on (default: api.listen in koi.yaml, or 127.0.0.1:8080)")
	cmd.Flags().BoolVar(&demoArg, "demo", false, "fill an empty database with a demo pond, and print a generated admin key")
	return cmd
}

func countScheduled(a *app) int {
	n := 0
	for _, pb := range a.engine.Playbooks() {
		if pb.Cron != nil {
			n++
		}
	}
	return n
}

// startDemo seeds a demo pond into an empty database and returns a new
// admin key, printed once.
func startDemo(ctx context.Context, a *app, path string, out io.Writer) (httpapi.Key, error) {
	customers, _, err := a.db.Counts(ctx)
	if err != nil {
		return httpapi.Key{}, err
	}
	if customers == 0 {
		n, events, err := seedDemo(ctx, a.db, demo.Generator{Seed: 1, Anchor: time.Now().In(a.cfg.location)}, 10000, newBar(10000, "generating demo pond", os.Stderr))
		if err != nil {
			return httpapi.Key{}, err
		}
		fmt.Fprintf(out, "demo pond in %s: %d customers, %d events\n", path, n, events)
	}
	secret, err := newKeySecret()
	if err != nil {
		return httpapi.Key{}, err
	}
	sum, err := httpapi.ParseKeyHash(httpapi.HashKey(secret))
	if err != nil {
		return httpapi.Key{}, err
	}
	fmt.Fprintf(out, "demo admin key (valid until koi stops): %s\n", secret)
	return httpapi.Key{Name: "demo", Role: httpapi.RoleAdmin, SHA256: sum}, nil
}

// newKeySecret returns a new random API key.
func newKeySecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "koi_" + hex.EncodeToString(b), nil
}

func newKeyCmd() *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Make a new API key: the secret for its user, and the hash for koi.yaml",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := httpapi.ParseRole(role); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			secret, err := newKeySecret()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key (give it to its user; koi keeps only its hash): %s\nfor koi.yaml, under api.keys:\n  - { name: %s, role: %s, sha256: %s }\n",
				secret, name, role, httpapi.HashKey(secret))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "key", "`name` of the key, in logs")
	cmd.Flags().StringVar(&role, "role", "ingest", "`role`: admin, marketer or ingest")
	return cmd
}
