package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
)

// TestBenchSmoke runs koi bench on a small pond. It asserts what the bench
// promises, not how fast anything is: every rule of the bench set matches
// the same customers in koi and in hand-written SQL, about 5% of the pond
// matches, every measure is filled in, and the temporary files are gone.
// The server measures run briefly, on a real koi serve each repetition.
func TestBenchSmoke(t *testing.T) {
	tmp := t.TempDir()
	profiles := t.TempDir()
	cpu := filepath.Join(profiles, "cpu")
	r := koi(t, []string{"TMPDIR=" + tmp}, "bench", "--customers", "20000", "--reps", "2", "--ingest-events", "5000", "--outbox-jobs", "2000",
		"--ingest-seconds", "0.5", "--trigger-events", "10", "--console-requests", "2", "--cpuprofile", cpu, "--json")
	if r.code != 0 {
		t.Fatalf("koi bench exited %d: %s", r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, r.stdout)
	}
	if len(rep.Rules) != 20 {
		t.Fatalf("bench set has %d rules, want 20", len(rep.Rules))
	}
	playbooks := map[string]bool{}
	for _, c := range rep.Rules {
		if c.Koi != c.SQL {
			t.Errorf("%s: koi matched %d, SQL %d", c.Rule, c.Koi, c.SQL)
		}
		playbooks[strings.SplitN(c.Rule, "/", 2)[0]] = true
	}
	if len(playbooks) != 5 {
		t.Errorf("bench set spans %d playbooks, want 5", len(playbooks))
	}
	if share := float64(rep.Matched) / float64(rep.Customers); share < 0.02 || share > 0.10 {
		t.Errorf("bench set matches %.1f%% of customers, want about 5%%", 100*share)
	}
	if rep.Events < 9*rep.Customers || rep.Events > 11*rep.Customers {
		t.Errorf("%d events for %d customers, want about 10 each", rep.Events, rep.Customers)
	}
	if rep.Fired != rep.Matched {
		t.Errorf("fired %d of %d matches; the bench set has no holdout and a fresh pond has no cooldowns", rep.Fired, rep.Matched)
	}
	if len(rep.EvalSamples) != 2 || len(rep.SQLSamples) != 2 || len(rep.StartupSamples) != 2 {
		t.Errorf("samples: eval %v, sql %v, startup %v; want 2 each", rep.EvalSamples, rep.SQLSamples, rep.StartupSamples)
	}
	if rep.OutboxJobs != 2000 || len(rep.OutboxSamples) != 2 || rep.OutboxDeliveriesPerSecond <= 0 {
		t.Errorf("outbox: %d jobs, samples %v", rep.OutboxJobs, rep.OutboxSamples)
	}
	if rep.EvalSeconds <= 0 || rep.SQLSeconds <= 0 || rep.StartupSeconds <= 0 || rep.IngestEventsPerSecond <= 0 || rep.RSSBytes <= 0 {
		t.Errorf("a measure is missing: %+v", rep)
	}
	if len(rep.FirstRunSamples) != 2 || rep.FirstRunSeconds <= 0 {
		t.Errorf("first run: samples %v", rep.FirstRunSamples)
	}
	// Repetitions start from the pond image a cold start left (a
	// repetition that read the tables fails the bench).
	if rep.ColdStartupSeconds <= 0 || rep.HistoryColdStartupSeconds <= 0 || rep.HistoryRSSBytes <= 0 {
		t.Errorf("cold start-ups %v and %v, history RSS %d", rep.ColdStartupSeconds, rep.HistoryColdStartupSeconds, rep.HistoryRSSBytes)
	}
	if rep.HistoryFires < 10*rep.Customers || len(rep.HistoryEvalSamples) != 2 || rep.HistoryEvalSeconds <= 0 || rep.HistoryStartupSeconds <= 0 {
		t.Errorf("history: %d fire rows for %d customers (want 10 each at least), samples %v", rep.HistoryFires, rep.Customers, rep.HistoryEvalSamples)
	}
	// The server measures: events acknowledged by koi serve, fires seen
	// after their events, and the servers' memory in rss_bytes.
	if len(rep.IngestSustainedSamples) != 2 || rep.IngestSustainedEventsPerSecond <= 0 || rep.IngestSeconds != 0.5 || rep.IngestClients != 4 {
		t.Errorf("sustained ingest: samples %v over %v s from %d clients", rep.IngestSustainedSamples, rep.IngestSeconds, rep.IngestClients)
	}
	if len(rep.ConsoleP99Samples) != 2 || rep.ConsoleP99Ms <= 0 || rep.ConsolePondFirstMs <= 0 || rep.ConsoleRequests != 2 {
		t.Errorf("console: p99 samples %v, first pond page %v ms, %d requests a page", rep.ConsoleP99Samples, rep.ConsolePondFirstMs, rep.ConsoleRequests)
	}
	for _, xs := range [][]float64{rep.IngestSustainedSamples, rep.TriggerLatencyP99Samples, rep.TriggerLatencyP50Samples, rep.ConsoleP99Samples} {
		for _, x := range xs {
			if x <= 0 {
				t.Errorf("a sample of the server measures is %v", x)
			}
		}
	}
	if rep.TriggerEvents != 10 || len(rep.TriggerLatencyP99Samples) != 2 || len(rep.TriggerLatencyP50Samples) != 2 ||
		rep.TriggerLatencyP50Ms <= 0 || rep.TriggerLatencyP99Ms < rep.TriggerLatencyP50Ms || rep.TriggerFirstLatencyMs <= 0 {
		t.Errorf("trigger latency: %d events, p99 %v (%v), p50 %v (%v), first %v", rep.TriggerEvents, rep.TriggerLatencyP99Ms, rep.TriggerLatencyP99Samples,
			rep.TriggerLatencyP50Ms, rep.TriggerLatencyP50Samples, rep.TriggerFirstLatencyMs)
	}
	if rep.ServePondRSSBytes <= 0 || rep.ServeRSSBytes < rep.ServePondRSSBytes || rep.RSSBytes < rep.ServePondRSSBytes {
		t.Errorf("the servers' peak memory on the pond %d is not in rss_bytes %d, or above their peak at the stop %d",
			rep.ServePondRSSBytes, rep.RSSBytes, rep.ServeRSSBytes)
	}
	budget := map[string]bool{}
	for _, c := range rep.Budget {
		budget[c.What] = true
	}
	// The journey pass takes the first step of a tenth of the pond.
	if rep.JourneySteps != rep.Customers/10 || len(rep.JourneyStepsSamples) != 2 || rep.JourneyStepsPerSecond <= 0 {
		t.Errorf("journey: %d steps for %d customers, samples %v", rep.JourneySteps, rep.Customers, rep.JourneyStepsSamples)
	}
	if rep.Machine.Cores <= 0 || rep.Machine.GoVersion == "" || len(rep.Budget) != 11 || !budget["console_p99_ms"] || !budget["journey_steps_per_second"] ||
		!budget["ingest_sustained_events_per_second"] || !budget["trigger_latency_p99_ms"] || !budget["outbox_deliveries_per_second"] {
		t.Errorf("machine or budget missing: %+v %+v", rep.Machine, rep.Budget)
	}
	// A profile of each phase of each repetition, ingest only in the last
	// one (the only one that ingests), none of it empty.
	want := []string{"cpu"}
	for _, rep := range []string{"rep1", "rep2", "history-rep1", "history-rep2"} {
		for _, phase := range benchPhases {
			if phase != "ingest" || rep == "rep2" {
				want = append(want, "cpu."+rep+"."+phase)
			}
		}
	}
	got, _ := filepath.Glob(filepath.Join(profiles, "*"))
	for i, g := range got {
		got[i] = filepath.Base(g)
		if fi, err := os.Stat(g); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s is empty: %v", got[i], err)
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("CPU profiles %v, want %v", got, want)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "koi-bench-*"))
	if len(left) > 0 {
		t.Errorf("bench left %v behind", left)
	}
	if _, err := os.Stat(filepath.Join(tmp, "koi-bench")); err == nil {
		t.Error("bench left its directory behind")
	}
}

