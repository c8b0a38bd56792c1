package evaluate

import (
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
	mu     sync.RWMutex
	rules  map[RuleRef]map[int32]ruleMark
	groups map[string]map[int32]groupMark
	names  map[RuleRef]string // playbook/rule, one string per rule
}

// ruleMark is a rule's fire history for one customer: its highest number,
// its latest time, and its latest time among the fires recorded without a
// benefit group (from before the rule joined one); times in unix ms, 0 for
// none.
type ruleMark struct {
	seq       int32
	at        int64
	atNoGroup int64
}

// groupMark is the fire recorded in a benefit group with the highest group
// number for one customer, and the rule that fired it.
type groupMark struct {
	gseq int32
	at   int64
	by   string
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{rules: map[RuleRef]map[int32]ruleMark{}, groups: map[string]map[int32]groupMark{}, names: map[RuleRef]string{}}
}

// Load runs fn, which hands the history its fires through note, under
// one lock: loading ten million fires takes a lock once, not per fire.
func (h *History) Load(fn func(note func(ref RuleRef, pos int, seq int, at int64, group string, gseq int)) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h.note)
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
	noGroup := at
	if group != "" {
		noGroup = 0
		h.noteGroup(group, int32(pos), int32(gseq), at, h.name(ref))
	}
	h.noteRule(ref, int32(pos), int32(seq), at, noGroup)
}

func (h *History) noteRule(ref RuleRef, pos, seq int32, at, atNoGroup int64) {
	byPos := h.rules[ref]
	if byPos == nil {
		byPos = map[int32]ruleMark{}
		h.rules[ref] = byPos
		h.name(ref) // group reads it under the read lock
	}
	m := byPos[pos]
	m.seq, m.at, m.atNoGroup = max(m.seq, seq), max(m.at, at), max(m.atNoGroup, atNoGroup)
	byPos[pos] = m
}

func (h *History) noteGroup(group string, pos, gseq int32, at int64, by string) {
	byPos := h.groups[group]
	if byPos == nil {
		byPos = map[int32]groupMark{}
		h.groups[group] = byPos
	}
	// As the store reads it: the fire with the highest group number
	// speaks for the group.
	if m, ok := byPos[pos]; !ok || gseq > m.gseq {
		byPos[pos] = groupMark{gseq: gseq, at: at, by: by}
	}
}

func (h *History) name(ref RuleRef) string {
	n, ok := h.names[ref]
	if !ok {
		n = ref.String()
		h.names[ref] = n
	}
	return n
}

// View returns the marks one evaluation of playbook reads, with groups
// the benefit groups of every loaded playbook.
func (h *History) View(playbook string, groups GroupRules) *Marks {
	return &Marks{history: h, playbook: playbook, groupRules: groups}
}

// rule returns the mark of a playbook's rule for the customer at pos.
func (h *History) rule(playbook, rule string, pos int) FireMark {
	h.mu.RLock()
	m, ok := h.rules[RuleRef{playbook, rule}][int32(pos)]
	h.mu.RUnlock()
	if !ok {
		return FireMark{}
	}
	return FireMark{Seq: int(m.seq), At: time.UnixMilli(m.at).UTC()}
}

// group returns a benefit group's mark for the customer at pos, as
// evaluating playbook sees it: the fire recorded in the group with the
// highest number, and the latest fire of any of the group's rules from
// before they joined it (for the playbook's own rules, their latest fire).
func (h *History) group(playbook, group string, rules []RuleRef, pos int) FireMark {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out FireMark
	var at int64
	note := func(ms int64, gseq int32, by string) {
		if ms > at {
			at, out.By = ms, by
		}
		out.Seq = max(out.Seq, int(gseq))
	}
	if m, ok := h.groups[group][int32(pos)]; ok {
		note(m.at, m.gseq, m.by)
	}
	for _, ref := range rules {
		m, ok := h.rules[ref][int32(pos)]
		if !ok {
			continue
		}
		ms := m.atNoGroup
		if ref.Playbook == playbook {
			ms = m.at
		}
		if ms > 0 {
			note(ms, 0, h.names[ref])
		}
	}
	if at > 0 {
		out.At = time.UnixMilli(at).UTC()
	}
	return out
}
