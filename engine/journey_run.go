package engine

import (
	"context"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/rules"
)

// runJourney is a journey's part of Run: a pass with its scheduled
// entries, or for a dry run the pass previewed.
func (e *Engine) runJourney(ctx context.Context, pb *rules.Playbook, req RunRequest) (*Run, error) {
	if !req.DryRun {
		return e.ProcessJourney(ctx, pb, JourneyRequest{At: req.At, Enter: true, Trigger: req.Trigger, ApprovedBy: req.ApprovedBy})
	}
	started := time.Now()
	pv, err := e.PreviewJourney(ctx, pb, req.At)
	if err != nil {
		return nil, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerManual
	}
	run := &Run{Playbook: pb.Name, Hash: pb.Hash, File: absPath(pb.File), At: req.At, StartedAt: started, Status: RunDone,
		DryRun: true, Trigger: trigger, Audience: pv.Entering, Rules: pv.Steps, Limit: pv.Limit}
	run.EndedAt = time.Now()
	run.tally()
	switch {
	case pv.Waiting:
		run.Status = RunHeld
		run.Error = "a pass of this journey is held by the blast guard: no step is taken until it is approved or rejected (GET /api/v1/runs?status=held lists it)"
	case req.ApprovedBy == "" && pv.Held:
		run.Status = RunHeld
		run.Error = "held by the blast guard: the journey's due steps would fire more than limits.max_fires; a real pass would wait for approval (koi approve RUN, with the id that run prints)"
	}
	return run, nil
}

// ProcessJourneys passes every loaded journey at at (the steps due by
// then; entries come on schedules and events), quietly: it returns the
// runs of the passes that did something. koi serve calls it every
// minute. A journey that fails is logged and the others go on.
func (e *Engine) ProcessJourneys(ctx context.Context, at time.Time) []*Run {
	var runs []*Run
	for _, pb := range e.Playbooks() {
		if pb.Journey == nil {
			continue
		}
		r, err := e.ProcessJourney(ctx, pb, JourneyRequest{At: at, Trigger: TriggerSchedule, Quiet: true})
		if err != nil {
			if ctx.Err() != nil {
				return runs
			}
			e.log.Error("journey pass failed", "journey", pb.Name, "err", err)
		}
		if r != nil {
			runs = append(runs, r)
		}
	}
	return runs
}

// eventTypesOfAttributes are the event types that change a profile
// attribute: what a journey's exit_when reading the attribute must be
// checked again on.
var eventTypesOfAttributes = map[string][]string{
	"orders":             {domain.EventOrder, domain.EventRefund},
	"spend":              {domain.EventOrder, domain.EventRefund},
	"aov":                {domain.EventOrder, domain.EventRefund},
	"recency_days":       {domain.EventOrder, domain.EventRefund},
	"orders_30d":         {domain.EventOrder, domain.EventRefund},
	"orders_90d":         {domain.EventOrder, domain.EventRefund},
	"orders_365d":        {domain.EventOrder, domain.EventRefund},
	"spend_30d":          {domain.EventOrder, domain.EventRefund},
	"spend_90d":          {domain.EventOrder, domain.EventRefund},
	"spend_365d":         {domain.EventOrder, domain.EventRefund},
	"orders_since_entry": {domain.EventOrder, domain.EventRefund},
	"spend_since_entry":  {domain.EventOrder, domain.EventRefund},
	"rfm":                {domain.EventOrder, domain.EventRefund},
	"lifecycle":          {domain.EventOrder, domain.EventRefund, domain.EventReferral},
	"referrals":          {domain.EventReferral},
	"shares_90d":         {domain.EventShare},
	// Coupons are issued by actions (not events), and redeemed by
	// coupon_redeem events.
	"open_coupons":                {domain.EventCouponRedeem},
	"coupon_expiring_days":        {domain.EventCouponRedeem},
	"coupon_expiring_issued_days": {domain.EventCouponRedeem},
}

// attributesNotFromEvents are the profile's attributes no event changes:
// stored fields, time and koi's own contacts. With eventTypesOfAttributes
// they are every attribute (TestEveryAttributeIsClassified).
var attributesNotFromEvents = []string{"id", "name", "tier", "tags", "attrs", "guide", "member", "joined_days",
	"last_contact_days", "contacts_7d", "birthday_in_days", "entered_days", "now"}

// journeyEventTypes returns the event types a journey answers when they
// arrive: the one it is entered on, and those that can change what its
// exit_when reads. all is true when exit_when may read any (through $env,
// or an event count of a type it does not name).
func journeyEventTypes(j *rules.Journey) (types []string, all bool) {
	add := func(ts ...string) {
		for _, t := range ts {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	if j.EnterOn != "" {
		add(j.EnterOn)
	}
	c := j.ExitWhen
	if c == nil {
		return types, false
	}
	for attr, ts := range eventTypesOfAttributes {
		if c.Reads(attr) {
			add(ts...)
		}
	}
	for _, fn := range []string{"count", "count_since_entry"} {
		args, any := c.StringArgs(fn)
		add(args...)
		all = all || any
	}
	slices.Sort(types)
	return types, all
}

// CustomerJourneys returns the customer's entries into journeys, by
// journey and entry: the last of each journey is where they are in it.
func (e *Engine) CustomerJourneys(ctx context.Context, customerID string) ([]domain.JourneyState, error) {
	return e.store.CustomerJourneys(ctx, customerID)
}
