package rules_test

import (
	"os"
	"testing"
	"time"

	"github.com/koihq/koi/rules"
)

// designJourneyFile is DESIGN §3b's journey, as written there (the
// syntax is a contract); cli's TestDesignJourneyBehaves runs it too.
const designJourneyFile = "testdata/design-journey.yaml"

func TestDesignJourneyLoads(t *testing.T) {
	designJourney, err := os.ReadFile(designJourneyFile)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := rules.Load("new-contact-sop.yaml", designJourney, options())
	if err != nil {
		t.Fatal(err)
	}
	j := pb.Journey
	if j == nil || len(pb.Rules) != 0 {
		t.Fatalf("journey %v, %d rules", j, len(pb.Rules))
	}
	if j.EnterOn != "wecom_add" || j.EnterWhen == nil || j.EnterWhen.Source != "orders == 0" || j.Reenter != 0 {
		t.Errorf("enter on %q when %v, reenter %v", j.EnterOn, j.EnterWhen, j.Reenter)
	}
	if j.ExitWhen == nil || j.ExitWhen.Source != "orders_since_entry > 0" {
		t.Errorf("exit_when %v", j.ExitWhen)
	}
	want := []struct {
		id      string
		after   time.Duration
		when    bool
		actions int
	}{{"welcome", 0, false, 2}, {"invite-group", 24 * time.Hour, false, 1}, {"guide-call", 72 * time.Hour, true, 1}, {"sample-offer", 7 * 24 * time.Hour, false, 1}}
	if len(j.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(j.Steps), len(want))
	}
	for k, w := range want {
		s := j.Steps[k]
		if s.ID != w.id || s.After != w.after || (s.When != nil) != w.when || len(s.Actions) != w.actions {
			t.Errorf("step %d: %s after %v, when %v, %d actions; want %+v", k, s.ID, s.After, s.When != nil, len(s.Actions), w)
		}
	}
	if s := j.Step("invite-group"); s == nil || len(s.Channels) != 1 || s.Channels[0] != "wecom" {
		t.Errorf("invite-group's channels: %+v", s)
	}
	if pb.HoldoutBP != 1000 || pb.Location.String() != "Asia/Shanghai" {
		t.Errorf("holdout %d bp, timezone %s", pb.HoldoutBP, pb.Location)
	}
	if ws := rules.Lint(pb, rules.LintOptions{}); len(ws) > 0 {
		t.Errorf("koi check --strict would fail on: %v", ws)
	}
}

// A journey entered on a schedule, with a re-entry window.
func TestScheduledJourneyLoads(t *testing.T) {
	pb, err := rules.Load("dormant.yaml", []byte(`name: dormant
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter:
    when: recency_days > 90
  reenter: 180d
  exit_when: orders_since_entry > 0 || count_since_entry("visit") > 3
  steps:
    - id: nudge
      after: 0m
      actions: [{ tag: { add: [dormant] } }]
    - id: offer
      after: 3d
      when: entered_days >= 3
      actions: [{ coupon: { amount: 10, min_spend: 0, expires_in: 7d } }]
`), options())
	if err != nil {
		t.Fatal(err)
	}
	if j := pb.Journey; j.EnterOn != "" || j.EnterWhen == nil || j.Reenter != 180*24*time.Hour || pb.Cron == nil {
		t.Errorf("enter on %q when %v, reenter %v, cron %v", j.EnterOn, j.EnterWhen, j.Reenter, pb.Cron)
	}
}
