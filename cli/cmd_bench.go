package cli

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
)

// benchFS is the fixed bench set: five playbooks of four rules each, the
// same twenty rules as SQL (rules.sql) and the profile views they need.
//
//go:embed bench/*.yaml bench/*.sql
var benchFS embed.FS

// benchAnchor is the bench pond's present. It is fixed, not today, so the
// bench measures the same work on every day it is run.
var benchAnchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// benchReport is koi bench's result; --json prints it as is.
type benchReport struct {
	Customers int `json:"customers"`
	Events    int `json:"events"`
	Reps      int `json:"reps"`
	// The medians over the repetitions, in seconds.
	EvalSeconds    float64 `json:"eval_seconds"`
	SQLSeconds     float64 `json:"sql_seconds"`
	StartupSeconds float64 `json:"startup_seconds"`
	// SQLRatio is sql_seconds / eval_seconds.
	SQLRatio float64 `json:"sql_ratio"`
	// IngestEventsPerSecond is a burst of IngestEvents through the
	// engine's ingest call, in the last koi repetition's process, without
	// HTTP: what the store alone takes. The budget's ingest figure is
	// IngestSustainedEventsPerSecond.
	IngestEventsPerSecond float64 `json:"ingest_events_per_second"`
	// OutboxDeliveriesPerSecond is the median over --reps.
	OutboxDeliveriesPerSecond float64 `json:"outbox_deliveries_per_second"`
	// RSSBytes is the highest peak resident memory of the processes on
	// the pond as generated: the cold start, the repetitions (open, load,
	// run, ingest) and the servers until their sustained ingest (see
	// ServePondRSSBytes); generation and the SQL side run in the parent
	// and do not count. HistoryRSSBytes is the same on the pond
	// with a year of fire history.
	RSSBytes        int64 `json:"rss_bytes"`
	HistoryRSSBytes int64 `json:"history_rss_bytes"`
	// StartupSeconds is a restart's (the pond read from the image a clean
	// stop left); ColdStartupSeconds a first start's or one after a crash
	// (the pond read from the tables), one sample.
	ColdStartupSeconds        float64          `json:"cold_startup_seconds"`
	HistoryColdStartupSeconds float64          `json:"history_cold_startup_seconds"`
	Matched                   int              `json:"matched"`
	Fired                     int              `json:"fired"`
	Rules                     []benchRuleCount `json:"rules"`
	EvalSamples               []float64        `json:"eval_samples"`
	SQLSamples                []float64        `json:"sql_samples"`
	StartupSamples            []float64        `json:"startup_samples"`
	OutboxSamples             []float64        `json:"outbox_samples"`
	OutboxJobs                int              `json:"outbox_jobs"`
	Machine                   benchMachine     `json:"machine"`
	Budget                    []benchCheck     `json:"budget"`
	GenerateSeconds           float64          `json:"generate_seconds"`
	// FirstRunSeconds is the first run in a freshly started process (the
	// median of FirstRunSamples); eval_seconds is the same rules' run after
	// it.
	FirstRunSeconds float64   `json:"first_run_seconds"`
	FirstRunSamples []float64 `json:"first_run_samples"`
	// JourneyStepsPerSecond is the steps a journey pass takes per second,
	// fires written, over JourneySteps due steps (a tenth of the pond):
	// the median of JourneyStepsSamples (bench_journey.go).
	JourneyStepsPerSecond float64   `json:"journey_steps_per_second"`
	JourneyStepsSamples   []float64 `json:"journey_steps_per_second_samples"`
	JourneySteps          int       `json:"journey_steps"`
	// HistoryEvalSeconds is eval_seconds on a copy of the pond with a
	// year of daily-run fire history (HistoryFires rows, at least ten per
	// customer): what a server lives with after a year; the median of
	// HistoryEvalSamples.
	HistoryEvalSeconds float64   `json:"history_eval_seconds"`
	HistoryEvalSamples []float64 `json:"history_eval_samples"`
	HistoryFires       int       `json:"history_fires"`
	// HistoryStartupSeconds is startup_seconds on that pond: the history
	// is loaded into memory with it.
	HistoryStartupSeconds float64   `json:"history_startup_seconds"`
	HistoryStartupSamples []float64 `json:"history_startup_samples"`
	IngestEvents          int       `json:"ingest_events"`
	IngestBatch           int       `json:"ingest_batch"`
	// IngestSustainedEventsPerSecond is the events per second a real koi
	// serve acknowledged over HTTP on loopback, batches of IngestBatch
	// from IngestClients clients at once, sustained for IngestSeconds:
	// the median of IngestSustainedSamples, one per repetition
	// (bench_serve.go).
	IngestSustainedEventsPerSecond float64   `json:"ingest_sustained_events_per_second"`
	IngestSustainedSamples         []float64 `json:"ingest_sustained_samples"`
	IngestSeconds                  float64   `json:"ingest_seconds"`
	IngestClients                  int       `json:"ingest_clients"`
	// TriggerLatencyP99Ms and TriggerLatencyP50Ms are percentiles of the
	// time from an event's acknowledgement by koi serve to the commit of
	// the fire an `on:` rule made of it, seen by a client, over
	// TriggerEvents events, one at a time: the medians of the repetitions'
	// percentiles, which the samples list.
	TriggerLatencyP99Ms      float64   `json:"trigger_latency_p99_ms"`
	TriggerLatencyP50Ms      float64   `json:"trigger_latency_p50_ms"`
	TriggerLatencyP99Samples []float64 `json:"trigger_latency_p99_samples"`
	TriggerLatencyP50Samples []float64 `json:"trigger_latency_p50_samples"`
	TriggerEvents            int       `json:"trigger_events"`
	// TriggerFirstLatencyMs is the same latency of the first fire after
	// the server started (not among the samples): it also scores the
	// population, as a server does once an hour. The median.
	TriggerFirstLatencyMs float64 `json:"trigger_first_latency_ms"`
	// ConsoleP99Ms is the 99th percentile of the console's page times, as
	// a signed-in client on loopback sees them, over every page
	// (benchConsolePages) ConsoleRequests times each, once the pond page
	// has computed its figures: the median of the repetitions'
	// percentiles. ConsolePondFirstMs is that first pond page.
	ConsoleP99Ms       float64   `json:"console_p99_ms"`
	ConsoleP99Samples  []float64 `json:"console_p99_samples"`
	ConsolePondFirstMs float64   `json:"console_pond_first_ms"`
	ConsoleRequests    int       `json:"console_requests"`
	// ServeRSSBytes is the highest peak resident memory of the koi serve
	// processes, at their stop: their ponds then also hold the events of
	// the sustained ingest. ServePondRSSBytes is their highest peak before
	// that ingest, on the pond as generated (after start-up and the
	// trigger samples), which rss_bytes counts; where the system cannot
	// tell it (not Linux) it is the peak at the stop.
	ServeRSSBytes     int64 `json:"serve_rss_bytes"`
	ServePondRSSBytes int64 `json:"serve_pond_rss_bytes"`
	countsDiffer      bool
}

