// Package metrics exports what the engine does as Prometheus metrics. It
// implements engine.Observer; cli wires it to the engine and serves
// its registry at /metrics.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// Metrics holds koi's metrics in its own registry (no global state).
type Metrics struct {
	reg *prometheus.Registry

	runs        *prometheus.CounterVec
	runDuration *prometheus.HistogramVec
	matches     *prometheus.CounterVec
	events      *prometheus.CounterVec
	merges      prometheus.Counter
	fileErrors  *prometheus.GaugeVec
	reloadOK    prometheus.Gauge
	reloadTime  prometheus.Gauge
	deliveries  *prometheus.CounterVec
	deliveryDur *prometheus.HistogramVec
}

var _ engine.Observer = (*Metrics)(nil)

// New returns the metrics, registered with the Go runtime's and the
// process's own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "koi_runs_total",
			Help: "Playbook runs finished, by playbook, trigger (schedule, late, manual, event) and status (done, held, failed).",
		}, []string{"playbook", "trigger", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "koi_run_duration_seconds",
			Help:    "Wall time of a playbook run, from the start of its evaluation to its fires committed.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300},
		}, []string{"playbook"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "koi_rule_matches_total",
			Help: "Customers a rule matched, by playbook, rule and outcome: fired, or the reason it was suppressed (cooldown, once, holdout, blast_guard, ...), or error.",
		}, []string{"playbook", "rule", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "koi_events_ingested_total",
			Help: "Events received, by result: inserted, duplicate (an id already stored) or rejected.",
		}, []string{"result"}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "koi_customers_merged_total",
			Help: "Customers merged into another because a record linked them (one identity on both).",
		}),
		fileErrors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "koi_playbook_load_errors",
			Help: "Errors in a playbook file's latest content, by file; while above 0 the file's previous version keeps running.",
		}, []string{"file"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "koi_playbooks_last_load_successful",
			Help: "1 when every playbook file loaded at the last (re)load, else 0.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "koi_playbooks_last_load_timestamp_seconds",
			Help: "When the playbooks were last (re)loaded, as a Unix time.",
		}),
	}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "koi_deliveries_total",
		Help: "Outbox delivery attempts, by job kind, channel and the state they left the job in: done, task_created (a WeCom task waiting for its guide), pending (to retry), dead, skipped (consent), cancelled; and the outcomes of tracked WeCom tasks: sent, not_friend, skipped_received_other, unsent.",
	}, []string{"kind", "channel", "state"})
	m.deliveryDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "koi_delivery_duration_seconds",
		Help:    "Wall time of one delivery attempt, by job kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"kind"})
	m.reg.MustRegister(m.runs, m.runDuration, m.matches, m.events, m.merges, m.fileErrors, m.reloadOK, m.reloadTime, m.deliveries, m.deliveryDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the metrics are in, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunFinished counts a run, its duration and its rules' outcomes.
func (m *Metrics) RunFinished(r *engine.Run) {
	m.runs.WithLabelValues(r.Playbook, r.Trigger, r.Status).Inc()
	if !r.EndedAt.IsZero() && !r.StartedAt.IsZero() {
		m.runDuration.WithLabelValues(r.Playbook).Observe(r.EndedAt.Sub(r.StartedAt).Seconds())
	}
	for _, c := range r.Rules {
		if c.Fired > 0 {
			m.matches.WithLabelValues(r.Playbook, c.Rule, "fired").Add(float64(c.Fired))
		}
		for reason, n := range c.Suppressed {
			if n > 0 {
				m.matches.WithLabelValues(r.Playbook, c.Rule, reason).Add(float64(n))
			}
		}
		if c.Errors > 0 {
			m.matches.WithLabelValues(r.Playbook, c.Rule, "error").Add(float64(c.Errors))
		}
	}
}

// EventsAdded counts ingested events.
func (m *Metrics) EventsAdded(inserted, duplicates, rejected int) {
	m.events.WithLabelValues("inserted").Add(float64(inserted))
	m.events.WithLabelValues("duplicate").Add(float64(duplicates))
	m.events.WithLabelValues("rejected").Add(float64(rejected))
}

// CustomersMerged counts merges.
func (m *Metrics) CustomersMerged(n int) { m.merges.Add(float64(n)) }

// JobDelivered counts a delivery attempt's outcome and its duration.
func (m *Metrics) JobDelivered(j *domain.Job, state domain.JobState, took time.Duration) {
	m.deliveries.WithLabelValues(j.Kind, j.Channel, string(state)).Inc()
	switch state {
	case domain.JobSent, domain.JobNotFriend, domain.JobReceivedOther, domain.JobUnsent:
		// What became of a WeCom task, learnt by polling: took is how
		// long the task waited for its guide, no attempt's duration.
	default:
		m.deliveryDur.WithLabelValues(j.Kind).Observe(took.Seconds())
	}
}

// PlaybooksLoaded records each file's errors.
func (m *Metrics) PlaybooksLoaded(files []engine.PlaybookFile) {
	m.fileErrors.Reset()
	ok := 1.0
	for _, f := range files {
		m.fileErrors.WithLabelValues(f.Public().File).Set(float64(len(f.Errors)))
		if !f.OK() {
			ok = 0
		}
	}
	m.reloadOK.Set(ok)
	m.reloadTime.SetToCurrentTime()
}
