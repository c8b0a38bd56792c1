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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/console"
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
journeys take their due steps every minute and on events, and the HTTP API
(/api/v1) takes events and customers.

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
func startDemo(ctx context.Context, a *app, path string, out io.Writer) (apikey.Key, error) {
	customers, _, err := a.db.Counts(ctx)
	if err != nil {
		return apikey.Key{}, err
	}
	if customers == 0 {
		seeded, err := seedDemo(ctx, a.db, demo.Generator{Seed: 1, Anchor: time.Now().In(a.cfg.location), Identities: true}, 10000, newBar(10000, "generating demo pond", os.Stderr))
		if err != nil {
			return apikey.Key{}, err
		}
		fmt.Fprintf(out, "demo pond in %s: %s\n", path, seeded)
	}
	secret, err := newKeySecret()
	if err != nil {
		return apikey.Key{}, err
	}
	sum, err := apikey.ParseKeyHash(apikey.HashKey(secret))
	if err != nil {
		return apikey.Key{}, err
	}
	fmt.Fprintf(out, "demo admin key (valid until koi stops): %s\n", secret)
	return apikey.Key{Name: "demo", Role: apikey.RoleAdmin, SHA256: sum}, nil
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
			if _, err := apikey.ParseRole(role); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			secret, err := newKeySecret()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key (give it to its user; koi keeps only its hash): %s\nfor koi.yaml, under api.keys:\n  - { name: %s, role: %s, sha256: %s }\n",
				secret, name, role, apikey.HashKey(secret))
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
	// storeClosing, when set, is called just before the store is closed,
	// when every worker has returned: the moment a test checks that
	// nothing is left running.
	storeClosing func()
}

// httpDrain is how long a stopping server waits for requests under way
// before it cancels them.
const httpDrain = 10 * time.Second

// serve runs koi as a server until ctx ends: the pond in memory, the
// playbooks on their schedules (reloaded on change, SIGHUP or the API),
// event-triggered rules, and the HTTP API.
//
// Every worker runs in one errgroup: when ctx ends or a worker fails, the
// group's context ends, the API stops taking requests and drains, the
// scheduler stops, the others return, and serve waits for all of them
// before it closes the store. No goroutine it started outlives it.
func serve(ctx context.Context, g *globals, o serveOptions, out, errOut io.Writer) error {
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
	defer func() {
		if o.storeClosing != nil {
			o.storeClosing()
		}
		// The pond as it stands, for the next start to read instead of
		// the tables (while nothing else changes the database meanwhile).
		a.engine.Wait()
		if err := a.engine.SavePondImage(context.WithoutCancel(ctx)); err != nil {
			log.Warn("pond image not saved; the next start loads from the database", "err", err)
		}
		a.Close()
	}()
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
	// Before any request: every event the API takes from now on is one
	// the trigger worker answers.
	if err := a.engine.StartTriggers(ctx); err != nil {
		return err
	}
	// What can fail for want of configuration or a free port fails here,
	// before any worker starts: there is nothing to unwind yet, and no
	// made-up scheduled run is started only to be stopped again.
	disp, err := a.dispatcher(log, m.JobDelivered)
	if err != nil {
		return err
	}
	wecomCB, err := a.cfg.wecomCallback()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	listen := o.listen
	if listen == "" {
		listen = a.cfg.API.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var reqs requests
	// A request's context ends only if it outlasts the drain, so that one
	// running a playbook stops between batches rather than running on.
	reqCtx, abortRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer abortRequests()
	con := console.New(a.engine, console.Config{
		Keys: keys, Now: o.clock.Now, Location: a.cfg.location, NextRun: sched.NextRun, Log: log, Warm: true, Context: ctx,
		Jobs: a.db, JobsChanged: nudgeDispatcher(a), Tasks: a.db, Guides: a.cfg.guides(),
		PlaybooksDir: playbooksDir(a.cfg.Playbooks), Reload: rl.reload,
		RunTest: consoleTestRunner(&playTester{cfg: a.cfg, registry: g.registry}),
	})
	srv := &http.Server{
		Handler: reqs.wrap(withConsole(con, httpapi.New(a.engine, httpapi.Config{
			Keys: keys, Location: a.cfg.location, Log: log, Now: o.clock.Now,
			EventTypes:  a.cfg.acceptedEventTypes(),
			Reload:      rl.reload,
			NextRun:     sched.NextRun,
			Metrics:     m.Handler(),
			Ready:       a.db.Ready,
			Jobs:        a.db,
			JobsChanged: nudgeDispatcher(a),
			Tasks:       a.db,
			Guides:      a.cfg.guides(),
			// WeCom's callbacks, checked by their signature.
			WeComCallback: wecomCB,
		}))),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.cfg.API.readTimeout,
		WriteTimeout:      a.cfg.API.writeTimeout,
		IdleTimeout:       a.cfg.API.idleTimeout,
	}

	grp, gctx := errgroup.WithContext(ctx)
	sched.Start()
	// The stopper: once the group's context ends, stop taking requests and
	// let those under way finish, then stop the scheduler (which waits for
	// its runs), in that order, so that nothing the API started is cut
	// short by the scheduler's stop.
	grp.Go(func() error {
		<-gctx.Done()
		log.Info("stopping")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), httpDrain)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Error("stopping the API", "err", err)
			abortRequests()
			_ = srv.Close()
		}
		reqs.closeAndWait()
		if err := sched.Shutdown(); err != nil {
			log.Error("stopping the scheduler", "err", err)
		}
		return nil
	})
	grp.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("the API stopped: %w", err)
		}
		return nil
	})
	if o.watch {
		run, err := watchPlaybooks(a.cfg.Playbooks, rl, log)
		if err != nil {
			log.Warn("not watching playbooks; reload with SIGHUP or the API", "err", err)
		} else {
			grp.Go(func() error {
				// Watching is a convenience: when it fails the server
				// goes on, reloaded by SIGHUP or the API.
				if err := run(gctx); err != nil {
					log.Warn("stopped watching playbooks; reload with SIGHUP or the API", "err", err)
				}
				return nil
			})
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	grp.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
				log.Info("SIGHUP: reloading playbooks")
				_, _ = rl.reload(gctx)
			}
		}
	})
	grp.Go(func() error {
		sweep(gctx, a.engine, o.clock.Now, log)
		return nil
	})
	grp.Go(func() error {
		passJourneys(gctx, a.engine, o.clock)
		return nil
	})
	grp.Go(func() error {
		// Attempts under way when it stops finish and are recorded.
		if err := disp.Run(gctx); err != nil {
			return fmt.Errorf("the outbox dispatcher stopped: %w", err)
		}
		return nil
	})
	grp.Go(func() error {
		if err := a.engine.RunTriggers(gctx, engine.TriggerOptions{MaxAge: a.cfg.triggerMaxAge, Now: o.clock.Now}); err != nil {
			return fmt.Errorf("event-triggered rules stopped: %w", err)
		}
		return nil
	})
	fmt.Fprintf(out, "koi serving http://%s/api/v1 with %s scheduled\n", ln.Addr(), plural(countScheduled(a), "playbook"))
	fmt.Fprintf(out, "console: http://%s/ (sign in with a marketer or admin key%s)\n", ln.Addr(), demoHint(o.demo))
	if o.serving != nil {
		o.serving(ln.Addr().String())
	}
	return grp.Wait()
}