type benchRuleCount struct {
	Rule string `json:"rule"` // playbook/rule
	Koi  int    `json:"koi"`
	SQL  int    `json:"sql"`
}

type benchMachine struct {
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

type benchCheck struct {
	What   string  `json:"what"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

func newBenchCmd(g *globals) *cobra.Command {
	var (
		customers, reps, ingestN, ingestBatch, outboxJobs int
		ingestClients, triggerEvents, consoleRequests     int
		ingestSeconds                                     float64
		seed                                              uint64
		asJSON                                            bool
		dir, cpuProfile                                   string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure koi on a fresh synthetic pond: evaluation against hand-written SQL, ingest, start-up, memory",
		Long: `bench generates a deterministic demo pond in a temporary database, then
measures, as the median of --reps repetitions, each koi repetition a fresh
koi process (as a server that just restarted after a clean stop) on a fresh
copy of the pond and of the pond image that stop left:

  eval_seconds     one full run of the bench set (20 rules in 5 playbooks) over
                   every customer, from the start of the run to its fires committed,
                   in a process that has run once already (the same rules under
                   other names: nothing of the first run cools them down)
  first_run_seconds
                   that first run, the first in a freshly started process
  history_eval_seconds, history_startup_seconds
                   eval_seconds and startup_seconds on a copy of the pond that has
                   a year of daily-run fire history (history_fires rows, at least
                   10 per customer), which koi loads into memory at start-up
  sql_seconds      the same 20 rules as hand-written SQL over the same data
  startup_seconds  opening the database and loading the pond, from the pond image
  cold_startup_seconds, history_cold_startup_seconds
                   the same from the tables, as a first start or one after a
                   crash does (one sample each: the process that saves the image)
  ingest_events_per_second
                   a burst of --ingest-events through the engine's ingest call,
                   without HTTP, in batches of --ingest-batch (not a budget line)
  ingest_sustained_events_per_second
                   events per second a real koi serve acknowledges, each batch
                   durable when acknowledged: batches of --ingest-batch new visits
                   posted to /api/v1/events/batch on loopback by --ingest-clients
                   clients at once, for --ingest-seconds
  trigger_latency_p99_ms, trigger_latency_p50_ms
                   from an order's acknowledgement by that server to the commit of
                   the fire an on: rule made of it, as a client polling
                   /api/v1/fires sees it; --trigger-events orders, one at a time,
                   on the pond as generated
  journey_steps_per_second
                   the steps a journey pass takes a second, fires written: a tenth of
                   the pond entered a journey at the bench's moment, and the pass a
                   day later takes each one's first step (a tag, or a holdout)
  outbox           messages per second the dispatcher delivers, with its default
                   settings, to a signature-checking webhook receiver on loopback
                   (--outbox-jobs of them, enqueued by a run; in this process)

and rss_bytes, the highest peak resident memory of the processes on the pond
as generated: the cold start, the repetitions and the koi serve processes
until their sustained ingest (serve_pond_rss_bytes; not counting the
generation of the pond or the SQL side); serve_rss_bytes is the servers' peak
at their stop, their ponds grown by the ingest; history_rss_bytes is the
processes' on the pond with history. Every customer of
the bench pond has an attrs value of its own (attrs.member_no), as real ponds
carry store, campaign and channel ids.

Each repetition of the server measures is a koi serve process of its own on
a fresh copy of the pond, holding the bench set (without its schedules) and
an on: playbook, stopped with SIGTERM; --ingest-seconds 0,
--trigger-events 0 and --console-requests 0 skip its measures.

It fails when koi and SQL disagree on any rule's count.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if customers <= 0 || reps <= 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--customers and --reps must be positive")}
			}
			keep := dir != ""
			if dir == "" {
				tmp, err := os.MkdirTemp("", "koi-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			progress := cmd.ErrOrStderr()
			if asJSON {
				progress = io.Discard
			}
			if ingestN <= 0 {
				ingestN = min(max(customers/5, 10000), 200000)
			}
			if ingestBatch <= 0 || ingestBatch > benchMaxBatch {
				return &exitError{code: exitUsage, err: fmt.Errorf("--ingest-batch must be 1 to %d (the API's largest batch)", benchMaxBatch)}
			}
			serveOpts := benchServeOptions{ingest: time.Duration(ingestSeconds * float64(time.Second)), batch: ingestBatch,
				clients: ingestClients, triggerEvents: triggerEvents, consoleRequests: consoleRequests}
			switch {
			case !(ingestSeconds >= 0 && ingestSeconds <= 3600):
				return &exitError{code: exitUsage, err: fmt.Errorf("--ingest-seconds must be 0 to 3600")}
			case ingestClients < 1 || ingestClients > 64:
				return &exitError{code: exitUsage, err: fmt.Errorf("--ingest-clients must be 1 to 64")}
			case triggerEvents < 0 || triggerEvents > 100_000 || triggerEvents >= customers:
				// Each sample is a customer of its own, besides the first.
				return &exitError{code: exitUsage, err: fmt.Errorf("--trigger-events must be 0 to 100,000, and fewer than --customers")}
			}
			rep, err := runBench(cmd.Context(), dir, keep, customers, reps, ingestN, ingestBatch, seed, cpuProfile, progress)
			if err != nil {
				return err
			}
			rep.ConsoleRequests = consoleRequests
			if serveOpts.ingest > 0 || serveOpts.triggerEvents > 0 || serveOpts.consoleRequests > 0 {
				if err := benchServe(cmd.Context(), dir, customers, reps, serveOpts, rep, progress); err != nil {
					return err
				}
			}
			if outboxJobs > 0 {
				samples, err := benchOutbox(cmd.Context(), dir, outboxJobs, reps, progress)
				if err != nil {
					return err
				}
				rep.OutboxJobs, rep.OutboxSamples, rep.OutboxDeliveriesPerSecond = outboxJobs, samples, median(samples)
			}
			rep.Budget = rep.checkBudget()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printBench(cmd.OutOrStdout(), rep)
			}
			if rep.countsDiffer {
				return &exitError{code: exitFailed, err: fmt.Errorf("koi and SQL disagree on the bench set's matches: the comparison is void")}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 1_000_000, "number of `customers` (about 10 events each)")
	cmd.Flags().IntVar(&reps, "reps", 3, "`repetitions` of each measurement; the median is reported")
	cmd.Flags().IntVar(&ingestN, "ingest-events", 0, "`events` to ingest (default: a fifth of --customers, 10,000 to 200,000)")
	cmd.Flags().IntVar(&ingestBatch, "ingest-batch", 1000, "`events` per ingest batch (one transaction, one HTTP request), at most 10,000")
	cmd.Flags().Float64Var(&ingestSeconds, "ingest-seconds", 300, "`seconds` of sustained HTTP ingest into koi serve, each repetition (0 skips it)")
	cmd.Flags().IntVar(&ingestClients, "ingest-clients", 4, "HTTP `clients` posting ingest batches at once")
	cmd.Flags().IntVar(&consoleRequests, "console-requests", 10, "times each console page is timed, each repetition (0 skips it)")
	cmd.Flags().IntVar(&triggerEvents, "trigger-events", 500, "`events` timed from acknowledgement to their on: rule's fire, each repetition (0 skips it)")
	cmd.Flags().IntVar(&outboxJobs, "outbox-jobs", 50_000, "`messages` for the outbox measure (0 skips it)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "demo pond `seed`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write CPU profiles (go tool pprof): generation and SQL to `file`, koi repetition N's phases to file.repN.startup, .first, .eval (eval_seconds), .journey and .ingest, with history to file.history-repN.PHASE")
	cmd.Flags().StringVar(&dir, "dir", "", "keep the bench databases in `dir` instead of a temporary directory")
	return cmd
}

func runBench(ctx context.Context, dir string, keep bool, customers, reps, ingestN, ingestBatch int, seed uint64, cpuProfile string, progress io.Writer) (*benchReport, error) {
	rep := &benchReport{Customers: customers, Reps: reps, IngestBatch: ingestBatch,
		Machine: benchMachine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}}
	pristine := filepath.Join(dir, "pristine.db")
	playbooks := filepath.Join(dir, "playbooks")
	if err := writeBenchPlaybooks(playbooks); err != nil {
		return nil, err
	}

	// The pond, generated once.
	start := time.Now()
	events, err := generateBenchPond(ctx, pristine, customers, seed, progress)
	if err != nil {
		return nil, fmt.Errorf("generate pond: %w", err)
	}
	rep.Events, rep.GenerateSeconds = events, time.Since(start).Seconds()

	// A first start, which reads the tables and leaves the pond image a
	// restarted server reads (see bench_image.go).
	fmt.Fprintln(progress, "koi: a cold start, saving the pond image")
	image, cold, rss, err := primeBenchImage(ctx, pristine, playbooks)
	if err != nil {
		return nil, err
	}
	defer os.Remove(image)
	rep.ColdStartupSeconds, rep.RSSBytes = cold, rss

	// koi: each repetition is a fresh koi process, as a server that just
	// restarted, on a fresh copy of the pristine database and its image,
	// so every run fires the same. Its peak memory is the process's own.
	var koiCounts map[string]int
	for r := 0; r < reps; r++ {
		fmt.Fprintf(progress, "koi: repetition %d of %d\n", r+1, reps)
		work := filepath.Join(dir, "work.db")
		if err := copyDB(pristine, work); err != nil {
			return nil, err
		}
		if err := copyBenchImage(image, work); err != nil {
			return nil, err
		}
		ingest := 0
		if r == reps-1 {
			ingest = ingestN
		}
		profile := ""
		if cpuProfile != "" {
			profile = fmt.Sprintf("%s.rep%d", cpuProfile, r+1)
		}
		res, rss, err := benchRepProcess(ctx, work, playbooks, ingest, ingestBatch, profile)
		if err != nil {
			return nil, fmt.Errorf("koi repetition %d: %w", r+1, err)
		}
		if !res.FromImage {
			return nil, fmt.Errorf("koi repetition %d read its pond from the tables, not the image primed for it", r+1)
		}
		rep.RSSBytes = max(rep.RSSBytes, rss)
		koiCounts, rep.Fired = res.Counts, res.Fired
		rep.StartupSamples = append(rep.StartupSamples, res.StartupSeconds)
		rep.EvalSamples = append(rep.EvalSamples, res.EvalSeconds)
		rep.FirstRunSamples = append(rep.FirstRunSamples, res.FirstRunSeconds)
		if res.JourneySeconds > 0 {
			rep.JourneySteps = res.JourneySteps
			rep.JourneyStepsSamples = append(rep.JourneyStepsSamples, float64(res.JourneySteps)/res.JourneySeconds)
		}
		if ingest > 0 {
			rep.IngestEvents, rep.IngestEventsPerSecond = res.IngestEvents, res.IngestEventsPerSecond
		}
	}

	// The same run after a year of fire history, in fresh processes on
	// fresh copies of a history-laden pond. History suppresses fires but
	// changes no match: the matches must be the same as without it.
	historic := filepath.Join(dir, "history.db")
	if err := copyDB(pristine, historic); err != nil {
		return nil, err
	}
	if rep.HistoryFires, err = addBenchHistory(ctx, historic, playbooks, customers, seed, progress); err != nil {
		return nil, fmt.Errorf("fire history: %w", err)
	}
	fmt.Fprintln(progress, "koi with a year of history: a cold start, saving the pond image")
	historyImage, cold, rss, err := primeBenchImage(ctx, historic, playbooks)
	if err != nil {
		return nil, err
	}
	defer os.Remove(historyImage)
	rep.HistoryColdStartupSeconds, rep.HistoryRSSBytes = cold, rss
	for r := 0; r < reps; r++ {
		fmt.Fprintf(progress, "koi with a year of history: repetition %d of %d\n", r+1, reps)
		work := filepath.Join(dir, "work.db")
		if err := copyDB(historic, work); err != nil {
			return nil, err
		}
		if err := copyBenchImage(historyImage, work); err != nil {
			return nil, err
		}
		profile := ""
		if cpuProfile != "" {
			profile = fmt.Sprintf("%s.history-rep%d", cpuProfile, r+1)
		}
		res, rss, err := benchRepProcess(ctx, work, playbooks, 0, ingestBatch, profile)
		if err != nil {
			return nil, fmt.Errorf("koi repetition %d with history: %w", r+1, err)
		}
		if !res.FromImage {
			return nil, fmt.Errorf("koi repetition %d with history read its pond from the tables, not the image primed for it", r+1)
		}
		rep.HistoryRSSBytes = max(rep.HistoryRSSBytes, rss)
		rep.HistoryEvalSamples = append(rep.HistoryEvalSamples, res.EvalSeconds)
		rep.HistoryStartupSamples = append(rep.HistoryStartupSamples, res.StartupSeconds)
		if !maps.Equal(res.Counts, koiCounts) {
			return nil, fmt.Errorf("koi repetition %d with history matched other customers than without: %v, want %v", r+1, res.Counts, koiCounts)
		}
	}
	if !keep {
		_ = os.Remove(historic) // 2.4 GB at a million customers, done with
	}

	// SQL, on the pristine data.
	sqlCounts, samples, err := benchSQL(ctx, pristine, reps, progress)
	if err != nil {
		return nil, err
	}
	rep.SQLSamples = samples

	rep.Rules, rep.Matched, rep.countsDiffer = compareCounts(koiCounts, sqlCounts)
	rep.EvalSeconds = median(rep.EvalSamples)
	rep.SQLSeconds = median(rep.SQLSamples)
	rep.StartupSeconds = median(rep.StartupSamples)
	rep.HistoryEvalSeconds = median(rep.HistoryEvalSamples)
	rep.FirstRunSeconds = median(rep.FirstRunSamples)
	rep.JourneyStepsPerSecond = median(rep.JourneyStepsSamples)
	rep.HistoryStartupSeconds = median(rep.HistoryStartupSamples)
	if rep.EvalSeconds > 0 {
		rep.SQLRatio = rep.SQLSeconds / rep.EvalSeconds
	}
	return rep, nil
}

// checkBudget holds the figures against the budget (DESIGN §8), once every
// measure has run: the servers' memory on the pond counts in rss_bytes. A measure
// skipped by its flag has no line.
func (r *benchReport) checkBudget() []benchCheck {
	b := []benchCheck{
		{What: "eval_seconds", Value: r.EvalSeconds, Target: "<= 1", Met: r.EvalSeconds <= 1},
		{What: "sql_seconds / eval_seconds", Value: r.SQLRatio, Target: ">= 10", Met: r.SQLRatio >= 10},
		{What: "startup_seconds", Value: r.StartupSeconds, Target: "<= 3", Met: r.StartupSeconds <= 3},
		{What: "rss_bytes", Value: float64(r.RSSBytes), Target: "<= 1 GiB", Met: r.RSSBytes <= 1<<30},
		{What: "history_eval_seconds / eval_seconds", Value: r.HistoryEvalSeconds / r.EvalSeconds, Target: "<= 1.1", Met: r.HistoryEvalSeconds <= 1.1*r.EvalSeconds},
		{What: "first_run_seconds / eval_seconds", Value: r.FirstRunSeconds / r.EvalSeconds, Target: "<= 1.1", Met: r.FirstRunSeconds <= 1.1*r.EvalSeconds},
	}
	if len(r.JourneyStepsSamples) > 0 {
		// DESIGN §8: 100,000 due steps, fires written, in at most 2 s.
		b = append(b, benchCheck{What: "journey_steps_per_second", Value: r.JourneyStepsPerSecond, Target: ">= 50000", Met: r.JourneyStepsPerSecond >= 50000})
	}
	if len(r.IngestSustainedSamples) > 0 {
		b = append(b, benchCheck{What: "ingest_sustained_events_per_second", Value: r.IngestSustainedEventsPerSecond,
			Target: ">= 100000", Met: r.IngestSustainedEventsPerSecond >= 100000})
	}
	if len(r.TriggerLatencyP99Samples) > 0 {
		b = append(b, benchCheck{What: "trigger_latency_p99_ms", Value: r.TriggerLatencyP99Ms, Target: "<= 100", Met: r.TriggerLatencyP99Ms <= 100})
	}
	if len(r.ConsoleP99Samples) > 0 {
		b = append(b, benchCheck{What: "console_p99_ms", Value: r.ConsoleP99Ms, Target: "<= 300", Met: r.ConsoleP99Ms <= 300})
	}
	if r.OutboxJobs > 0 {
		b = append(b, benchCheck{What: "outbox_deliveries_per_second", Value: r.OutboxDeliveriesPerSecond,
			Target: ">= 10000", Met: r.OutboxDeliveriesPerSecond >= 10000})
	}
	return b
}

func writeBenchPlaybooks(dir string) error {
	return eachBenchPlaybook(dir, func(name string, b []byte) error {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
		// The same playbook under another name: a second run of the same
		// rules, with fire history of its own, in the same process.
		again := benchNameLine.ReplaceAll(b, []byte("${1}"+benchAgain))
		return os.WriteFile(filepath.Join(dir, "again-"+name), again, 0o644)
	})
}

// eachBenchPlaybook makes dir and calls fn with each playbook of the bench
// set, its file name and text.
func eachBenchPlaybook(dir string, fn func(name string, b []byte) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := benchFS.ReadDir("bench")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := benchFS.ReadFile("bench/" + e.Name())
		if err != nil {
			return err
		}
		if err := fn(e.Name(), b); err != nil {
			return err
		}
	}
	return nil
}