// TestBenchCountsMustAgree pins the bench's honesty check: a SQL query
// that counts something else, or a rule only one side knows, voids it.
func TestBenchCountsMustAgree(t *testing.T) {
	for _, tc := range []struct {
		name     string
		koi, sql map[string]int
		differ   bool
	}{
		{"equal", map[string]int{"a/x": 3, "a/y": 0}, map[string]int{"a/x": 3, "a/y": 0}, false},
		{"a count differs", map[string]int{"a/x": 3, "a/y": 1}, map[string]int{"a/x": 3, "a/y": 2}, true},
		{"SQL lacks a rule", map[string]int{"a/x": 3, "a/y": 0}, map[string]int{"a/x": 3}, true},
		{"koi lacks a rule", map[string]int{"a/x": 3}, map[string]int{"a/x": 3, "a/z": 0}, true},
	} {
		rules, matched, differ := compareCounts(tc.koi, tc.sql)
		if differ != tc.differ {
			t.Errorf("%s: differ = %v, want %v (%+v)", tc.name, differ, tc.differ, rules)
		}
		if tc.name == "equal" && (matched != 3 || len(rules) != 2) {
			t.Errorf("equal: matched %d over %d rules, want 3 over 2", matched, len(rules))
		}
	}
}

// Without --cpuprofile a repetition profiles nothing and writes no file:
// its phases left empty files named after them where it ran, and a
// profiler running that nothing stopped.
func TestBenchPhasesWithoutAProfile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	prof := &phaseProfile{}
	for _, phase := range benchPhases {
		if err := prof.start(phase); err != nil {
			t.Fatal(err)
		}
	}
	prof.end()
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("files written without a profile asked for: %v", left)
	}
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Errorf("a profiler was left running: %v", err)
	} else {
		pprof.StopCPUProfile()
	}
}
