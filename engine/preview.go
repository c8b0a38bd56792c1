package engine

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// DefaultPreviewSample is how many customers a preview shows by default.
const DefaultPreviewSample = 10

// PreviewRequest says which playbook to preview and when.
type PreviewRequest struct {
	Playbook string
	At       time.Time
	// Sample is how many customers to show with their values (default
	// DefaultPreviewSample; negative for none).
	Sample int
}

// Preview is what a scheduled run of a playbook would do at a moment,
// computed without writing anything.
type Preview struct {
	Playbook string    `json:"playbook"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
	// Audience is how many customers the audience admits.
	Audience int `json:"audience"`
	// WouldFire is how many fires the run would make (holdouts apart).
	WouldFire int `json:"would_fire"`
	// Limit is the blast guard; Held says the run would be held by it.
	Limit int  `json:"limit"`
	Held  bool `json:"held"`
	// Rules counts, per rule, the matches, the would-be fires (Fired)
	// and the suppressions by reason. A journey's are its steps'.
	Rules []*evaluate.RuleCounts `json:"rules"`
	// Journey is a journey's preview (nil for a playbook of rules): its
	// Audience is who would enter on the schedule, its Rules the steps
	// due, each decided as a pass would.
	Journey *JourneyPreview `json:"journey,omitempty"`
	// EventRules are the rules that run on events (on:), which a
	// scheduled run does not evaluate.
	EventRules []string `json:"event_rules,omitempty"`
	// Overlap counts, for each pair of rules that share customers, the
	// customers both matched.
	Overlap []evaluate.Overlap `json:"overlap"`
	// Sample shows some matched customers, each rule represented, with
	// the values their conditions read.
	Sample []evaluate.SampleCustomer `json:"sample"`
	// Tasks counts, per guide, the deliveries a channel that batches
	// (WeCom: one task, one confirmation for the guide, per identical
	// message) would get: one per message for everyone, one per customer
	// for a personalised one.
	Tasks []evaluate.GuideTasks `json:"tasks"`
}

// Preview computes what a scheduled run of a playbook would do at
// req.At. It writes nothing: the same evaluation as a run, kept in memory.
func (e *Engine) Preview(ctx context.Context, req PreviewRequest) (*Preview, error) {
	pb, ok := e.Playbook(req.Playbook)
	if !ok {
		_, err := e.selectPlaybooks([]string{req.Playbook})
		return nil, err
	}
	return e.PreviewPlaybook(ctx, pb, req)
}

// PreviewPlaybook is Preview of a playbook that need not be loaded: one
// being edited, against the fire history of the playbook of its name.
// req.Playbook is not read.
func (e *Engine) PreviewPlaybook(ctx context.Context, pb *rules.Playbook, req PreviewRequest) (*Preview, error) {
	if pb.Journey != nil {
		jp, err := e.PreviewJourney(ctx, pb, req.At)
		if err != nil {
			return nil, err
		}
		return &Preview{Playbook: pb.Name, Hash: pb.Hash, At: req.At, Audience: jp.Entering, WouldFire: jp.WouldFire,
			Limit: jp.Limit, Held: jp.Held, Rules: jp.Steps, Journey: jp,
			Overlap: []evaluate.Overlap{}, Sample: []evaluate.SampleCustomer{}, Tasks: []evaluate.GuideTasks{}}, nil
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	marks, err := e.marks(ctx, pb, pond)
	if err != nil {
		return nil, fmt.Errorf("preview %s: read fire marks: %w", pb.Name, err)
	}
	snap, done, err := e.snapshotAt(ctx, pond, req.At)
	if err != nil {
		return nil, err
	}
	defer done()
	ev := evaluate.EvaluateUntil(ctx.Done(), pb, snap, marks, runtime.GOMAXPROCS(0), true)
	if err := ctx.Err(); err != nil {
		return nil, err // a partial evaluation is no preview
	}
	out := &Preview{Playbook: pb.Name, Hash: pb.Hash, At: snap.Now, Audience: ev.Audience, Rules: ev.Counts,
		WouldFire: ev.Fires(), Limit: Limit(pb, ev.Audience), Overlap: []evaluate.Overlap{}, Sample: []evaluate.SampleCustomer{}}
	out.Held = out.WouldFire > out.Limit
	for _, r := range pb.Rules {
		if r.On != "" {
			out.EventRules = append(out.EventRules, r.ID)
		}
	}
	n := req.Sample
	if n == 0 {
		n = DefaultPreviewSample
	}
	out.Tasks, out.Overlap, out.Sample = evaluate.Inspect(pb, snap, ev, n)
	return out, nil
}
