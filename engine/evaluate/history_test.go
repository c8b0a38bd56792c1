package evaluate

import (
	"testing"
	"time"
)

// The store answers a rule's mark with its highest number and latest
// time whatever order the fires were recorded in (a backdated run writes
// an older fire after a newer one); the history must answer the same.
func TestHistoryKeepsTheLatestFireWhateverTheOrder(t *testing.T) {
	h := NewHistory(4)
	ref := RuleRef{"pb", "r"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h.NoteFire(ref, 7, 3, t0.Add(48*time.Hour), "", 0)
	h.NoteFire(ref, 7, 2, t0, "", 0) // older, noted later
	h.NoteFire(ref, 2, 1, t0, "", 0)

	m := h.View("pb", []string{"r", "other"}, nil)
	if got := m.Rule("r", 7, "c7"); got.Seq != 3 || !got.At.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("customer 7: %+v, want seq 3 at %v", got, t0.Add(48*time.Hour))
	}
	if got := m.Rule("r", 2, "c2"); got.Seq != 1 || !got.At.Equal(t0) {
		t.Errorf("customer 2: %+v, want seq 1 at %v", got, t0)
	}
	for _, pos := range []int{0, 3, 8, 1 << 20} {
		if got := m.Rule("r", pos, "x"); got != (FireMark{}) {
			t.Errorf("customer %d never fired: %+v", pos, got)
		}
	}
	if got := m.Rule("other", 7, "c7"); got != (FireMark{}) {
		t.Errorf("a rule that never fired: %+v", got)
	}
	if got := m.Rule("not-in-the-view", 7, "c7"); got != (FireMark{}) {
		t.Errorf("a rule the view does not know: %+v", got)
	}
}

// A group's mark is its fire with the highest group number, and the
// latest fire of its rules from before they joined it.
func TestHistoryGroupMarks(t *testing.T) {
	h := NewHistory(16)
	a, b := RuleRef{"pb", "a"}, RuleRef{"other", "b"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h.NoteFire(a, 5, 1, t0.Add(2*time.Hour), "welcome", 2)
	h.NoteFire(b, 5, 1, t0.Add(3*time.Hour), "welcome", 1) // later, lower number
	h.NoteFire(b, 6, 1, t0.Add(time.Hour), "", 0)          // before b joined the group

	groups := GroupRules{"welcome": {a, b}}
	m := h.View("pb", []string{"a"}, groups)
	got := m.Group("welcome", 5, "c5")
	if got.Seq != 2 || !got.At.Equal(t0.Add(2*time.Hour)) || got.By != "pb/a" {
		t.Errorf("customer 5: %+v, want the group's fire number 2 by pb/a", got)
	}
	got = m.Group("welcome", 6, "c6")
	if got.Seq != 0 || !got.At.Equal(t0.Add(time.Hour)) || got.By != "other/b" {
		t.Errorf("customer 6: %+v, want other/b's ungrouped fire", got)
	}
	if got := m.Group("welcome", 9, "c9"); got != (FireMark{}) {
		t.Errorf("customer 9 never fired: %+v", got)
	}

	// b fired for customer 7 before it joined the group and after: the
	// group sees the fire before (the one after is the group's own mark,
	// number 1); a fire noted in a group first and one without after
	// (commit order is not time order) come out the same.
	h.NoteFire(b, 7, 1, t0.Add(time.Hour), "", 0)
	h.NoteFire(b, 7, 2, t0.Add(5*time.Hour), "welcome", 1)
	h.NoteFire(b, 8, 2, t0.Add(5*time.Hour), "welcome", 1)
	h.NoteFire(b, 8, 1, t0.Add(time.Hour), "", 0)
	m = h.View("pb", []string{"a"}, groups)
	for _, pos := range []int{7, 8} {
		got := m.Group("welcome", pos, "c")
		if got.Seq != 1 || !got.At.Equal(t0.Add(5*time.Hour)) || got.By != "other/b" {
			t.Errorf("customer %d: %+v, want the group's fire at 05:00 by other/b", pos, got)
		}
	}
	// Seen from b's own playbook, its latest fire counts, grouped or not.
	mb := h.View("other", []string{"b"}, GroupRules{"welcome": {b}})
	if got := mb.Rule("b", 7, "c7"); got.Seq != 2 || !got.At.Equal(t0.Add(5*time.Hour)) {
		t.Errorf("b's own mark for customer 7: %+v", got)
	}
}

// The ungrouped fires of a rule that joined a group later are what the
// group's other playbooks see of it.
func TestHistoryFiresBeforeAGroup(t *testing.T) {
	b := RuleRef{"other", "b"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h2 := NewHistory(4)
	h2.NoteFire(b, 1, 1, t0.Add(time.Hour), "", 0)
	h2.NoteFire(b, 1, 2, t0.Add(3*time.Hour), "other-group", 1)
	m2 := h2.View("pb", nil, GroupRules{"welcome": {b}})
	if got := m2.Group("welcome", 1, "c1"); !got.At.Equal(t0.Add(time.Hour)) || got.By != "other/b" {
		t.Errorf("customer 1: %+v, want b's ungrouped fire at 01:00", got)
	}
}

// A history encoded for a pond image reads back the same, positions
// mapped (customer 3 left out of the image, the others moved up).
func TestHistoryEncodeDecode(t *testing.T) {
	h := NewHistory(6)
	a, b := RuleRef{"pb", "a"}, RuleRef{"other", "b"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h.NoteFire(a, 1, 2, t0, "", 0)
	h.NoteFire(a, 3, 1, t0, "", 0)
	h.NoteFire(b, 4, 1, t0.Add(time.Hour), "", 0)
	h.NoteFire(b, 4, 2, t0.Add(5*time.Hour), "welcome", 3)
	h.NoteFire(b, 5, 1, t0.Add(2*time.Hour), "other-group", 1)
	moved := func(pos int) (int, bool) {
		switch {
		case pos == 3:
			return 0, false
		case pos > 3:
			return pos - 1, true
		}
		return pos, true
	}
	back, err := DecodeHistory(h.Encode(moved), 5)
	if err != nil {
		t.Fatal(err)
	}
	groups := GroupRules{"welcome": {a, b}, "other-group": {b}}
	for _, pb := range []string{"pb", "other"} {
		want, got := h.View(pb, []string{"a", "b"}, groups), back.View(pb, []string{"a", "b"}, groups)
		for old := range 6 {
			pos, ok := moved(old)
			if !ok {
				continue
			}
			for _, r := range []string{"a", "b"} {
				if w, g := want.Rule(r, old, ""), got.Rule(r, pos, ""); w != g {
					t.Errorf("%s: rule %s of customer %d: %+v, want %+v", pb, r, old, g, w)
				}
			}
			for g := range groups {
				if w, gm := want.Group(g, old, ""), got.Group(g, pos, ""); w != gm {
					t.Errorf("%s: group %s of customer %d: %+v, want %+v", pb, g, old, gm, w)
				}
			}
		}
	}
	if m := back.View("pb", []string{"a"}, nil).Rule("a", 3, ""); m.Seq != 0 || !m.At.IsZero() {
		t.Errorf("customer 4, now at 3, has a's mark of the customer left out: %+v", m)
	}
	if _, err := DecodeHistory(h.Encode(moved)[:10], 5); err == nil {
		t.Error("a cut history decoded")
	}
}
