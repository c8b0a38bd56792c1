package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplePlaybookTestsPass runs `koi test examples/`: every example
// playbook ships with a test file, and they all pass.
func TestExamplePlaybookTestsPass(t *testing.T) {
	r := mustKoi(t, "test", "examples/")
	playbooks, _ := filepath.Glob("../examples/playbooks/*.yaml")
	for _, pb := range playbooks {
		if strings.HasSuffix(pb, "_test.yaml") {
			continue
		}
		test := strings.TrimSuffix(pb, ".yaml") + "_test.yaml"
		if _, err := os.Stat(test); err != nil {
			t.Errorf("%s has no test file %s", pb, test)
		}
		if !strings.Contains(r.stdout, "ok    examples/playbooks/"+filepath.Base(test)) {
			t.Errorf("%s did not pass:\n%s", test, r.stdout)
		}
	}
}

// TestExampleTestsCatchMutations changes each example's key threshold in a
// copy and requires its test to fail: a test that passes whatever the
// playbook says proves nothing.
func TestExampleTestsCatchMutations(t *testing.T) {
	mutations := []struct{ playbook, from, to string }{
		{"lifecycle", "joined_days >= 7", "joined_days >= 8"},
		{"lifecycle", "recency_days <= 60", "recency_days < 60"},
		{"rfm-care", "recency_days > 45", "recency_days > 44"},
		{"rfm-care", "recency_days > 90", "recency_days >= 90"},
		{"vip-tier", "spend_90d >= 5000", "spend_90d > 5000"},
		{"vip-tier", "recency_days > 60", "recency_days >= 60"},
		{"member-day", "cooldown: 25d\n    stop: true\n    actions:\n      - coupon: { amount: 100", "cooldown: 35d\n    stop: true\n    actions:\n      - coupon: { amount: 100"},
		{"birthday", "birthday_in_days == 7 &&", "birthday_in_days <= 7 &&"},
		{"birthday", "when: birthday_in_days == 7\n", "when: birthday_in_days >= 7\n"},
		{"coupon-expiry", "coupon_expiring_days <= 2", "coupon_expiring_days <= 3"},
		{"koc-referral", "referrals >= 1", "referrals >= 2"},
		{"first-order", "orders == 1", "orders <= 2"},
		{"new-contact-sop", "when: orders == 0", "when: orders <= 1"},
		{"new-contact-sop", "exit_when: orders_since_entry > 0", "exit_when: orders_since_entry > 1"},
		{"new-contact-sop", "reenter: never", "reenter: 1d"},
		{"new-contact-sop", `when: '!has_tag("in-group")'`, `when: 'true'`},
		{"new-contact-sop", "after: 48h", "after: 49h"},
		{"repurchase", "recency_days >= 25", "recency_days >= 26"},
		{"repurchase", "exit_when: orders_since_entry > 0", "exit_when: orders_since_entry > 1"},
		{"repurchase", `count_since_entry("visit") > 0`, `count_since_entry("visit") >= 0`},
		{"dormant-reactivation", "recency_days > 90", "recency_days > 95"},
		{"dormant-reactivation", "reenter: 180d", "reenter: 1d"},
		{"dormant-reactivation", "exit_when: orders_since_entry > 0", "exit_when: orders_since_entry > 1"},
		{"dormant-reactivation", `count_since_entry("visit") > 0`, `count_since_entry("visit") >= 0`},
	}
	for _, m := range mutations {
		t.Run(m.playbook+": "+strings.SplitN(m.to, "\n", 2)[0], func(t *testing.T) {
			dir := t.TempDir()
			src, err := os.ReadFile("../examples/playbooks/" + m.playbook + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(string(src), m.from) != 1 {
				t.Fatalf("%q is not in %s exactly once: update the mutation", m.from, m.playbook)
			}
			write(t, filepath.Join(dir, m.playbook+".yaml"), strings.Replace(string(src), m.from, m.to, 1))
			test, err := os.ReadFile("../examples/playbooks/" + m.playbook + "_test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, m.playbook+"_test.yaml"), string(test))
			r := koi(t, nil, "test", dir)
			if r.code != 1 || !strings.Contains(r.stdout, "FAIL") {
				t.Errorf("the test still passes with %q → %q: exit %d\n%s%s", m.from, m.to, r.code, r.stdout, r.stderr)
			}
		})
	}
}

const tinyPlaybook = `name: recall
schedule: "0 10 * * *"
timezone: Asia/Shanghai
rules:
  - id: recall
    when: recency_days > 45 && spend >= 100
    cooldown: 30d
    actions:
      - coupon: { amount: 20, expires_in: 7d }
      - message: { channel: log, template: "{{.name}}, 送您{{.coupon.amount}}元券" }
`

// TestKoiTestFailureSaysWhoWhatAndWhy checks the failure report: the case
// and its line, the customer, expected against got, why a rule did not
// fire and the values its condition read.
func TestKoiTestFailureSaysWhoWhatAndWhy(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recall.yaml"), tinyPlaybook)
	write(t, filepath.Join(dir, "recall_test.yaml"), `playbook: recall.yaml
at: 2026-06-01 10:00
cases:
  - name: passes
    customers:
      - { id: a, name: 小王, orders: [{ at: -46d, amount: 100 }] }
    expect:
      a: { fires: [recall], coupons: [20], messages: ["小王, 送您20元券"] }
  - name: wrong on purpose
    customers:
      - { id: quiet, orders: [{ at: -45d, amount: 300 }] }
      - { id: cheap, orders: [{ at: -60d, amount: 99 }] }
      - { id: unlisted, orders: [{ at: -50d, amount: 500 }] }
    steps:
      - expect:
          quiet: { fires: [recall] }
          cheap: { fires: [recall], profile: { spend: 100 } }
      - at: +10d
        expect:
          quiet: { fires: [recall], messages: ["nope"] }
          cheap: {}
          unlisted: { fires: [recall] }
`)
	r := koi(t, nil, "test", dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`FAIL  ` + dir + `/recall_test.yaml:9: case "wrong on purpose"`,
		`recall_test.yaml:15 (step 1 at 2026-06-01 10:00 CST): customer quiet (line 16)`,
		"fires: want [recall], got none",
		"recall: did not match",
		`rule recall when: recency_days > 45 && spend >= 100`,
		"with recency_days = 45, spend = 300",
		"customer cheap (line 17)",
		"profile spend: want 100, got 99",
		// Not listed at step 1, unlisted fired: customers left out must fire nothing.
		"customer unlisted (line 13)\n    fires: want none, got [recall]",
		// Step 2: quiet is at 55 days now and fires; the message is checked.
		`recall_test.yaml:18 (step 2 at 2026-06-11 10:00 CST): customer quiet (line 20)`,
		`messages: want ["nope"], got [", 送您20元券"]`,
		// unlisted fired at step 1 and is cooling down now.
		"customer unlisted (line 22)\n    fires: want [recall], got none\n      recall: suppressed by cooldown",
		"2 cases in 1 file: 1 passed, 1 failed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, `case "passes"`) {
		t.Errorf("a passing case is reported as failing:\n%s", r.stdout)
	}
}

// TestKoiTestBadFileReportsEveryErrorWithPosition: a broken test file is
// reported with file:line:col for each problem, and fails the command.
func TestKoiTestBadFileReportsEveryErrorWithPosition(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recall.yaml"), tinyPlaybook)
	write(t, filepath.Join(dir, "recall_test.yaml"), `playbook: recall.yaml
cases:
  - name: no time
    customers: [{ id: a }]
    expect: { a: {} }
  - name: typos
    at: 2026-06-01
    customers:
      - { id: a, ordrs: [] }
      - { id: b, orders: [{ at: yesterday, amount: 10 }] }
    expect:
      a: { fire: [recall] }
      zed: {}
      b: { suppressed: { recall: cooling } }
`)
	r := koi(t, nil, "test", dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"recall_test.yaml:3:5: case \"no time\": at is required",
		"recall_test.yaml:9:18: case \"typos\": customer: unknown key \"ordrs\"",
		"recall_test.yaml:10:33: case \"typos\": customer b: order: at: want a time",
		"recall_test.yaml:12:12: case \"typos\": expect a: unknown key \"fire\"",
		"recall_test.yaml:13:7: case \"typos\": expect zed: \"zed\" is not one of the case's customers",
		"recall_test.yaml:14:34: case \"typos\": expect b: suppressed: recall: unknown reason \"cooling\"",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestKoiTestFindsNothing: pointing koi test at a directory without test
// files is a failure, so a CI job with a wrong path does not pass quietly.
func TestKoiTestFindsNothing(t *testing.T) {
	r := koi(t, nil, "test", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "no test files") {
		t.Errorf("exit %d, stderr %q; want 1 and no test files", r.code, r.stderr)
	}
}

// koi test approves its runs in advance, so a playbook's limits.max_fires
// does not hold a case's handful of customers; config.blast_guard: true
// turns the guard on for a file that tests it.
func TestPlaytestBlastGuard(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "guarded.yaml"), `name: guarded
schedule: "@daily"
limits: { max_fires: 1 }
rules:
  - id: welcome
    when: member
    once: true
    actions: [{ tag: { add: [welcomed] } }]
`)
	cases := `playbook: guarded.yaml
at: 2026-06-01 10:00
%s
cases:
  - name: two members
    customers: [{ id: a, member: true }, { id: b, member: true }]
    steps:
      - expect:
          a: %s
          b: %s
`
	write(t, filepath.Join(dir, "off_test.yaml"), fmt.Sprintf(cases, "", "{ fires: [welcome], tags: [welcomed] }", "{ fires: [welcome], tags: [welcomed] }"))
	write(t, filepath.Join(dir, "on_test.yaml"), fmt.Sprintf(cases, "config: { blast_guard: true }", "{ suppressed: { welcome: blast_guard } }", "{ suppressed: { welcome: blast_guard } }"))
	r := mustKoi(t, "test", dir)
	for _, f := range []string{"off_test.yaml", "on_test.yaml"} {
		if !strings.Contains(r.stdout, "ok    "+filepath.Join(dir, f)) {
			t.Errorf("%s did not pass:\n%s", f, r.stdout)
		}
	}
}
