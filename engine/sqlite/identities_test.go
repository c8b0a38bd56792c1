package sqlite_test

import (
	"context"
	"errors"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// Identities, through the engine: normalised when linked and when
// resolved (one phone written two ways is one identity), unique per kind
// (an identity of another customer merges the two: merge_test.go), an
// openid per app, and gone with their customer.
func TestIdentities(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	e := f.engine()
	ctx := context.Background()
	phone := domain.Identity{Kind: "phone", Value: "138 0013 8000"}
	if _, err := e.LinkIdentities(ctx, "c000", []domain.Identity{phone, {Kind: "phone", Value: "+8613800138000"},
		{Kind: "openid", App: "wxA", Value: "o1"}, {Kind: "email", Value: "Li@Example.com"}}, t0, "test"); err != nil {
		t.Fatal(err)
	}
	got, err := e.CustomerIdentities(ctx, "c000")
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Identity{{Kind: "email", Value: "li@example.com"}, {Kind: "openid", App: "wxA", Value: "o1"}, {Kind: "phone", Value: "+8613800138000"}}
	if len(got) != len(want) {
		t.Fatalf("identities %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("identity %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, id := range []domain.Identity{{Kind: "phone", Value: "0086 138-0013-8000"}, {Kind: "email", Value: "LI@example.COM"}, {Kind: "openid", App: "wxA", Value: "o1"}} {
		if c, err := e.ResolveIdentity(ctx, id); err != nil || c != "c000" {
			t.Errorf("resolve %+v: %q, %v", id, c, err)
		}
	}
	var de *domain.Error
	if _, err := e.ResolveIdentity(ctx, domain.Identity{Kind: "openid", App: "wxB", Value: "o1"}); !errors.As(err, &de) || de.Code != domain.ENotFound {
		t.Errorf("the openid in another app resolved: %v", err)
	}
	if _, err := e.LinkIdentities(ctx, "nobody", []domain.Identity{{Kind: "member_no", Value: "M2"}}, t0, "test"); !errors.As(err, &de) || de.Code != domain.ENotFound {
		t.Errorf("identities of an unknown customer: %v", err)
	}
	if _, err := e.LinkIdentities(ctx, "c001", []domain.Identity{{Kind: "phone", Value: "12345"}}, t0, "test"); !errors.As(err, &de) || de.Field != "identities[0]" {
		t.Errorf("a bad phone: %v", err)
	}
	if err := e.DeleteCustomer(ctx, "c000"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM identities`); n != 0 {
		t.Errorf("%d identities left after their customer was deleted", n)
	}
}
