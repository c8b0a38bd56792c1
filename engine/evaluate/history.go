package evaluate

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// History is the fire history cooldown, once and benefit groups are
// decided by, kept in memory for one pond: for each rule, each customer's
// latest fire, by the customer's position in the pond. It is loaded once
// (Load, from the store) and brought up to date as fires commit
// (NoteFire), so a run costs the same after a year of daily runs as
// on its first day; reading the history back from the store for every run
// made a run's cost grow with it.
//
// It answers exactly what the store's FireMarks does (see View). All its
// methods are safe for concurrent use.
type History struct {
	mu sync.RWMutex
	// size is the number of customers the tables' slots cover when made.
	size   int
	rules  map[RuleRef]*ruleTable
	groups map[string]*groupTable
	// last is the table Load noted a fire in last: the store reads fires
	// in commit order, where a run's fires of one rule come together.
	last *ruleTable
}

// ruleTable is one rule's marks by pond position: slots holds 1 + the
// index of the customer's mark in marks, 0 when the rule never fired for
// them (see positions). A million customers cost a rule at most 4 MB of
// slots plus 16 bytes per customer it fired for, where a map from
// position to mark cost 60-odd bytes per customer; and a lookup is two
// array reads, not a hash.
type ruleTable struct {
	ref   RuleRef
	name  string // playbook/rule, one string per rule
	slots positions
	marks []ruleMark
	// noGroup holds the latest time among fires recorded without a
	// benefit group, for the marks that also have fires recorded in one
	// (from after the rule joined a group); for the others it is at.
	noGroup []int64
}

// ruleMark is a rule's fire history for one customer: its highest number
// and its latest time (unix ms); noGroup is 0 when every fire was
// recorded without a benefit group, else 1 + the index of the latest
// time among those that were in the table's noGroup.
type ruleMark struct {
	at      int64
	seq     int32
	noGroup int32
}

func (t *ruleTable) get(pos int) (ruleMark, bool) {
	s := t.slots.get(pos)
	if s == 0 {
		return ruleMark{}, false
	}
	return t.marks[s-1], true
}

// atNoGroup returns the latest time of m's fires recorded without a
// benefit group, 0 for none.
func (t *ruleTable) atNoGroup(m ruleMark) int64 {
	if m.noGroup == 0 {
		return m.at
	}
	return t.noGroup[m.noGroup-1]
}

func (t *ruleTable) note(pos, seq int32, at int64, grouped bool, size int) {
	k := slotFor(&t.slots, pos, len(t.marks), size)
	fresh := k == len(t.marks)
	if fresh {
		t.marks = append(t.marks, ruleMark{})
	}
	m := &t.marks[k]
	switch {
	case grouped && m.noGroup == 0:
		// The first fire in a group: the ungrouped ones' latest is what
		// the mark held so far (none for a fresh mark).
		prev := m.at
		if fresh {
			prev = 0
		}
		t.noGroup = append(t.noGroup, prev)
		m.noGroup = int32(len(t.noGroup))
	case !grouped && m.noGroup != 0:
		t.noGroup[m.noGroup-1] = max(t.noGroup[m.noGroup-1], at)
	}
	m.seq, m.at = max(m.seq, seq), max(m.at, at)
}

// trim gives back the room append left at the end of the marks.
func (t *ruleTable) trim() {
	if cap(t.marks)-len(t.marks) > len(t.marks)/16 {
		t.marks = slices.Clone(t.marks)
	}
}

// groupTable is a benefit group's marks by pond position, laid out as
// ruleTable's.
type groupTable struct {
	slots positions
	marks []groupMark
}

// groupMark is the fire recorded in a benefit group with the highest group
// number for one customer, and the rule that fired it.
type groupMark struct {
	gseq int32
	at   int64
	by   string
}

func (t *groupTable) get(pos int) (groupMark, bool) {
	s := t.slots.get(pos)
	if s == 0 {
		return groupMark{}, false
	}
	return t.marks[s-1], true
}

// slotFor returns the index of pos's mark in a table whose slots are
// slots and which has n marks, adding pos (in a pond of size customers)
// when it has none; n then (the caller appends the mark).
func slotFor(slots *positions, pos int32, n int, size int) int {
	if s := slots.get(int(pos)); s != 0 {
		return int(s - 1)
	}
	slots.set(pos, int32(n+1), size)
	return n
}

// NewHistory returns an empty history of a pond of size customers.
func NewHistory(size int) *History {
	return &History{size: size, rules: map[RuleRef]*ruleTable{}, groups: map[string]*groupTable{}}
}

