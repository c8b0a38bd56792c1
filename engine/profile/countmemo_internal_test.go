package profile

import "testing"

// A worker's memory of count()'s arguments answers as the type table and
// the window would: per table, for windows that parse, for types that
// exist, and for a type that appears after it was first asked about.
func TestCountMemoAnswersAsTheTable(t *testing.T) {
	var a, b typeTable
	a.init()
	b.init()
	a.id("visit")
	b.id("share_x")
	b.id("visit") // another id for the same name in another pond
	var m countMemo
	for round := 0; round < 2; round++ { // the second round is answered from memory
		for _, tc := range []struct {
			types          *typeTable
			typ, window    string
			wantOK         bool
			wantID, wantMs int64
		}{
			{&a, "visit", "7d", true, int64(mustID(&a, "visit")), 7 * 24 * 3600 * 1000},
			{&b, "visit", "7d", true, int64(mustID(&b, "visit")), 7 * 24 * 3600 * 1000},
			{&a, "visit", "36h", true, int64(mustID(&a, "visit")), 36 * 3600 * 1000},
			{&a, "visit", "soon", false, 0, 0},
			{&a, "nothing", "7d", false, 0, 0},
		} {
			id, ms, ok := m.countArgs(tc.types, tc.typ, tc.window)
			if ok != tc.wantOK || (ok && (int64(id) != tc.wantID || ms != tc.wantMs)) {
				t.Errorf("round %d: count(%q, %q) = %d, %d, %v; want %d, %d, %v", round, tc.typ, tc.window, id, ms, ok, tc.wantID, tc.wantMs, tc.wantOK)
			}
		}
	}
	a.id("nothing") // its first event arrives
	if id, _, ok := m.countArgs(&a, "nothing", "7d"); !ok || id != mustID(&a, "nothing") {
		t.Errorf("a type that appeared later: %d, %v", id, ok)
	}
}

func mustID(t *typeTable, name string) uint16 {
	id, ok := t.lookup(name)
	if !ok {
		panic(name)
	}
	return id
}
