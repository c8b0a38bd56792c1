package engine

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// loadHistory reads the fire history of pond p from the store into memory
// (see evaluate.History). The caller holds writeMu, so no fire of this
// engine commits meanwhile; one of another process is also caught by the
// pond version, which has the pond and its history loaded again.
//
// A pond read from its image (see SavePondImage) carries its history, as
// of the same pond version: that is decoded instead.
func (e *Engine) loadHistory(ctx context.Context, p *profile.Pond) (*evaluate.History, error) {
	start := time.Now()
	if b := p.TakeExtra(); b != nil {
		// As for the pond image itself (see sqlite's loadImage): a
		// decode allocates what it keeps, and collecting meanwhile only
		// marks the growing heap again and again.
		gc := debug.SetGCPercent(-1)
		h, err := evaluate.DecodeHistory(b, p.Len())
		debug.SetGCPercent(gc)
		if err == nil {
			e.log.Debug("fire history read from the pond image", "took", time.Since(start))
			return h, nil
		}
		e.log.Warn("the pond image's fire history is unreadable; reading the fires", "err", err)
	}
	h := evaluate.NewHistory(p.Len())
	err := h.Load(func(note func(evaluate.RuleRef, int, int, int64, string, int)) error {
		return e.store.FireHistory(ctx, func(ref evaluate.RuleRef, customerID []byte, seq int, at int64, group string, gseq int) {
			if pos, ok := p.Lookup(string(customerID)); ok {
				note(ref, pos, seq, at, group, gseq)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load fire history: %w", err)
	}
	e.log.Debug("fire history loaded", "took", time.Since(start))
	return h, nil
}

// historyOf returns the in-memory fire history of pond, or nil when the
// engine has loaded another pond since (whose positions differ).
func (e *Engine) historyOf(pond *profile.Pond) *evaluate.History {
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	if e.pond != pond {
		return nil
	}
	return e.history
}

// marks returns the fire history an evaluation of pb over pond reads: a
// view of the in-memory history, or the store's when there is none.
func (e *Engine) marks(ctx context.Context, pb *rules.Playbook, pond *profile.Pond) (*evaluate.Marks, error) {
	if h := e.historyOf(pond); h != nil {
		return h.View(pb.Name, ruleIDs(pb), e.groupRules(pb)), nil
	}
	return e.store.FireMarks(ctx, pb.Name, e.groupRules(pb))
}

// Marks returns the fire history the next evaluation of a loaded playbook
// reads: cooldown, once and benefit-group state by customer.
func (e *Engine) Marks(ctx context.Context, playbook string) (*evaluate.Marks, error) {
	pb, ok := e.Playbook(playbook)
	if !ok {
		_, err := e.selectPlaybooks([]string{playbook})
		return nil, err
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	return e.marks(ctx, pb, pond)
}

// noteFires adds a committed batch's fires to the in-memory history of
// the run's pond.
func (e *Engine) noteFires(snap *profile.Snapshot, kept []keptFire) {
	h := e.historyOf(snap.Pond())
	if h == nil {
		return
	}
	for _, k := range kept {
		f := k.fire
		h.NoteFire(evaluate.RuleRef{Playbook: f.Playbook, Rule: f.Rule}, k.pos, f.Seq, f.At, f.Group, f.GroupSeq)
	}
}

// ruleIDs lists the ids of pb's rules.
func ruleIDs(pb *rules.Playbook) []string {
	ids := make([]string, len(pb.Rules))
	for i, r := range pb.Rules {
		ids[i] = r.ID
	}
	return ids
}