// benchAgain ends the names of the bench set's second copy; benchNameLine
// finds a bench playbook's name.
const benchAgain = "-again"

var benchNameLine = regexp.MustCompile(`(?m)^(name: bench-[a-z]+)$`)

func generateBenchPond(ctx context.Context, path string, customers int, seed uint64, progress io.Writer) (int, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	bar := newBar(customers, "generating pond", progress)
	seeded, err := seedDemo(ctx, db, demo.Generator{Seed: seed, Anchor: benchAnchor, UniqueAttrs: true}, customers, bar)
	if err != nil {
		return 0, err
	}
	events := seeded.events
	// Fold the WAL into the database file, so a file copy is the database.
	if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return events, nil
}

func copyDB(from, to string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(to + suffix)
	}
	return copyFile(from, to)
}

// copyFile copies from to to, written back to the disk before it returns:
// now, not by the kernel half a minute later, in the middle of the
// measurements, competing with their fsyncs.
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return dst.Close()
}

// benchRepResult is what one koi repetition measured; the bench-rep
// command prints it as JSON for the parent bench.
type benchRepResult struct {
	Counts                map[string]int `json:"counts"`
	Fired                 int            `json:"fired"`
	StartupSeconds        float64        `json:"startup_seconds"`
	EvalSeconds           float64        `json:"eval_seconds"`
	FirstRunSeconds       float64        `json:"first_run_seconds"`
	IngestEvents          int            `json:"ingest_events,omitempty"`
	IngestEventsPerSecond float64        `json:"ingest_events_per_second,omitempty"`
	// JourneySteps and JourneySeconds are the bench journey's timed pass
	// (bench_journey.go).
	JourneySteps   int     `json:"journey_steps,omitempty"`
	JourneySeconds float64 `json:"journey_seconds,omitempty"`
	// FromImage says the process read its pond from the pond image.
	FromImage bool `json:"from_image"`
}

