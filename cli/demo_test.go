package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// koi demo never overwrites a pond by surprise: on a database with data it
// refuses and changes nothing; --replace starts over, every table empty
// but for the new pond.
func TestDemoRefusesAPondUnlessReplace(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "500", "--at", "2026-06-18")
	mustKoi(t, "--db", db, "run", "--at", at)
	fires := query(t, db, `SELECT count(*) FROM fires`)
	changes := query(t, db, `SELECT count(*) FROM customer_changes`)
	if fires == 0 || changes == 0 {
		t.Fatalf("the run fired %d and changed %d customers; the test needs both", fires, changes)
	}
	r := koi(t, nil, "--db", db, "demo", "--customers", "300", "--at", "2026-06-18")
	if r.code != exitFailed || !strings.Contains(r.stderr, "already holds a pond (500 customers") || !strings.Contains(r.stderr, "--replace") {
		t.Fatalf("demo on a pond: exit %d\n%s", r.code, r.stderr)
	}
	if n := query(t, db, `SELECT count(*) FROM customers`); n != 500 {
		t.Errorf("a refused demo left %d customers", n)
	}
	if n := query(t, db, `SELECT count(*) FROM fires`); n != fires {
		t.Errorf("a refused demo changed the fires: %d, were %d", n, fires)
	}
	r = mustKoi(t, "--db", db, "demo", "--customers", "300", "--at", "2026-06-18", "--replace")
	if !strings.Contains(r.stdout, "300 customers") || !strings.Contains(r.stdout, "replaced the database's previous contents (500 customers") {
		t.Errorf("demo --replace said: %s", r.stdout)
	}
	for table, want := range map[string]int{"customers": 300, "fires": 0, "runs": 0, "coupons": 0, "customer_changes": 0, "jobs": 0, "contacts": 0} {
		if n := query(t, db, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("after --replace, %s has %d rows, want %d", table, n, want)
		}
	}
	// The new pond works like a new one: a run fires again.
	if r := mustKoi(t, "--db", db, "run", "--at", at, "--json"); !strings.Contains(r.stdout, `"fired"`) || query(t, db, `SELECT count(*) FROM fires`) == 0 {
		t.Errorf("a run on the replaced pond fired nothing")
	}
}
