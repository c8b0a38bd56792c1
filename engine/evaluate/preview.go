package evaluate

import (
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Inspect is what a preview shows of an evaluation: the tasks per guide
// its messages on batching channels would make, how many customers each
// pair of rules shares, and up to n matched customers (every rule that
// matched anyone represented first) with the values their conditions read.
func Inspect(pb *rules.Playbook, snap *profile.Snapshot, ev *Evaluation, n int) ([]GuideTasks, []Overlap, []SampleCustomer) {
	pond := snap.Pond()
	tasks := guideTasks(pb, pond, ev.Decisions)
	byCustomer := groupOutcomes(ev.Outcomes(pb, snap, false))
	var sample []SampleCustomer
	for _, group := range sampleGroups(pb, byCustomer, n) {
		i, _ := pond.Lookup(group[0].CustomerID)
		sample = append(sample, SampleCustomer{CustomerID: group[0].CustomerID, Outcomes: group,
			Values: conditionValues(pb, group, snap.Profile(i))})
	}
	return tasks, overlaps(pb, byCustomer), sample
}

// GuideTasks is how many tasks a run would give one guide on a channel
// that batches, for how many customers. Guide "" is customers without a
// guide (the channel's default sender). Customers counts messages: a
// customer two rules message counts twice.
type GuideTasks struct {
	Channel   string `json:"channel"`
	Guide     string `json:"guide"`
	Tasks     int    `json:"tasks"`
	Customers int    `json:"customers"`
}

// Overlap is the number of customers two rules both matched in a preview.
type Overlap struct {
	Rules     [2]string `json:"rules"`
	Customers int       `json:"customers"`
}

// SampleCustomer is one customer of a preview's sample.
type SampleCustomer struct {
	CustomerID string            `json:"customer_id"`
	Outcomes   []CustomerOutcome `json:"outcomes"`
	// Values are the values of the attributes and helpers the audience
	// and the matched rules' conditions read, by expression.
	Values map[string]any `json:"values"`
}

// guideTasks counts the tasks per guide the decisions' messages on
// batching channels would make.
func guideTasks(pb *rules.Playbook, pond *profile.Pond, ds []Decision) []GuideTasks {
	type msgKey struct {
		channel, guide string
		rule, action   int
	}
	type guideKey struct{ channel, guide string }
	customers := map[msgKey]int{}
	personal := map[msgKey]bool{}
	for _, d := range ds {
		if d.Holdout {
			continue
		}
		r := pb.Rules[d.Rule]
		acts := r.Actions
		if d.Variant >= 0 && len(r.Variants) > 0 {
			acts = append(slices.Clip(acts), r.Variants[d.Variant].Actions...)
		}
		for k, a := range acts {
			b, ok := a.Action.(actions.Batched)
			if !ok {
				continue
			}
			ch, pers := b.Batching()
			if ch == "" {
				continue
			}
			key := msgKey{ch, pond.Customers[d.Cust].Guide(), int(d.Rule), k}
			customers[key]++
			personal[key] = pers
		}
	}
	totals := map[guideKey]*GuideTasks{}
	for key, n := range customers {
		gk := guideKey{key.channel, key.guide}
		t := totals[gk]
		if t == nil {
			t = &GuideTasks{Channel: key.channel, Guide: key.guide}
			totals[gk] = t
		}
		t.Customers += n
		if personal[key] {
			t.Tasks += n
		} else {
			t.Tasks++
		}
	}
	out := []GuideTasks{}
	for _, t := range totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b GuideTasks) int { return strings.Compare(a.Channel+"\x00"+a.Guide, b.Channel+"\x00"+b.Guide) })
	return out
}

// groupOutcomes splits outcomes, which are by customer, into one group
// per customer.
func groupOutcomes(all []CustomerOutcome) [][]CustomerOutcome {
	var groups [][]CustomerOutcome
	for k := 0; k < len(all); {
		j := k + 1
		for j < len(all) && all[j].CustomerID == all[k].CustomerID {
			j++
		}
		groups = append(groups, all[k:j])
		k = j
	}
	return groups
}

// overlaps counts the customers each pair of rules both matched.
func overlaps(pb *rules.Playbook, byCustomer [][]CustomerOutcome) []Overlap {
	index := map[string]int{}
	for i, r := range pb.Rules {
		index[r.ID] = i
	}
	n := len(pb.Rules)
	pairs := make([]int, n*n)
	for _, group := range byCustomer {
		for a := range group {
			for b := a + 1; b < len(group); b++ {
				pairs[index[group[a].Rule]*n+index[group[b].Rule]]++
			}
		}
	}
	out := []Overlap{}
	for a := range n {
		for b := a + 1; b < n; b++ {
			if k := pairs[a*n+b]; k > 0 {
				out = append(out, Overlap{Rules: [2]string{pb.Rules[a].ID, pb.Rules[b].ID}, Customers: k})
			}
		}
	}
	return out
}

// sampleGroups picks up to n customers, taking them in pond order so that
// every rule that matched anyone is represented before a rule gets a
// second one.
func sampleGroups(pb *rules.Playbook, byCustomer [][]CustomerOutcome, n int) [][]CustomerOutcome {
	if n <= 0 {
		return nil
	}
	var out [][]CustomerOutcome
	taken := make([]bool, len(byCustomer))
	shown := map[string]int{}
	for round := 1; len(out) < n; round++ {
		added := false
		for k, group := range byCustomer {
			if len(out) == n {
				break
			}
			if taken[k] {
				continue
			}
			for _, o := range group {
				if shown[o.Rule] < round {
					for _, o := range group {
						shown[o.Rule]++
					}
					taken[k], added = true, true
					out = append(out, group)
					break
				}
			}
		}
		if !added {
			break
		}
	}
	return out
}

// conditionValues evaluates what the audience and the rules a customer
// matched read, on the customer's profile.
func conditionValues(pb *rules.Playbook, group []CustomerOutcome, p *profile.Profile) map[string]any {
	values := map[string]any{}
	add := func(c *rules.Condition) {
		for k, v := range c.TermValues(c.Terms(), p) {
			values[k] = v
		}
	}
	if pb.Audience != nil {
		add(pb.Audience)
	}
	for _, o := range group {
		for _, r := range pb.Rules {
			if r.ID == o.Rule {
				add(r.When)
			}
		}
	}
	return values
}
