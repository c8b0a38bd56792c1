package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
)

const guarded = `
name: guarded
limits: { max_fires: 5 }
rules:
  - id: gift
    when: member
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
      - message: { channel: log, template: "{{.id}}" }
`

// A run the blast guard stopped stays held with a sample; an approval
// writes exactly what was computed, once, and records who approved.
func TestApproveReleasesHeldRun(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(12, 0)
	f.playbook("guarded", guarded)
	e := f.policyEngine(``)
	r := f.run(e, t0, false)
	if r.Status != engine.RunHeld || r.Rules[0].Suppressed[evaluate.ReasonBlastGuard] != 12 {
		t.Fatalf("run %s, %v; want held, 12 blast_guard", r.Status, r.Rules[0].Suppressed)
	}
	got, err := e.GetRun(ctx, r.ID)
	if err != nil || len(got.Sample) != 12 || got.ExpiresAt == nil || got.Sample[0].CustomerID != "c000" {
		t.Fatalf("held run: sample %d, expires %v, %v", len(got.Sample), got.ExpiresAt, err)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 0 {
		t.Fatalf("%d fires written while held", n)
	}
	// A customer who joins later is not in what was computed; one who
	// opts out meanwhile is left out (consent is absolute).
	if err := e.PutCustomers(ctx, []domain.Customer{{ID: "late", Member: true, JoinedAt: t0.Add(-day)}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetOptOut(ctx, "c003", "log", true); err != nil {
		t.Fatal(err)
	}
	approvedAt := t0.Add(time.Hour)
	r, err = e.Approve(ctx, r.ID, "alice", approvedAt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engine.RunDone || r.Fired != 11 || r.Rules[0].Suppressed[policy.ReasonConsent] != 1 || r.Rules[0].Suppressed[evaluate.ReasonBlastGuard] != 0 {
		t.Errorf("approved run: %s fired %d %v", r.Status, r.Fired, r.Rules[0].Suppressed)
	}
	stored, err := e.GetRun(ctx, r.ID)
	if err != nil || stored.DecidedBy != "alice" || stored.DecidedAt == nil || !stored.DecidedAt.Equal(approvedAt) || stored.Fired != 11 {
		t.Errorf("stored: by %q at %v fired %d (%v)", stored.DecidedBy, stored.DecidedAt, stored.Fired, err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE run_id = ?`, r.ID); n != 11 {
		t.Errorf("%d fires in the approved run, want 11", n)
	}
	if n := f.count(`SELECT count(*) FROM jobs`); n != 11 {
		t.Errorf("%d jobs, want 11", n)
	}
	// Approving again is a conflict and writes nothing.
	var ee *domain.Error
	if _, err := e.Approve(ctx, r.ID, "bob", approvedAt); !errors.As(err, &ee) || ee.Code != domain.EConflict {
		t.Errorf("second approval: %v, want a conflict", err)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 11 {
		t.Errorf("%d coupons after a second approval, want 11", n)
	}
}

// Reject discards a held run; an undecided one expires; a held run of a
// playbook changed since cannot be approved.
func TestRejectExpireAndChangedPlaybook(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(12, 0)
	f.playbook("guarded", guarded)
	e := f.policyEngine(``)
	r1 := f.run(e, t0, false)
	if _, err := e.Reject(ctx, r1.ID, "carol", t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.GetRun(ctx, r1.ID); got.Status != engine.RunRejected || got.DecidedBy != "carol" || len(got.Sample) != 0 {
		t.Errorf("rejected run: %s by %q, sample %d", got.Status, got.DecidedBy, len(got.Sample))
	}
	if n := f.count(`SELECT count(*) FROM held_fires`); n != 0 {
		t.Errorf("%d held fires kept after the rejection", n)
	}
	r2 := f.run(e, t0.Add(day), false)
	// Held runs expire after 72h by default; the wall clock set them.
	later := time.Now().Add(73 * time.Hour)
	if err := e.Sweep(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.GetRun(ctx, r2.ID); got.Status != engine.RunExpired {
		t.Errorf("after 73h: %s, want expired", got.Status)
	}
	if _, err := e.Approve(ctx, r2.ID, "dave", later); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("approving an expired run: %v", err)
	}
	r3 := f.run(e, t0.Add(2*day), false)
	f.playbook("guarded", strings.Replace(guarded, "amount: 5", "amount: 50", 1))
	e2 := f.policyEngine(``)
	if _, err := e2.Approve(ctx, r3.ID, "erin", t0.Add(2*day)); err == nil || !strings.Contains(err.Error(), "changed since it was held") {
		t.Errorf("approving a run of a changed playbook: %v", err)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 0 {
		t.Errorf("%d fires written", n)
	}
}