// requests counts the API's requests under way, so that a stopping server
// can wait for the last handler to return before it closes the store:
// http.Server.Shutdown gives up at its deadline, and Close does not wait
// at all.
type requests struct {
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// wrap counts h's requests; once closed, it turns new ones away with 503.
func (r *requests) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.RLock()
		if r.closed {
			r.mu.RUnlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":"unavailable","message":"koi is stopping"}}`+"\n")
			return
		}
		r.wg.Add(1) // under the read lock: never after closeAndWait's Wait began
		r.mu.RUnlock()
		defer r.wg.Done()
		h.ServeHTTP(w, req)
	})
}

// closeAndWait turns new requests away and waits for those under way.
func (r *requests) closeAndWait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
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

// journeyEvery is how often the server takes journeys' due steps (events
// take theirs at once, through the trigger worker).
const journeyEvery = time.Minute

// passJourneys passes every journey at start (steps that came due while
// koi was down fire late, in order) and then every journeyEvery, until
// ctx ends.
func passJourneys(ctx context.Context, e *engine.Engine, clock clockwork.Clock) {
	t := clock.NewTicker(journeyEvery)
	defer t.Stop()
	for {
		e.ProcessJourneys(ctx, clock.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

// withConsole serves the API's paths with api and every other path with
// the console, on one listener.
func withConsole(con, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/api/"), p == "/healthz", p == "/readyz", p == "/metrics", p == "/wecom/callback":
			api.ServeHTTP(w, r)
		default:
			con.ServeHTTP(w, r)
		}
	})
}

// demoHint names the demo key in the console line of a demo server.
func demoHint(demo bool) string {
	if demo {
		return ": the demo admin key above"
	}
	return ""
}

// nudgeDispatcher returns what tells the outbox dispatcher, once it runs,
// to look for due jobs at once (after a retry).
func nudgeDispatcher(a *app) func() {
	return func() {
		if d := a.disp.Load(); d != nil {
			d.Nudge()
		}
	}
}

// playbooksDir is the directory the console's editor writes playbooks
// into: the configured playbooks path when it is a directory, else none
// (a single file is edited in place by its owner, not through koi).
func playbooksDir(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return path
	}
	return ""
}
