package cli

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

	"github.com/jonboulle/clockwork"
	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/httpapi"
	"github.com/koihq/koi/engine/metrics"
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
			return serve(ctx, g, serveOptions{listen: listen, demo: demoArg, watch: true}, cmd.OutOrStdout(), cmd.ErrOrStderr())
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

// serveOptions are koi serve's flags, and what tests inject.
type serveOptions struct {
	listen string
	demo   bool
	// watch reloads playbooks when their files change.
	watch bool
	// clock drives schedules, triggers and the API (default: real time).
	clock clockwork.Clock
	// serving, when set, is told the address once the API listens.
	serving func(addr string)
}

// serve runs koi as a server until ctx ends: the pond in memory, the
// playbooks on their schedules (reloaded on change, SIGHUP or the API),
// event-triggered rules, and the HTTP API.
func serve(ctx context.Context, g *globals, o serveOptions, out, errOut io.Writer) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	cfg, err := loadConfig(g.config)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	log := cfg.Log.logger(errOut)
	m := metrics.New()
	a, err := openApp(ctx, g, 0, func(c *engine.Config) { c.Observer, c.Logger = m, log })
	if err != nil {
		return err
	}
	defer a.Close()
	keys := a.cfg.API.keys
	if o.demo {
		k, err := startDemo(ctx, a, g.db, out)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return &exitError{code: exitUsage, err: errors.New("no API keys: add api.keys to koi.yaml (koi key makes one), or use --demo")}
	}
	if err := a.engine.Warm(ctx); err != nil {
		return err
	}
	sched, err := scheduler.New(a.engine, scheduler.Options{Log: log, Clock: o.clock})
	if err != nil {
		return err
	}
	rl := &reloader{engine: a.engine, sched: sched, paths: []string{a.cfg.Playbooks}, log: log}
	if _, err := rl.reload(ctx); err != nil && !isLoadError(err) {
		return err
	}
	sched.Start()
	if o.watch {
		if err := watchPlaybooks(ctx, a.cfg.Playbooks, rl, log); err != nil {
			log.Warn("not watching playbooks; reload with SIGHUP or the API", "err", err)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading playbooks")
				_, _ = rl.reload(ctx)
			}
		}
	}()
	go sweep(ctx, a.engine, o.clock.Now, log)
	disp, err := a.dispatcher(log, m.JobDelivered)
	if err != nil {
		stop()
		_ = sched.Shutdown()
		return err
	}
	dispatchDone := make(chan struct{})
	go func() {
		defer close(dispatchDone)
		if err := disp.Run(ctx); err != nil {
			log.Error("the outbox dispatcher stopped", "err", err)
		}
	}()
	triggersDone := make(chan struct{})
	go func() {
		defer close(triggersDone)
		if err := a.engine.RunTriggers(ctx, engine.TriggerOptions{MaxAge: a.cfg.triggerMaxAge, Now: o.clock.Now}); err != nil {
			log.Error("event-triggered rules stopped", "err", err)
		}
	}()
	listen := o.listen
	if listen == "" {
		listen = a.cfg.API.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		stop()
		<-triggersDone
		<-dispatchDone
		_ = sched.Shutdown()
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler: httpapi.New(a.engine, httpapi.Config{
			Keys: keys, Location: a.cfg.location, Log: log, Now: o.clock.Now,
			EventTypes: a.cfg.Events.Types,
			Reload:     rl.reload,
			NextRun:    sched.NextRun,
			Metrics:    m.Handler(),
			Ready:      a.db.Ready,
			Jobs:       a.db,
			JobsChanged: func() {
				if d := a.disp.Load(); d != nil {
					d.Nudge()
				}
			},
			Tasks:  a.db,
			Guides: a.cfg.guides(),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.cfg.API.readTimeout,
		WriteTimeout:      a.cfg.API.writeTimeout,
		IdleTimeout:       a.cfg.API.idleTimeout,
	}
	fmt.Fprintf(out, "koi serving http://%s/api/v1 with %s scheduled\n", ln.Addr(), plural(countScheduled(a), "playbook"))
	if o.serving != nil {
		o.serving(ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("stopping")
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		log.Error("stopping the API", "err", serr)
	}
	if serr := sched.Shutdown(); serr != nil {
		log.Error("stopping the scheduler", "err", serr)
	}
	<-triggersDone
	<-dispatchDone // attempts under way finish and are recorded
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sweepEvery is how often the server expires held runs and coupons.
const sweepEvery = time.Minute

// sweep does the engine's housekeeping of time passing (Engine.Sweep) at
// start and then every sweepEvery, until ctx ends.
func sweep(ctx context.Context, e *engine.Engine, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if err := e.Sweep(ctx, now()); err != nil && ctx.Err() == nil {
			log.Warn("expiring held runs and coupons", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
