package rules_test

import (
	"strings"
	"testing"

	"github.com/koihq/koi/rules"
)

func lint(t *testing.T, src string, opts rules.LintOptions) string {
	t.Helper()
	pb, err := rules.Load("p.yaml", []byte(src), options())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, w := range rules.Lint(pb, opts) {
		lines = append(lines, w.Error())
	}
	return strings.Join(lines, "\n")
}

func TestLintShadowedByAnEarlierStopRule(t *testing.T) {
	got := lint(t, `name: p
holdout: 0%
rules:
  - id: big
    when: spend_90d >= 1000 && tier != "vip"
    once: true
    stop: true
    actions: [{ tag: { add: [big] } }]
  - id: bigger
    when: spend_90d >= 5000 && tier != "vip" && member
    once: true
    actions: [{ tag: { add: [bigger] } }]
  - id: gold-or-vip
    when: tier in ["gold", "vip"]
    once: true
    stop: true
    actions: [{ tag: { add: [g] } }]
  - id: gold
    when: tier == "gold" || tier == "vip"
    once: true
    actions: [{ tag: { add: [g2] } }]
  - id: not-implied
    when: spend_90d >= 500
    once: true
    actions: [{ tag: { add: [x] } }]
`, rules.LintOptions{})
	want := `p.yaml:9:5: rule bigger can never fire: the earlier rule big has stop: true and matches every customer bigger matches
p.yaml:18:5: rule gold can never fire: the earlier rule gold-or-vip has stop: true and matches every customer gold matches`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLintCooldownChannelsAndHoldout(t *testing.T) {
	got := lint(t, `name: p
schedule: "0 */6 * * *"
rules:
  - id: nag
    when: recency_days > 30
    cooldown: 6h
    actions:
      - message: { channel: wecom, template: "hi" }
  - id: fine
    when: recency_days > 60
    cooldown: 7d
    actions:
      - coupon: { amount: 5, expires_in: 7d }
      - message: { channel: log, template: "hi" }
`, rules.LintOptions{Unreachable: func(ch string) string {
		if ch == "wecom" {
			return "wecom_id"
		}
		return ""
	}})
	want := `p.yaml:1:1: playbook p gives coupons without a holdout: its uplift cannot be measured; add holdout: 10% (or holdout: 0% to say it is deliberate)
p.yaml:4:5: rule nag messages, and its cooldown 6h is no longer than the schedule's period (6h): every run that matches messages the customer again; use a longer cooldown or once: true
p.yaml:4:5: rule nag messages on wecom, which reaches customers by wecom_id, but no customer in the data has one: nobody can be sent to`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLintExamplesAreClean(t *testing.T) {
	pbs, err := rules.LoadPaths([]string{"../examples/playbooks"}, options())
	if err != nil {
		t.Fatal(err)
	}
	for _, pb := range pbs {
		for _, w := range rules.Lint(pb, rules.LintOptions{}) {
			t.Errorf("example warns: %v", w)
		}
	}
	for _, w := range rules.LintGroups(pbs) {
		t.Errorf("example warns: %v", w)
	}
}

// A benefit group named once is a typo of another rule's group, or a
// group that shares nothing: either way, say so.
func TestLintGroupOfOne(t *testing.T) {
	load := func(name, src string) *rules.Playbook {
		pb, err := rules.Load(name, []byte(src), options())
		if err != nil {
			t.Fatal(err)
		}
		return pb
	}
	a := load("a.yaml", `name: a
holdout: 0%
rules:
  - id: vip
    group: member-day-voucher
    when: tier == "vip"
    cooldown: 25d
    actions: [{ coupon: { amount: 100, expires_in: 3d } }]
  - id: gold
    group: member-day-vocher
    when: tier == "gold"
    cooldown: 25d
    actions: [{ coupon: { amount: 50, expires_in: 3d } }]
`)
	b := load("b.yaml", `name: b
holdout: 0%
rules:
  - id: silver
    group: member-day-voucher
    when: tier == "silver"
    cooldown: 25d
    actions: [{ coupon: { amount: 30, expires_in: 3d } }]
`)
	var got []string
	for _, w := range rules.LintGroups([]*rules.Playbook{a, b}) {
		got = append(got, w.Error())
	}
	want := "a.yaml:9:5: rule gold is the only rule of benefit group member-day-vocher among the playbooks checked: a group shares cooldown and once between its rules, so check the name (did you mean member-day-voucher?)"
	if strings.Join(got, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