// Load runs fn, which hands the history its fires through note, under
// one lock: loading ten million fires takes a lock once, not per fire.
func (h *History) Load(fn func(note func(ref RuleRef, pos int, seq int, at int64, group string, gseq int)) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := fn(h.note); err != nil {
		return err
	}
	for _, t := range h.rules {
		t.trim()
	}
	return nil
}

// NoteFire adds a committed fire (or holdout) of a rule for the customer
// at pos, recorded in group with number gseq when group is not "".
func (h *History) NoteFire(ref RuleRef, pos int, seq int, at time.Time, group string, gseq int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.note(ref, pos, seq, at.UnixMilli(), group, gseq)
}

// note adds a fire; the caller holds the lock.
func (h *History) note(ref RuleRef, pos int, seq int, at int64, group string, gseq int) {
	if pos < 0 || pos > math.MaxInt32-1 {
		return // not a pond position
	}
	t := h.last
	if t == nil || t.ref != ref {
		t = h.table(ref)
		h.last = t
	}
	if group != "" {
		h.noteGroup(group, int32(pos), int32(gseq), at, t.name)
	}
	t.note(int32(pos), int32(seq), at, group != "", h.size)
}

// table returns the rule's table, made when missing; the caller holds
// the write lock.
func (h *History) table(ref RuleRef) *ruleTable {
	t := h.rules[ref]
	if t == nil {
		t = &ruleTable{ref: ref, name: ref.String()}
		h.rules[ref] = t
	}
	return t
}

func (h *History) noteGroup(group string, pos, gseq int32, at int64, by string) {
	t := h.groups[group]
	if t == nil {
		t = &groupTable{}
		h.groups[group] = t
	}
	k := slotFor(&t.slots, pos, len(t.marks), h.size)
	if k == len(t.marks) {
		t.marks = append(t.marks, groupMark{gseq: gseq, at: at, by: by})
		return
	}
	// As the store reads it: the fire with the highest group number
	// speaks for the group.
	if m := &t.marks[k]; gseq > m.gseq {
		*m = groupMark{gseq: gseq, at: at, by: by}
	}
}

// View returns the marks one evaluation of playbook reads, with groups
// the benefit groups of every loaded playbook. The tables of the
// playbook's rules and of the groups' rules are looked up here, once, not
// per customer.
func (h *History) View(playbook string, rules []string, groups GroupRules) *Marks {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := &historyView{h: h, rules: make([]*ruleTable, len(rules)), groups: make(map[string][]*ruleTable, len(groups))}
	for i, r := range rules {
		v.rules[i] = h.table(RuleRef{playbook, r})
	}
	for g, refs := range groups {
		ts := make([]*ruleTable, len(refs))
		for i, ref := range refs {
			ts[i] = h.table(ref)
		}
		v.groups[g] = ts
	}
	return &Marks{history: v, playbook: playbook, groupRules: groups}
}

// historyView is a History as one playbook's evaluation reads it.
type historyView struct {
	h      *History
	rules  []*ruleTable // the playbook's, in View's order
	groups map[string][]*ruleTable
}

// rule returns the mark of a playbook's rule for the customer at pos.
func (v *historyView) rule(rule string, pos int) FireMark {
	var t *ruleTable
	for _, rt := range v.rules {
		if rt.ref.Rule == rule {
			t = rt
			break
		}
	}
	if t == nil {
		return FireMark{}
	}
	v.h.mu.RLock()
	m, ok := t.get(pos)
	v.h.mu.RUnlock()
	if !ok {
		return FireMark{}
	}
	return FireMark{Seq: int(m.seq), At: time.UnixMilli(m.at).UTC()}
}

// group returns a benefit group's mark for the customer at pos, as
// evaluating playbook sees it: the fire recorded in the group with the
// highest number, and the latest fire of any of the group's rules from
// before they joined it (for the playbook's own rules, their latest fire).
func (v *historyView) group(playbook, group string, pos int) FireMark {
	v.h.mu.RLock()
	defer v.h.mu.RUnlock()
	var out FireMark
	var at int64
	note := func(ms int64, gseq int32, by string) {
		if ms > at {
			at, out.By = ms, by
		}
		out.Seq = max(out.Seq, int(gseq))
	}
	if t := v.h.groups[group]; t != nil {
		if m, ok := t.get(pos); ok {
			note(m.at, m.gseq, m.by)
		}
	}
	for _, t := range v.groups[group] {
		m, ok := t.get(pos)
		if !ok {
			continue
		}
		ms := t.atNoGroup(m)
		if t.ref.Playbook == playbook {
			ms = m.at
		}
		if ms > 0 {
			note(ms, 0, t.name)
		}
	}
	if at > 0 {
		out.At = time.UnixMilli(at).UTC()
	}
	return out
}

