package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// koi demo --simulate-days has customers respond as told, and koi report
// finds that response: treated customers converted 10 points more often
// than held-out ones, and both variants did so alike.
func TestSimulationReportFindsWhatItWasTold(t *testing.T) {
	dir := t.TempDir()
	pbs := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbs, "recall.yaml"), []byte(`name: recall
schedule: "0 10 * * *"
holdout: 50%
limits: { max_fires: 100% }
rules:
  - id: nudge
    when: member
    cooldown: 60d
    variants:
      - { id: ten, weight: 1, actions: [ { coupon: { amount: 10, expires_in: 14d } } ] }
      - { id: twenty, weight: 1, actions: [ { coupon: { amount: 20, expires_in: 14d } } ] }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "koi.yaml")
	if err := os.WriteFile(cfg, []byte("playbooks: "+pbs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "koi.db")
	out := mustKoi(t, "demo", "--config", cfg, "--db", db, "--customers", "8000", "--simulate-days", "30", "--at", "2026-06-30",
		"--treated-conversion", "15", "--holdout-conversion", "5").stdout
	if !strings.Contains(out, "simulated 30 days") {
		t.Fatalf("demo: %s", out)
	}
	text := mustKoi(t, "report", "--config", cfg, "--db", db, "--at", "2026-06-30").stdout
	for _, want := range []string{"recall/nudge — attribution window 14d", "variant ten", "holdout", "uplift: +", "significant uplift", "ten vs twenty"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	var rep struct {
		Rules []struct {
			Treated, Holdout struct{ Customers, Converted int }
			Uplift           struct {
				U       float64 `json:"uplift"`
				Lo      float64 `json:"ci_low"`
				Hi      float64 `json:"ci_high"`
				Verdict string  `json:"verdict"`
			}
			VariantPairs []struct {
				Verdict string `json:"verdict"`
			} `json:"variant_pairs"`
		}
	}
	if err := json.Unmarshal([]byte(mustKoi(t, "report", "recall", "--json", "--config", cfg, "--db", db, "--at", "2026-06-30").stdout), &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Rules[0]
	// Told: 15% against 5%, plus 0.1% a day for anyone, which adds about
	// 1.4% over 14 days to both: the uplift is 10 points, diluted by
	// that 1.4% to about 9.9. With some 2,600 customers a group the
	// standard error is under a point: 3 points is well over three of
	// them, so a seed or a change of the generator does not flip it.
	if r.Treated.Customers < 2000 || r.Holdout.Customers < 2000 {
		t.Fatalf("groups %+v / %+v: too small to test", r.Treated, r.Holdout)
	}
	if math.Abs(r.Uplift.U-0.099) > 0.03 || r.Uplift.Hi-r.Uplift.Lo > 0.05 || r.Uplift.Verdict != "significant uplift" {
		t.Errorf("uplift %.3f [%.3f, %.3f] %q; told 0.10", r.Uplift.U, r.Uplift.Lo, r.Uplift.Hi, r.Uplift.Verdict)
	}
	if len(r.VariantPairs) != 1 || r.VariantPairs[0].Verdict != "no significant difference" {
		t.Errorf("variants were told the same response: %+v", r.VariantPairs)
	}
}

// The simulation runs each playbook as koi serve would: at its own cron
// times in its own timezone, through the scheduler, and the rules on
// events on the simulated orders. Member day (the 18th, 08:00 in
// Shanghai) runs on the 18th only, and fires only then.
func TestSimulationFollowsSchedules(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	out := mustKoi(t, "demo", "--db", db, "--customers", "1500", "--simulate-days", "40", "--at", "2026-11-25").stdout
	if !strings.Contains(out, "simulated 40 days") || !strings.Contains(out, "member-day 2") {
		t.Fatalf("demo: %s", out)
	}
	// 40 days up to 25 November 2026, from 16 October: the 18th of October and of November.
	got := queryStrings(t, db, `SELECT strftime('%Y-%m-%d %H:%M', at / 1000, 'unixepoch', '+8 hours') || ' ' || trigger FROM runs WHERE playbook = 'member-day' ORDER BY at`)
	if want := []string{"2026-10-18 08:00 schedule", "2026-11-18 08:00 schedule"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("member-day runs %v, want %v", got, want)
	}
	days := queryStrings(t, db, `SELECT DISTINCT strftime('%d', at / 1000, 'unixepoch', '+8 hours') FROM fires WHERE playbook = 'member-day'`)
	if strings.Join(days, ",") != "18" {
		t.Errorf("member-day fired on days %v of the month, want only the 18th", days)
	}
	// Every scheduled run is at its playbook's cron time, in Shanghai.
	for pb, hhmm := range map[string]string{"vip-tier": "02:00", "birthday": "09:00", "rfm-care": "10:00", "lifecycle": "11:30", "coupon-expiry": "15:00"} {
		times := queryStrings(t, db, `SELECT DISTINCT strftime('%H:%M', at / 1000, 'unixepoch', '+8 hours') FROM runs WHERE playbook = '`+pb+`' AND trigger = 'schedule'`)
		if strings.Join(times, ",") != hhmm {
			t.Errorf("%s ran at %v, want %s", pb, times, hhmm)
		}
		if n := query(t, db, `SELECT count(*) FROM runs WHERE playbook = '`+pb+`' AND trigger = 'schedule'`); n != 40 {
			t.Errorf("%s ran %d times in 40 days", pb, n)
		}
	}
	// Journeys' later steps were taken as they came due: dormant repeat
	// buyers entered on a Monday got their coupon three days on.
	// (Thursdays, not the next Monday's scheduled entry pass).
	if days := queryStrings(t, db, `SELECT DISTINCT strftime('%w %H', at / 1000, 'unixepoch', '+8 hours') FROM fires WHERE playbook = 'dormant-reactivation' AND rule = 'comeback-coupon'`); strings.Join(days, ",") != "4 10" {
		t.Errorf("comeback coupons fired on (weekday hour) %v, want only Thursdays at 10, three days after the Monday entries", days)
	}
	// The simulated orders reached the rules on events: first orders were
	// thanked, right after they were placed.
	if n := query(t, db, `SELECT count(*) FROM fires f JOIN runs r ON r.id = f.run_id WHERE f.rule = 'first-order-thanks' AND r.trigger = 'event'`); n == 0 {
		t.Error("no event-triggered fire of first-order-thanks")
	}
}
