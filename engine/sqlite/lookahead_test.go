package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// The second playbook reads what the first one changes: tiers, tags and
// coupons, through conditions, the audience, a stop rule, cooldowns and a
// holdout. Each rule of the first changes one of them, so that a change
// the second would not see again shows.
const (
	lookaheadFirst = `
name: a-first
limits: { max_fires: 100%% }
rules:
  - id: up
    when: tier == "normal" && orders >= %[1]d && !has_tag("vip-ish")
    once: true
    actions:
      - set_tier: silver
  - id: mark
    when: tier == "silver" && orders >= %[1]d && !has_tag("vip-ish")
    once: true
    actions:
      - tag: { add: [up] }
  - id: gift
    when: has_tag("vip-ish") && orders >= %[1]d
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
`
	lookaheadSecond = `
name: b-second
audience: tier != "gold"
holdout: 20%
limits: { max_fires: 100% }
rules:
  - id: welcome-up
    when: tier == "silver" && has_tag("up")
    stop: true
    once: true
    actions:
      - tag: { add: [seen] }
  - id: new-silver
    when: tier == "silver" && !has_tag("up")
    once: true
    actions:
      - tag: { add: [silver] }
  - id: spend-it
    when: open_coupons > 0
    cooldown: 3d
    actions:
      - tag: { add: [has-coupon] }
  - id: everyone-else
    when: orders >= 1 && !has_tag("up")
    cooldown: 30d
    actions:
      - tag: { add: [other] }
`
	// The third reads none of what the second changes (tags): the
	// lookahead keeps its answers for those customers as they were. The
	// fourth reads the third's tag in its audience only.
	lookaheadThird = `
name: c-third
limits: { max_fires: 100% }
rules:
  - id: regulars
    when: orders >= 3 && tier != "gold"
    once: true
    actions:
      - coupon: { amount: 3, expires_in: 7d }
      - tag: { add: [regular] }
`
	lookaheadFourth = `
name: d-fourth
audience: has_tag("regular")
limits: { max_fires: 100% }
rules:
  - id: welcome-regular
    when: orders >= 1
    once: true
    actions:
      - coupon: { amount: 2, expires_in: 7d }
`
)

// newLookaheadPond stores n customers with seeded tiers, tags and orders,
// and an earlier fire of spend-it for some, so cooldowns apply.
func newLookaheadPond(t *testing.T, path string, n int) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rng := rand.New(rand.NewPCG(7, 7))
	var cs []domain.Customer
	var evs []domain.Event
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%04d", i)
		c := domain.Customer{ID: id, Tier: []string{"normal", "normal", "silver", "gold"}[rng.IntN(4)], Member: true, JoinedAt: t0.Add(-400 * day)}
		if rng.IntN(10) == 0 {
			c.Tags = []string{"vip-ish"}
		}
		cs = append(cs, c)
		for k := rng.IntN(9); k > 0; k-- {
			evs = append(evs, domain.Event{ID: fmt.Sprintf("o-%s-%d", id, k), CustomerID: id, Type: "order", At: t0.Add(-day * time.Duration(10*k)), AmountFen: 5000})
		}
	}
	if err := db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	if _, bad, err := db.InsertEvents(ctx, evs); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	return db
}

func lookaheadRun(t *testing.T, db *sqlite.DB, dir string, names ...string) []*engine.Run {
	t.Helper()
	e := engine.New(db, builtin.Registry(), engine.Config{Tiers: []string{"normal", "silver", "gold"}, BatchSize: 16})
	if err := e.Load(dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0, Playbooks: names})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// dump is everything the runs decided and did, in a comparable form.
func dump(t *testing.T, db *sqlite.DB, runs []*engine.Run) string {
	t.Helper()
	// Fires' tags and tiers reach the customers rows when the change log is
	// folded, in the background: fold now, or the rows read below depend on
	// whether the folder got there first.
	if err := db.FoldChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "%s audience=%d matched=%d fired=%d\n", r.Playbook, r.Audience, r.Matched, r.Fired)
		for _, c := range r.Rules {
			fmt.Fprintf(&b, "  %s matched=%d fired=%d errors=%d suppressed=%v\n", c.Rule, c.Matched, c.Fired, c.Errors, c.Suppressed)
		}
	}
	rows, err := db.SQL().Query(`SELECT f.playbook, f.rule, f.customer_id, f.seq, f.status, c.tier, c.tags
		FROM fires f JOIN customers c ON c.id = f.customer_id ORDER BY f.playbook, f.rule, f.customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pb, rule, cust, status, tier, tags string
		var seq int
		if err := rows.Scan(&pb, &rule, &cust, &seq, &status, &tier, &tags); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s/%s %s #%d %s %s %s\n", pb, rule, cust, seq, status, tier, tags)
	}
	return b.String()
}

// TestLookaheadEqualsEvaluatingAfterwards runs four playbooks in one run,
// each after the first evaluated ahead while the one before writes,
// against the same four run one after the other. The first playbook changes few
// customers (the lookahead patches them in) or many (it evaluates again).
func TestLookaheadEqualsEvaluatingAfterwards(t *testing.T) {
	for _, tc := range []struct {
		name      string
		minOrders int
	}{{"few changed", 8}, {"many changed", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"a-first": fmt.Sprintf(lookaheadFirst, tc.minOrders), "b-second": lookaheadSecond, "c-third": lookaheadThird, "d-fourth": lookaheadFourth} {
				if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			const n = 1500 // above the size at which evaluation splits across cores
			together := newLookaheadPond(t, filepath.Join(t.TempDir(), "together.db"), n)
			apart := newLookaheadPond(t, filepath.Join(t.TempDir(), "apart.db"), n)
			got := dump(t, together, lookaheadRun(t, together, dir))
			first := lookaheadRun(t, apart, dir, "a-first")
			second := lookaheadRun(t, apart, dir, "b-second")
			third := lookaheadRun(t, apart, dir, "c-third")
			fourth := lookaheadRun(t, apart, dir, "d-fourth")
			want := dump(t, apart, slices.Concat(first, second, third, fourth))
			if got != want {
				t.Errorf("one run with lookahead:\n%s\nplaybooks run one after the other:\n%s", got, want)
			}
			changed := first[0].Fired
			if tc.minOrders > 0 && changed*8 >= n || tc.minOrders == 0 && changed*8 <= n {
				t.Errorf("the first playbook changed %d of %d customers: not the case this subtest is for", changed, n)
			}
		})
	}
}
