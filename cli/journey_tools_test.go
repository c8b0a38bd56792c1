package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine"
)

// The tools on a journey, on the demo pond and the example journeys: a
// preview names who would enter and what the due steps would do; a run
// enters them and takes the first step, as previewed; explain says where
// a customer is and what comes next; the report has a line per step and
// one for the whole journey.
func TestJourneyTools(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "2000", "--at", "2026-06-15")
	at := "2026-06-15T10:00:00+08:00"
	r := mustKoi(t, "--db", db, "preview", "dormant-reactivation", "--at", at, "--json")
	var pv engine.Preview
	if err := json.Unmarshal([]byte(r.stdout), &pv); err != nil {
		t.Fatal(err)
	}
	if pv.Journey == nil || pv.Audience == 0 || pv.Audience != pv.Journey.Entering || len(pv.Journey.EnteringSample) == 0 || pv.WouldFire == 0 {
		t.Fatalf("preview: %+v %+v", pv, pv.Journey)
	}
	human := mustKoi(t, "--db", db, "preview", "dormant-reactivation", "--at", at).stdout
	if !strings.Contains(human, "would enter") || !strings.Contains(human, "STEP (DUE)") || !strings.Contains(human, "miss-you") {
		t.Errorf("preview printed:\n%s", human)
	}
	r = mustKoi(t, "--db", db, "run", "dormant-reactivation", "--at", at, "--json")
	var rep runReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if p := rep.Playbooks[0]; !p.Journey || p.Audience != pv.Audience || p.Fired != pv.WouldFire || p.Status != engine.RunDone {
		t.Fatalf("run: %+v; the preview said %d entering, %d firing", p, pv.Audience, pv.WouldFire)
	}
	who := pv.Journey.EnteringSample[0]
	out := mustKoi(t, "--db", db, "explain", "--customer", who, "--rule", "dormant-reactivation", "--at", "2026-06-16T10:00:00+08:00").stdout
	for _, want := range []string{"dormant-reactivation/comeback-coupon for " + who, "journey: entry 1 at 2026-06-15 10:00 CST", "exit_when: orders_since_entry > 0", "verdict: waiting: the step is due 2026-06-18 10:00 CST"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	out = mustKoi(t, "--db", db, "report", "dormant-reactivation").stdout
	if !strings.Contains(out, "dormant-reactivation/miss-you") || !strings.Contains(out, "dormant-reactivation/(journey)") {
		t.Errorf("report:\n%s", out)
	}
	// Ten days on, nothing having processed the journey: the coupon step
	// (due at three days) is taken late, and said so.
	out = mustKoi(t, "--db", db, "run", "dormant-reactivation", "--at", "2026-06-25T10:00:00+08:00").stdout
	if !strings.Contains(out, "late=") {
		t.Errorf("a late pass does not say so:\n%s", out)
	}
	if r := koi(t, nil, "--db", db, "explain", "--customer", who, "--rule", "rfm-care"); r.code != exitUsage {
		t.Errorf("a playbook of rules without a rule: exit %d", r.code)
	}
}
