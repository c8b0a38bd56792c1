package stage_test

import (
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/stage"
)

// A batch staged in the memory of the one before starts empty: nothing
// of the earlier batch's coupons, tags, tiers or changes is written again
// or applied twice, and a customer's state is read afresh.
func TestReusedStagingStartsEmpty(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pond := profile.NewPond()
	for _, id := range []string{"c1", "c2"} {
		pond.PutCustomer(domain.Customer{ID: id, Tier: "normal", Tags: []string{"old"}, JoinedAt: now.Add(-time.Hour)})
	}
	snap := profile.ComputeSnapshot(pond, now, profile.ProfileConfig{})
	first := stage.New(nil, snap, true, 4)
	first.Begin(&actions.Fire{Playbook: "pb", Rule: "r", CustomerID: "c1", Key: "pb/r/c1/1", At: now}, 0)
	if err := first.IssueCoupon(actions.Coupon{Code: "K1", CustomerID: "c1", AmountFen: 100, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.UpdateTags("c1", []string{"new"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := first.SetTier("c1", "gold"); err != nil {
		t.Fatal(err)
	}
	first.Keep()
	if out := first.Out(); len(out.Coupons) != 1 || len(out.Tags) != 1 || len(out.Tiers) != 1 || len(first.Changes()) != 3 {
		t.Fatalf("the first batch staged %+v, %d changes", out, len(first.Changes()))
	}

	next := stage.Reuse(first, nil, snap, true, 4)
	if out := next.Out(); len(out.Coupons) != 0 || len(out.Tags) != 0 || len(out.Tiers) != 0 || len(out.Guides) != 0 || len(out.Jobs) != 0 || len(next.Changes()) != 0 {
		t.Fatalf("a reused staging starts with %+v, %d changes", out, len(next.Changes()))
	}
	// c1's tags as stored (the pond), not as the batch before left them.
	next.Begin(&actions.Fire{Playbook: "pb", Rule: "r", CustomerID: "c1", Key: "pb/r/c1/2", At: now}, 0)
	tags, err := next.UpdateTags("c1", []string{"other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next.Keep()
	if want := []string{"old", "other"}; len(tags) != 2 || tags[0] != want[0] || tags[1] != want[1] {
		t.Errorf("c1's tags after the reused batch: %v, want %v", tags, want)
	}
	if out := next.Out(); len(out.Tags) != 1 || len(out.Tiers) != 0 || len(next.Changes()) != 1 {
		t.Errorf("the reused batch staged %+v, %d changes; want its one tag change", out, len(next.Changes()))
	}
}
