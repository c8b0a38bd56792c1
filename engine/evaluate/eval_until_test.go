package evaluate

import (
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// An evaluation whose done channel closes stops between customers: a
// preview's time budget cuts it short instead of letting it run on.
func TestEvaluationStopsWhenDone(t *testing.T) {
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	p := profile.NewPond()
	for i := range 5000 {
		p.PutCustomer(domain.Customer{ID: fmt.Sprintf("c%04d", i), Member: true, JoinedAt: now.Add(-time.Hour)})
	}
	snap := profile.RecomputeSnapshot(nil, p, now, profile.ProfileConfig{})
	pb, err := rules.Load("p.yaml", []byte("name: p\nrules:\n  - id: r\n    when: member\n    once: true\n    actions: [{ tag: { add: [x] } }]\n"),
		rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Sample: profile.SampleValues()})
	if err != nil {
		t.Fatal(err)
	}
	if ev := EvaluateUntil(nil, pb, snap, &Marks{}, 2, false); ev.Audience != 5000 {
		t.Fatalf("audience %d, want 5000", ev.Audience)
	}
	done := make(chan struct{})
	close(done)
	if ev := EvaluateUntil(done, pb, snap, &Marks{}, 2, false); ev.Audience != 0 {
		t.Errorf("a closed done evaluated %d customers, want none", ev.Audience)
	}
}