// Encode returns the history in a compact form for a pond image, with
// positions mapped through pos (false drops the customer's marks).
func (h *History) Encode(pos func(int) (int, bool)) []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(h.rules)))
	for ref, t := range h.rules {
		b = appendString(appendString(b, ref.Playbook), ref.Rule)
		b = binary.AppendUvarint(b, uint64(t.slots.n))
		t.slots.each(func(old int, s int32) {
			m := t.marks[s-1]
			p, ok := pos(old)
			if !ok {
				p = -1
			}
			b = binary.AppendVarint(b, int64(p))
			b = binary.AppendUvarint(b, uint64(m.seq))
			b = binary.AppendVarint(b, m.at)
			if m.noGroup == 0 {
				b = append(b, 0)
			} else {
				b = append(b, 1)
				b = binary.AppendVarint(b, t.noGroup[m.noGroup-1])
			}
		})
	}
	b = binary.AppendUvarint(b, uint64(len(h.groups)))
	for name, t := range h.groups {
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(t.slots.n))
		t.slots.each(func(old int, s int32) {
			m := t.marks[s-1]
			p, ok := pos(old)
			if !ok {
				p = -1
			}
			b = binary.AppendVarint(b, int64(p))
			b = binary.AppendUvarint(b, uint64(m.gseq))
			b = binary.AppendVarint(b, m.at)
			b = appendString(b, m.by)
		})
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// DecodeHistory reads a history Encode wrote, for a pond of size
// customers.
func DecodeHistory(b []byte, size int) (*History, error) {
	h := NewHistory(size)
	d := historyDecoder{b: b}
	for range d.count() {
		ref := RuleRef{d.str(), d.str()}
		t := h.table(ref)
		n := d.count()
		t.marks = make([]ruleMark, 0, n)
		for range n {
			pos, seq, at := d.varint(), d.uvarint(), d.varint()
			grouped := d.byte() == 1
			var noGroup int64
			if grouped {
				noGroup = d.varint()
			}
			if d.err != nil || pos < 0 || pos >= int64(size) || seq > math.MaxInt32 {
				continue // dropped, or damage d.err reports
			}
			k := slotFor(&t.slots, int32(pos), len(t.marks), size)
			if k != len(t.marks) {
				return nil, fmt.Errorf("fire history: %s twice for position %d", ref, pos)
			}
			m := ruleMark{at: at, seq: int32(seq)}
			if grouped {
				t.noGroup = append(t.noGroup, noGroup)
				m.noGroup = int32(len(t.noGroup))
			}
			t.marks = append(t.marks, m)
		}
	}
	by := map[string]string{}
	for range d.count() {
		name := d.str()
		t := &groupTable{}
		h.groups[name] = t
		for range d.count() {
			pos, gseq, at, who := d.varint(), d.uvarint(), d.varint(), d.str()
			if d.err != nil || pos < 0 || pos >= int64(size) || gseq > math.MaxInt32 {
				continue
			}
			if s, ok := by[who]; ok {
				who = s
			} else {
				by[who] = who
			}
			k := slotFor(&t.slots, int32(pos), len(t.marks), size)
			if k != len(t.marks) {
				return nil, fmt.Errorf("fire history: group %s twice for position %d", name, pos)
			}
			t.marks = append(t.marks, groupMark{gseq: int32(gseq), at: at, by: who})
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("fire history: %w", d.err)
	}
	if d.i != len(d.b) {
		return nil, fmt.Errorf("fire history: %d bytes left over", len(d.b)-d.i)
	}
	return h, nil
}

type historyDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *historyDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = fmt.Errorf("bad number at %d", d.i)
		return 0
	}
	d.i += n
	return x
}

func (d *historyDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err = fmt.Errorf("bad number at %d", d.i)
		return 0
	}
	d.i += n
	return x
}

func (d *historyDecoder) byte() byte {
	if d.err != nil || d.i >= len(d.b) {
		d.err = cmp.Or(d.err, errors.New("cut short"))
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *historyDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every entry takes at least a byte
		d.err = cmp.Or(d.err, fmt.Errorf("a list of %d", n))
		return 0
	}
	return int(n)
}

func (d *historyDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.i) {
		d.err = fmt.Errorf("a string of %d bytes at %d", n, d.i)
		return ""
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	return s
}
