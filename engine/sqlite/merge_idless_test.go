package sqlite_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// An id-less record making a new customer: the resident pond must have them.
func TestIdlessNewCustomerInPond(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("recall", recall)
	e := f.engine()
	storeAll(t, e, t0, domain.Customer{ID: "c1", JoinedAt: t0.Add(-day)})
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	res := storeAll(t, e, t0, domain.Customer{Name: "x", Identities: []domain.Identity{{Kind: "unionid", Value: "oU9"}}})
	if res.IDs[0] != "unionid:oU9" {
		t.Fatalf("ids %v", res.IDs)
	}
	_, perr := e.Profile(ctx, "unionid:oU9", t0)
	fresh := f.engine()
	_, ferr := fresh.Profile(ctx, "unionid:oU9", t0)
	t.Logf("resident: %v, fresh: %v", perr, ferr)
	if perr != nil && ferr == nil {
		t.Errorf("resident pond lacks the id-less new customer: %v", perr)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	welcome := runs[0].Rules[1].Fired
	if welcome != 2 {
		t.Errorf("welcome fired for %d customers, want 2 (c1 and unionid:oU9)", welcome)
	}
	_ = fmt.Sprint()
}

func TestIdlessNewCustomerTakesEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("recall", recall)
	e := f.engine()
	storeAll(t, e, t0, domain.Customer{ID: "c1", JoinedAt: t0.Add(-day)})
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	storeAll(t, e, t0, domain.Customer{Name: "x", Identities: []domain.Identity{{Kind: "unionid", Value: "oU9"}}})
	res, err := e.AddEvents(ctx, []domain.Event{{ID: "o1", CustomerID: "unionid:oU9", Type: "order", At: t0, AmountFen: 100}})
	if err != nil || len(res.ItemErrs) > 0 {
		t.Errorf("event of the new customer: %v %v", err, res.ItemErrs)
	}
	res, err = e.AddEvents(ctx, []domain.Event{{ID: "o2", Identity: &domain.Identity{Kind: "unionid", Value: "oU9"}, Type: "order", At: t0, AmountFen: 100}})
	if err != nil || len(res.ItemErrs) > 0 {
		t.Errorf("event by identity of the new customer: %v %v", err, res.ItemErrs)
	}
	if _, err := e.ViewCustomer(ctx, "unionid:oU9", t0); err != nil {
		t.Errorf("view: %v", err)
	}
}

// An id-less record by an openid of a long app id gets an id koi accepts
// (the app id hashed with the value), so it can be named by it later.
func TestIdlessLongOpenIDAppMakesAnID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.engine()
	app := "wx" + strings.Repeat("a", 120)
	res, err := e.StoreCustomers(ctx, []domain.Customer{{Identities: []domain.Identity{{Kind: "openid", App: app, Value: "o1"}}}}, t0, "test")
	if err != nil {
		t.Fatal(err)
	}
	id := res.IDs[0]
	t.Logf("id %d bytes: %s", len(id), id)
	if len(id) > domain.MaxCustomerIDLen {
		t.Errorf("made customer id of %d bytes; ids are at most %d", len(id), domain.MaxCustomerIDLen)
	}
	_, err = e.StoreCustomers(ctx, []domain.Customer{{ID: id, Name: "x"}}, t0, "test")
	t.Logf("PUT by that id: %v", err)
	r, err := e.AddEvents(ctx, []domain.Event{{ID: "e1", CustomerID: id, Type: "visit", At: t0}})
	t.Logf("event by that id: %v %v", err, r.ItemErrs)
}

const guardedOne = `
name: guarded
limits: { max_fires: 1 }
rules:
  - id: gift
    when: "true"
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
      - message: { channel: log, template: "{{.id}}" }
`

// A run held by the blast guard with decisions for two customers, merged
// before it is approved: the person gets one once gift.
func TestHeldRunApprovedAfterMergeOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("guarded", guardedOne)
	e := f.policyEngine(``)
	storeAll(t, e, t0.Add(-time.Hour), domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day)}, domain.Customer{ID: "b", JoinedAt: t0.Add(-day)})
	r := f.run(e, t0, false)
	if r.Status != engine.RunHeld {
		t.Fatalf("run %s", r.Status)
	}
	u := domain.Identity{Kind: "unionid", Value: "ab"}
	storeAll(t, e, t0.Add(time.Minute), domain.Customer{ID: "a", Identities: []domain.Identity{u}}, domain.Customer{ID: "b", Identities: []domain.Identity{u}})
	r, err := e.Approve(ctx, r.ID, "alice", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("approved: %s fired %d %v", r.Status, r.Fired, r.Rules[0].Suppressed)
	if n := f.count(`SELECT count(*) FROM fires WHERE customer_id = 'a'`); n != 1 {
		t.Errorf("a has %d once fires", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE customer_id = 'a'`); n != 1 {
		t.Errorf("a has %d coupons", n)
	}
	if n := f.count(`SELECT count(*) FROM jobs WHERE customer_id = 'a'`); n != 1 {
		t.Errorf("a has %d message jobs", n)
	}
	checkInvariants(t, f, "approved")
}
