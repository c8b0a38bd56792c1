package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
)

// ExplainRequest names the customer, the rule and the moment to explain.
type ExplainRequest struct {
	Playbook   string
	Rule       string
	CustomerID string
	At         time.Time
}

// Explain evaluates one rule of a playbook for one customer at req.At,
// exactly as a run would (audience, earlier stop rules, cooldown, once,
// consent, contact policy, holdout), and explains each part. For a
// journey, req.Rule names a step (empty: the customer's next one): see
// explainStep.
func (e *Engine) Explain(ctx context.Context, req ExplainRequest) (*evaluate.Explanation, error) {
	pb, ok := e.Playbook(req.Playbook)
	if !ok {
		_, err := e.selectPlaybooks([]string{req.Playbook})
		return nil, err
	}
	var err error
	if req.CustomerID, err = e.store.ResolveAlias(ctx, req.CustomerID); err != nil {
		return nil, err
	}
	if pb.Journey != nil {
		return e.explainStep(ctx, pb, req)
	}
	if req.Rule == "" {
		return nil, &domain.Error{Code: domain.EInvalid, Message: fmt.Sprintf("name a rule of playbook %s: PLAYBOOK/RULE", pb.Name)}
	}
	ri := -1
	for i, r := range pb.Rules {
		if r.ID == req.Rule {
			ri = i
		}
	}
	if ri < 0 {
		ids := make([]string, len(pb.Rules))
		for i, r := range pb.Rules {
			ids[i] = r.ID
		}
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("playbook %s has no rule %q (rules: %v)", pb.Name, req.Rule, ids)}
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, req.At)
	if err != nil {
		return nil, err
	}
	snap, idx := e.sparseSnapshot(pond, pop, []string{req.CustomerID}, req.At)
	if len(idx) == 0 {
		return nil, notInPond(pond, req.CustomerID, req.At)
	}
	i := idx[0]
	marks, err := e.marks(ctx, pb, pond)
	if err != nil {
		return nil, fmt.Errorf("explain: read fire marks: %w", err)
	}
	return evaluate.Explain(pb, ri, snap, i, marks, req.At), nil
}

// notInPond is the error of explaining for a customer the snapshot at at
// does not have: unknown, or not joined yet.
func notInPond(pond *profile.Pond, id string, at time.Time) error {
	if _, known := pond.Lookup(id); known {
		return &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("customer %q had not joined yet at %s", id, at.Format(time.RFC3339))}
	}
	return &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", id)}
}