// benchRepProcess runs one repetition as a child koi process and returns
// its result and peak resident memory.
func benchRepProcess(ctx context.Context, db, playbooks string, ingest, ingestBatch int, cpuProfile string) (*benchRepResult, int64, error) {
	return benchRepProcessArgs(ctx, db, playbooks,
		"--ingest-events", strconv.Itoa(ingest), "--ingest-batch", strconv.Itoa(ingestBatch), "--cpuprofile", cpuProfile)
}

// benchRepProcessArgs runs bench-rep with more arguments.
func benchRepProcessArgs(ctx context.Context, db, playbooks string, args ...string) (*benchRepResult, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"bench-rep", "--db", db, "--playbooks", playbooks}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res benchRepResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, 0, fmt.Errorf("bench-rep output: %w", err)
	}
	return &res, maxRSS(cmd.ProcessState), nil
}

func newBenchRepCmd(g *globals) *cobra.Command {
	var playbooks, cpuProfile string
	var ingestN, ingestBatch int
	var prime bool
	cmd := &cobra.Command{
		Use:    "bench-rep",
		Short:  "One repetition of koi bench, in a process of its own (used by koi bench)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res *benchRepResult
			var err error
			if prime {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
				res, err = benchPrime(cmd.Context(), g.db, playbooks)
				if err != nil {
					return err
				}
			} else {
				prof := &phaseProfile{base: cpuProfile}
				defer prof.end()
				if res, err = benchKoiOnce(cmd.Context(), g.db, playbooks, ingestN, ingestBatch, prof); err != nil {
					return err
				}
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
	cmd.Flags().BoolVar(&prime, "prime", false, "only load the pond and save its image (measures a cold start)")
	cmd.Flags().StringVar(&playbooks, "playbooks", "", "bench set `dir`")
	cmd.Flags().IntVar(&ingestN, "ingest-events", 0, "`events` to ingest after the run")
	cmd.Flags().IntVar(&ingestBatch, "ingest-batch", 1000, "`events` per ingest batch")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write CPU profiles: a cold start's to `file`; a repetition's phases to file.startup, .first, .eval, .journey and .ingest")
	return cmd
}

// benchPhases are the phases of a koi repetition profiled apart
// (phaseProfile), each one a measure of the report: start-up, the first
// run, the timed run (eval_seconds), the journey pass and the ingest.
var benchPhases = []string{"startup", "first", "eval", "journey", "ingest"}

// phaseProfile writes a CPU profile of each phase of a repetition to a file
// of its own, base.PHASE: one profile of the whole process mixed the
// start-up, the first run and the journey pass into the timed run's, the
// one a missed eval_seconds is read from. With base empty it does nothing.
type phaseProfile struct {
	base string
	stop func()
}

// start ends the phase under way and profiles phase.
func (p *phaseProfile) start(phase string) error {
	p.end()
	if p.base == "" {
		return nil
	}
	stop, err := startCPUProfile(p.base + "." + phase)
	if err != nil {
		return fmt.Errorf("profile %s: %w", phase, err)
	}
	p.stop = stop
	return nil
}

// end ends the phase under way, writing its profile.
func (p *phaseProfile) end() {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
}

// benchKoiOnce opens a copy of the pond, loads it (start-up) and runs the
// bench set once (eval). With ingestN set it then measures ingest. prof
// profiles each phase.
func benchKoiOnce(ctx context.Context, path, playbooks string, ingestN, ingestBatch int, prof *phaseProfile) (*benchRepResult, error) {
	if err := prof.start("startup"); err != nil {
		return nil, err
	}
	start := time.Now()
	db, e, err := openBenchEngine(ctx, path, playbooks)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	_, imageErr := os.Stat(db.ImagePath())
	if err := e.Warm(ctx); err != nil {
		return nil, err
	}
	res := &benchRepResult{Counts: map[string]int{}, StartupSeconds: time.Since(start).Seconds()}
	// A load leaves a current image in place and removes any other.
	if _, err := os.Stat(db.ImagePath()); err == nil && imageErr == nil {
		res.FromImage = true
	}

	// The first run of the process is the bench set; then the same rules
	// under other names, which no fire of the first run cools down: a
	// server's later run, with the memory the first one touched.
	var first, again []string
	for _, pb := range e.Playbooks() {
		if strings.HasSuffix(pb.Name, benchAgain) {
			again = append(again, pb.Name)
		} else {
			first = append(first, pb.Name)
		}
	}
	timedRun := func(names []string) ([]*engine.Run, float64, error) {
		start := time.Now()
		runs, err := e.Run(ctx, engine.RunRequest{At: benchAnchor, Playbooks: names})
		took := time.Since(start).Seconds()
		if err != nil {
			return nil, 0, err
		}
		for _, r := range runs {
			if r.Status != engine.RunDone {
				return nil, 0, fmt.Errorf("bench run of %s ended %s: %s", r.Playbook, r.Status, r.Error)
			}
		}
		return runs, took, nil
	}
	if err := prof.start("first"); err != nil {
		return nil, err
	}
	runs, took, err := timedRun(first)
	if err != nil {
		return nil, err
	}
	res.FirstRunSeconds = took
	for _, r := range runs {
		res.Fired += r.Fired
		for _, c := range r.Rules {
			res.Counts[r.Playbook+"/"+c.Rule] = c.Matched
		}
	}
	if err := prof.start("eval"); err != nil {
		return nil, err
	}
	runs, took, err = timedRun(again)
	prof.end()
	if err != nil {
		return nil, err
	}
	res.EvalSeconds = took
	for _, r := range runs {
		for _, c := range r.Rules {
			name := strings.TrimSuffix(r.Playbook, benchAgain) + "/" + c.Rule
			if n, ok := res.Counts[name]; !ok || n != c.Matched {
				return nil, fmt.Errorf("the second run of %s matched %d, the first %d: not the same work", name, c.Matched, n)
			}
		}
	}
	if res.JourneySteps, res.JourneySeconds, err = benchJourneyPass(ctx, e, prof); err != nil {
		return nil, err
	}
	prof.end()
	if ingestN > 0 {
		if err := prof.start("ingest"); err != nil {
			return nil, err
		}
		if res.IngestEventsPerSecond, err = benchIngest(ctx, e, db, ingestN, ingestBatch); err != nil {
			return nil, err
		}
		res.IngestEvents = ingestN
	}
	return res, nil
}

// openBenchEngine opens the database at path and an engine on it with the
// bench set loaded; the caller closes the database.
func openBenchEngine(ctx context.Context, path, playbooks string) (*sqlite.DB, *engine.Engine, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	e := engine.New(db, builtin.Registry(), engine.Config{
		Profile: profile.ProfileConfig{Location: time.UTC},
		Tiers:   defaultTiers,
	})
	if err := e.Load(playbooks); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("bench set: %w", err)
	}
	return db, e, nil
}

// benchPrime opens the database and loads its pond (a cold start: the
// caller removed any image), then saves the pond image.
func benchPrime(ctx context.Context, path, playbooks string) (*benchRepResult, error) {
	start := time.Now()
	db, e, err := openBenchEngine(ctx, path, playbooks)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := e.Warm(ctx); err != nil {
		return nil, err
	}
	res := &benchRepResult{StartupSeconds: time.Since(start).Seconds()}
	e.Wait()
	if err := e.SavePondImage(ctx); err != nil {
		return nil, err
	}
	if _, err := os.Stat(db.ImagePath()); err != nil {
		return nil, fmt.Errorf("no pond image saved: %w", err)
	}
	return res, nil
}

// benchIngest adds visits of existing customers through the engine, in
// batches as the HTTP API receives them, and returns events per second.
// Each batch commits with synchronous=FULL before the next starts:
// acknowledged means durable.
func benchIngest(ctx context.Context, e *engine.Engine, db *sqlite.DB, n, batchSize int) (float64, error) {
	var customers int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&customers); err != nil {
		return 0, err
	}
	batch := make([]domain.Event, 0, batchSize)
	at := benchAnchor.Add(time.Hour)
	start := time.Now()
	for i := 0; i < n; i++ {
		batch = append(batch, domain.Event{
			// Ids spread like the UUIDs most senders use, not in order: an
			// ordered id would make every insert append to the id index.
			ID: fmt.Sprintf("ingest-%016x", uint64(i+1)*0x9e3779b97f4a7c15), CustomerID: fmt.Sprintf("c%07d", (i*7919)%customers),
			Type: "visit", At: at.Add(time.Duration(i) * time.Millisecond),
		})
		if len(batch) == cap(batch) || i == n-1 {
			res, err := e.AddEvents(ctx, batch)
			if err != nil {
				return 0, fmt.Errorf("ingest: %w", err)
			}
			if len(res.ItemErrs) > 0 {
				return 0, fmt.Errorf("ingest: %d events refused", len(res.ItemErrs))
			}
			batch = batch[:0]
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// benchSQL runs the SQL version reps times on one connection (TEMP tables
// are per connection): materialise the profile (profile.sql), then the
// twenty queries. Both are timed.
func benchSQL(ctx context.Context, path string, reps int, progress io.Writer) (map[string]int, []float64, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	build, err := benchFS.ReadFile("bench/profile.sql")
	if err != nil {
		return nil, nil, err
	}
	r := strings.NewReplacer("{{now}}", fmt.Sprint(benchAnchor.UnixMilli()), "{{day}}", fmt.Sprint(int64(24*time.Hour/time.Millisecond)))
	buildSQL := r.Replace(string(build))
	queries, err := benchQueries()
	if err != nil {
		return nil, nil, err
	}
	counts := map[string]int{}
	var samples []float64
	for rep := 0; rep < reps; rep++ {
		fmt.Fprintf(progress, "sql: repetition %d of %d\n", rep+1, reps)
		start := time.Now()
		if _, err := conn.ExecContext(ctx, buildSQL); err != nil {
			return nil, nil, fmt.Errorf("materialise the profile: %w", err)
		}
		for _, q := range queries {
			var n int
			if err := conn.QueryRowContext(ctx, q.sql).Scan(&n); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", q.rule, err)
			}
			counts[q.rule] = n
		}
		samples = append(samples, time.Since(start).Seconds())
	}
	return counts, samples, nil
}

type benchQuery struct{ rule, sql string }

// benchQueries splits rules.sql into its queries, each named by the
// "-- playbook/rule" line before it.
func benchQueries() ([]benchQuery, error) {
	src, err := benchFS.ReadFile("bench/rules.sql")
	if err != nil {
		return nil, err
	}
	var out []benchQuery
	for _, line := range strings.Split(string(src), "\n") {
		if name, ok := strings.CutPrefix(line, "-- "); ok && strings.HasPrefix(name, "bench-") {
			out = append(out, benchQuery{rule: strings.TrimSpace(name)})
			continue
		}
		if len(out) > 0 && !strings.HasPrefix(line, "--") {
			out[len(out)-1].sql += line + "\n"
		}
	}
	return out, nil
}

// compareCounts lines up koi's and SQL's matches per rule. A rule missing
// on either side counts as a difference.
func compareCounts(koi, sql map[string]int) (rules []benchRuleCount, matched int, differ bool) {
	for _, name := range benchRuleNames(sql, koi) {
		c := benchRuleCount{Rule: name, Koi: koi[name], SQL: sql[name]}
		_, inKoi := koi[name]
		_, inSQL := sql[name]
		if c.Koi != c.SQL || !inKoi || !inSQL {
			differ = true
		}
		matched += c.Koi
		rules = append(rules, c)
	}
	return rules, matched, differ
}

func benchRuleNames(a, b map[string]int) []string {
	var names []string
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startCPUProfile profiles the process into path until stop is called;
// with path empty it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// peakRSSSoFar returns the peak resident memory of a running process so
// far (VmHWM), where the system tells it (Linux); ok is false elsewhere.
func peakRSSSoFar(pid int) (bytes int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// maxRSS returns the peak resident memory of a finished process.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024 // kilobytes on Linux
	}
	return 0
}

func joinFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "koi bench: %d customers, %d events, median of %d (generated in %.1fs)\n\n", r.Customers, r.Events, r.Reps, r.GenerateSeconds)
	fmt.Fprintf(w, "%-34s %12s   %s\n", "MEASURE", "VALUE", "BUDGET")
	for _, c := range r.Budget {
		val := fmt.Sprintf("%.2f", c.Value)
		switch c.What {
		case "rss_bytes":
			val = fmt.Sprintf("%.0f MiB", c.Value/(1<<20))
		case "ingest_sustained_events_per_second", "outbox_deliveries_per_second", "journey_steps_per_second":
			val = fmt.Sprintf("%.0f", c.Value)
		case "trigger_latency_p99_ms":
			val = fmt.Sprintf("%.1f ms", c.Value)
		}
		mark := "ok"
		if !c.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "%-34s %12s   %-10s %s\n", c.What, val, c.Target, mark)
	}
	fmt.Fprintf(w, "%-34s %12.2f\n", "sql_seconds", r.SQLSeconds)
	fmt.Fprintf(w, "%-34s %12.2f   (%d fire rows of history)\n", "history_eval_seconds", r.HistoryEvalSeconds, r.HistoryFires)
	fmt.Fprintf(w, "%-34s %12.2f\n", "history_startup_seconds", r.HistoryStartupSeconds)
	fmt.Fprintf(w, "%-34s %12.2f   (from the tables; with history %.2f)\n", "cold_startup_seconds", r.ColdStartupSeconds, r.HistoryColdStartupSeconds)
	fmt.Fprintf(w, "%-34s %8d MiB\n", "history_rss_bytes", r.HistoryRSSBytes>>20)
	fmt.Fprintf(w, "%-34s %12.2f\n", "first_run_seconds", r.FirstRunSeconds)
	fmt.Fprintf(w, "%-34s %12.0f   (engine call, no HTTP, %d events)\n", "ingest_events_per_second", r.IngestEventsPerSecond, r.IngestEvents)
	if len(r.IngestSustainedSamples) > 0 {
		fmt.Fprintf(w, "%-34s %12s   (%.0f s, %d clients, batches of %d)\n", "ingest_sustained samples", joinFloats(r.IngestSustainedSamples, "%.0f"),
			r.IngestSeconds, r.IngestClients, r.IngestBatch)
	}
	if len(r.TriggerLatencyP99Samples) > 0 {
		fmt.Fprintf(w, "%-34s %9.1f ms   (p99 of the repetitions: %s)\n", "trigger_latency_p50_ms", r.TriggerLatencyP50Ms, joinFloats(r.TriggerLatencyP99Samples, "%.1f"))
		fmt.Fprintf(w, "%-34s %9.1f ms   (the first fire after start-up)\n", "trigger_first_latency_ms", r.TriggerFirstLatencyMs)
	}
	if len(r.ConsoleP99Samples) > 0 {
		fmt.Fprintf(w, "%-34s %9.1f ms   (p99 of the repetitions: %s; the first pond page %.0f ms)\n", "console pages", r.ConsoleP99Ms,
			joinFloats(r.ConsoleP99Samples, "%.1f"), r.ConsolePondFirstMs)
	}
	if r.ServeRSSBytes > 0 {
		fmt.Fprintf(w, "%-34s %8d MiB   (before their ingest: %d MiB, in rss_bytes)\n", "serve_rss_bytes", r.ServeRSSBytes>>20, r.ServePondRSSBytes>>20)
	}
	fmt.Fprintf(w, "\n%-40s %8s %8s\n", "RULE", "KOI", "SQL")
	for _, c := range r.Rules {
		flag := ""
		if c.Koi != c.SQL {
			flag = "  <- differs"
		}
		fmt.Fprintf(w, "%-40s %8d %8d%s\n", c.Rule, c.Koi, c.SQL, flag)
	}
	fmt.Fprintf(w, "%-40s %8d   (%.1f%% of customers; %d fired)\n", "total matched", r.Matched, 100*float64(r.Matched)/float64(max(r.Customers, 1)), r.Fired)
	fmt.Fprintf(w, "\nmachine: %d cores, %s %s/%s\n", r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS, r.Machine.Arch)
}
