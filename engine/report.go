package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/engine/report"
)

// Report compares, for each rule of the loaded playbooks (or of one),
// the customers it treated with the playbook's holdout over the
// attribution window, as of now. Fires whose window is still open are
// counted apart.
func (e *Engine) Report(ctx context.Context, playbook string, now time.Time) ([]*report.RuleReport, error) {
	pbs, err := e.selectPlaybooks(nonEmpty(playbook))
	if err != nil {
		return nil, err
	}
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
	orders := func(customerID string, from, to, asOf int64) (int, int64, bool) {
		i, ok := pond.Lookup(customerID)
		if !ok {
			return 0, 0, false
		}
		n, net := pond.OrdersIn(i, from, to, asOf)
		return n, net, true
	}
	return report.Build(pbs, fires, orders, messages, now), nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
