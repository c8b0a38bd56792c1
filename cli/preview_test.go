package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
)

// TestPreviewAgreesWithTheRunAndWritesNothing: koi preview counts what a
// run then does, shows a sample with the values used, and writes nothing;
// koi explain of a sampled customer gives the same verdict, part by part.
func TestPreviewAgreesWithTheRunAndWritesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "2000", "--seed", "3", "--at", "2026-06-18")
	const at = "2026-06-18T10:00:00+08:00"
	r := mustKoi(t, "--db", db, "preview", "rfm-care", "--at", at, "--json", "--sample", "6")
	var p engine.Preview
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("preview JSON: %v\n%s", err, r.stdout)
	}
	if n := query(t, db, `SELECT count(*) FROM fires`) + query(t, db, `SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("preview wrote %d rows", n)
	}
	if p.Audience == 0 || p.WouldFire == 0 || len(p.Sample) == 0 || len(p.Sample) > 6 {
		t.Fatalf("preview: audience %d, would fire %d, sample %d", p.Audience, p.WouldFire, len(p.Sample))
	}
	for _, s := range p.Sample {
		if _, ok := s.Values["rfm.segment"]; !ok || len(s.Outcomes) == 0 {
			t.Errorf("sample %s lacks the values its conditions read: %v", s.CustomerID, s.Values)
		}
	}
	// The sampled customer's fired rule, explained: it fires, as the
	// preview said; after the run it has fired once.
	var s evaluate.SampleCustomer
	var fired string
	for _, c := range p.Sample {
		for _, o := range c.Outcomes {
			if o.Outcome == evaluate.OutcomeFired && fired == "" {
				s, fired = c, o.Rule
			}
		}
	}
	if fired == "" {
		t.Fatalf("no sampled customer fires: %+v", p.Sample)
	}
	explain := func() evaluate.Explanation {
		out := mustKoi(t, "--db", db, "explain", "--customer", s.CustomerID, "--rule", "rfm-care/"+fired, "--at", at, "--json")
		var x evaluate.Explanation
		if err := json.Unmarshal([]byte(out.stdout), &x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	if x := explain(); x.Verdict != evaluate.VerdictFires || x.When.Value != true || x.State.Fires != 0 || len(x.When.Children) < 2 {
		t.Errorf("explain before the run: %+v", x)
	}
	text := mustKoi(t, "--db", db, "explain", "--customer", s.CustomerID, "--rule", "rfm-care/"+fired, "--at", at)
	for _, want := range []string{"when: ", " → true", "verdict: FIRES", "state: never fired"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("explain output lacks %q:\n%s", want, text.stdout)
		}
	}
	run := mustKoi(t, "--db", db, "run", "rfm-care", "--at", at, "--json")
	var rep runReport
	if err := json.Unmarshal([]byte(run.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for i, rc := range rep.Playbooks[0].Rules {
		if pc := p.Rules[i]; pc.Matched != rc.Matched || pc.Fired != rc.Fired || pc.Suppressed[evaluate.ReasonHoldout] != rc.Suppressed[evaluate.ReasonHoldout] {
			t.Errorf("rule %s: preview %+v, run %+v", rc.Rule, pc, rc)
		}
	}

	if x := explain(); x.State.Fires != 1 || x.Verdict == evaluate.VerdictFires {
		t.Errorf("explain after the run: %+v", x)
	}
	if r := koi(t, nil, "--db", db, "explain", "--customer", s.CustomerID, "--rule", "rfm-care"); r.code != exitUsage {
		t.Errorf("--rule without a rule id: exit %d, want %d", r.code, exitUsage)
	}
}
