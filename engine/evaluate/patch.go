package evaluate

// Errors counts the customers whose conditions failed, over all rules.
func (ev *Evaluation) Errors() int {
	n := 0
	for _, c := range ev.Counts {
		n += c.Errors
	}
	return n
}

// Patch replaces the part of ev that before is (the customers in changed,
// sorted) with after.
func Patch(ev, before, after *Evaluation, changed []int) *Evaluation {
	out := &Evaluation{Audience: ev.Audience - before.Audience + after.Audience, Counts: ev.Counts, Marks: ev.Marks}
	for i, c := range out.Counts {
		c.Sub(before.Counts[i])
		c.Add(after.Counts[i])
	}
	out.Decisions = make([]Decision, 0, len(ev.Decisions)-len(before.Decisions)+len(after.Decisions))
	a, k := 0, 0
	for _, d := range ev.Decisions {
		for a < len(after.Decisions) && after.Decisions[a].Cust < d.Cust {
			out.Decisions = append(out.Decisions, after.Decisions[a])
			a++
		}
		for k < len(changed) && changed[k] < int(d.Cust) {
			k++
		}
		if k < len(changed) && changed[k] == int(d.Cust) {
			continue
		}
		out.Decisions = append(out.Decisions, d)
	}
	out.Decisions = append(out.Decisions, after.Decisions[a:]...)
	return out
}
