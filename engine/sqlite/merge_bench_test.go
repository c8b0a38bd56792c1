package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// benchMerges measures one batch of 300 records, each merging a new
// customer into a stored one by member number, after prepare has grown
// what a merge has to look through.
func benchMerges(b *testing.B, prepare func(f *fixture)) {
	const n = 300
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		f := newFixture(b)
		e := f.engine()
		var cs []domain.Customer
		for k := range n {
			cs = append(cs, domain.Customer{ID: fmt.Sprintf("o%04d", k), JoinedAt: t0.Add(-10 * day),
				Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprintf("M%d", k)}}})
		}
		storeAll(b, e, t0, cs...)
		prepare(f)
		cs = cs[:0]
		for k := range n {
			cs = append(cs, domain.Customer{ID: fmt.Sprintf("y%04d", k), Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprintf("M%d", k)}}})
		}
		b.StartTimer()
		if res := storeAll(b, e, t0, cs...); len(res.Merges) != n {
			b.Fatalf("%d merges, want %d", len(res.Merges), n)
		}
	}
}

// Held fires have no index by customer: merges move them in one pass a
// batch, not one a merge (a held run of a million was 27 s a batch).
func BenchmarkMergesWithAMillionHeldFires(b *testing.B) {
	benchMerges(b, func(f *fixture) {
		if _, err := f.db.SQL().Exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < 1000000)
			INSERT INTO held_fires (run_id, rule, customer_id, seq, holdout) SELECT 1, 'r', 'x' || i, 1, 0 FROM k`); err != nil {
			b.Fatal(err)
		}
	})
}

// A merge looks for the customers' fires under every (playbook, rule)
// that ever fired, in one statement a table (400 rules were 5.6 s a batch).
func BenchmarkMergesWith400FiringRules(b *testing.B) {
	benchMerges(b, func(f *fixture) {
		if _, err := f.db.SQL().Exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < 400)
			INSERT INTO fires_recent (run_id, playbook, rule, customer_id, seq, status, at, hash, written_at)
			SELECT 1, 'p' || (i % 40), 'r' || i, 'zz', 1, 'fired', 0, '', 0 FROM k`); err != nil {
			b.Fatal(err)
		}
	})
}
