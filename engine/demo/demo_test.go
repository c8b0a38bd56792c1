package demo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/domain"
)

// Identities leave the rest of the pond as it is, come normalised (the
// store takes them as given) and unique, and the sign-ups' phone sync
// names phones of customers in the pond.
func TestIdentities(t *testing.T) {
	anchor := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	plain, with := demo.Generator{Seed: 3, Anchor: anchor}, demo.Generator{Seed: 3, Anchor: anchor, Identities: true}
	owner := map[domain.Identity]string{}
	const n = 2000
	for i := range n {
		a, aev := plain.Customer(i)
		b, bev := with.Customer(i)
		if a.Name != b.Name || a.Tier != b.Tier || !a.JoinedAt.Equal(b.JoinedAt) || len(aev) != len(bev) || len(a.Identities) != 0 {
			t.Fatalf("customer %d differs beyond its identities: %+v / %+v", i, a, b)
		}
		norm, err := domain.NormalizeIdentities(b.Identities)
		if err != nil || !slices.Equal(norm, b.Identities) {
			t.Fatalf("customer %d: identities %+v not normalised (%+v, %v)", i, b.Identities, norm, err)
		}
		for _, id := range b.Identities {
			if o, ok := owner[id]; ok {
				t.Fatalf("%+v is %s's and %s's", id, o, b.ID)
			}
			owner[id] = b.ID
		}
	}
	ups := with.SignUps(n, 5)
	if len(ups) != 5 {
		t.Fatalf("%d sign-ups, want 5", len(ups))
	}
	for _, u := range ups {
		var linked bool
		for _, id := range u.Link.Identities {
			if _, ok := owner[id]; ok && id.Kind == domain.IdentityPhone {
				linked = true
			}
			if _, ok := owner[id]; ok && id.Kind == domain.IdentityOpenID {
				t.Errorf("sign-up %s's openid is a pond customer's", u.Customer.ID)
			}
		}
		if !linked || len(u.Events) != 1 || u.Events[0].CustomerID != u.Customer.ID {
			t.Errorf("sign-up %+v: want a phone of the pond and its own order", u)
		}
	}
}
