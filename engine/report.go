package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/report"
	"github.com/koihq/koi/rules"
)

// Report compares, for each rule of the loaded playbooks (or of one),
// the customers it treated with the playbook's holdout over the
// attribution window, as of now. Fires whose window is still open are
// counted apart. A journey reports each step and then the journey as a
// whole (JourneyReport).
func (e *Engine) Report(ctx context.Context, playbook string, now time.Time) ([]*report.RuleReport, error) {
	pbs, err := e.selectPlaybooks(nonEmpty(playbook))
	if err != nil {
		return nil, err
	}
	// A journey's report is by step and for the whole journey.
	var journeys []*rules.Playbook
	pbs = slices.DeleteFunc(pbs, func(pb *rules.Playbook) bool {
		if pb.Journey != nil {
			journeys = append(journeys, pb)
		}
		return pb.Journey != nil
	})
	out := []*report.RuleReport{}
	if len(pbs) > 0 {
		if out, err = e.report(ctx, pbs, playbook, now); err != nil {
			return nil, err
		}
	}
	for _, pb := range journeys {
		rs, err := e.JourneyReport(ctx, pb, now)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// JourneyWhole is the rule name of a journey report's last line: the
// journey as a whole, entry by entry (no step id can be it).
const JourneyWhole = "(journey)"

// JourneyReport compares, for each step of pb's journey, the customers it
// treated with those held out at entry, over the playbook's attribution
// window after the step, as Report does for rules: a step's fires name
// it as their rule. Its last line, JourneyWhole, compares the entries
// themselves: treated against held out, converted within the window after
// entry.
func (e *Engine) JourneyReport(ctx context.Context, pb *rules.Playbook, now time.Time) ([]*report.RuleReport, error) {
	if pb.Journey == nil {
		return nil, &domain.Error{Code: domain.EInvalid, Message: fmt.Sprintf("playbook %s has no journey", pb.Name)}
	}
	steps, err := e.report(ctx, []*rules.Playbook{journeySteps(pb)}, pb.Name, now)
	if err != nil {
		return nil, err
	}
	entries, err := e.store.JourneyEntries(ctx, pb.Name)
	if err != nil {
		return nil, err
	}
	// Each entry as if it were a fire at entry, held out or not.
	fires := make([]report.OutcomeFire, len(entries))
	for i, st := range entries {
		fires[i] = report.OutcomeFire{ID: int64(i + 1), Playbook: pb.Name, Rule: JourneyWhole, CustomerID: st.CustomerID, At: st.EnteredAt, Status: domain.FireFired}
		if st.Holdout {
			fires[i].Status = domain.FireHoldout
		}
	}
	whole := &rules.Playbook{Name: pb.Name, HoldoutBP: pb.HoldoutBP, Attribution: pb.Attribution, Rules: []*rules.Rule{{ID: JourneyWhole}}}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	return append(steps, report.Build([]*rules.Playbook{whole}, fires, pondOrders(pond), nil, now)...), nil
}

// report builds the reports of pbs from the fires of playbook (all when
// empty) as of now.
func (e *Engine) report(ctx context.Context, pbs []*rules.Playbook, playbook string, now time.Time) ([]*report.RuleReport, error) {
	fires, err := e.store.OutcomeFires(ctx, playbook)
	if err != nil {
		return nil, err
	}
	messages, err := e.messageOutcomes(ctx, playbook)
	if err != nil {
		return nil, err
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	return report.Build(pbs, fires, pondOrders(pond), messages, now), nil
}

// pondOrders answers a report's question of a customer's orders from the
// pond; the caller holds the pond's lock while the report is built.
func pondOrders(pond *profile.Pond) func(customerID string, from, to, asOf int64) (int, int64, bool) {
	return func(customerID string, from, to, asOf int64) (int, int64, bool) {
		i, ok := pond.Lookup(customerID)
		if !ok {
			return 0, 0, false
		}
		n, net := pond.OrdersIn(i, from, to, asOf)
		return n, net, true
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
