package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// designSOPTest is what §3b says the SOP does, as a koi test: welcome at
// the wecom_add (not for a customer who bought before), the group
// invitation on WeCom a day later, the guide's call at 72 h, the sample
// at 7 days; an order leaves; adding the brand again enters nobody.
const designSOPTest = `playbook: new-contact-sop.yaml
at: 2026-06-01 10:00
cases:
  - name: the SOP of DESIGN 3b
    customers:
      - { id: newcomer, name: 小林, wecom_id: wm-newcomer }
      - { id: orders-soon, wecom_id: wm-soon }
      - { id: buyer, orders: [{ at: -20d, amount: 99 }] }
    steps:
      - events:
          - { customer: newcomer, type: wecom_add }
          - { customer: orders-soon, type: wecom_add }
          - { customer: buyer, type: wecom_add }
        expect:
          newcomer: { fires: [welcome], coupons: [20], tags: [sop-new] }
          orders-soon: { fires: [welcome] }
      - at: +24h
        expect:
          newcomer: { fires: [invite-group], messages: ["..."] }
          orders-soon: { fires: [invite-group] }
      - at: +50h
        events: [{ customer: orders-soon, type: order, amount: 128 }]
        expect: {}
      - at: +72h
        expect:
          newcomer: { fires: [guide-call] }
      - at: +7d
        expect:
          newcomer: { fires: [sample-offer], coupons: [30] }
      - at: +8d
        events: [{ customer: newcomer, type: wecom_add }]
        expect: {}
`

// The journey written exactly as DESIGN §3b shows passes koi check
// --strict and behaves as specified in koi test, with a WeCom channel and
// guides in koi.yaml.
func TestDesignJourneyBehaves(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "koi.yaml"), "timezone: Asia/Shanghai\nchannels:\n  wecom:\n    type: wecom\n    corp_id: ww1234567890abcdef\n    secret_env: KOI_TEST_WECOM_SECRET\nguides:\n  - { id: g01, name: 小王, capacity: 40, wecom_user: wangxiao }\n")
	if err := os.Mkdir(filepath.Join(dir, "sop"), 0o755); err != nil {
		t.Fatal(err)
	}
	// DESIGN §3b's journey, verbatim (rules' test loads it too).
	designSOP, err := os.ReadFile("../rules/testdata/design-journey.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sop", "new-contact-sop.yaml"), string(designSOP))
	write(t, filepath.Join(dir, "sop", "new-contact-sop_test.yaml"), designSOPTest)
	env := []string{"KOI_TEST_WECOM_SECRET=secret"}
	if r := koi(t, env, "--config", filepath.Join(dir, "koi.yaml"), "check", "--strict", filepath.Join(dir, "sop", "new-contact-sop.yaml")); r.code != 0 {
		t.Fatalf("koi check --strict: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := koi(t, env, "--config", filepath.Join(dir, "koi.yaml"), "test", filepath.Join(dir, "sop"))
	if r.code != 0 || !strings.Contains(r.stdout, "1 passed, 0 failed") {
		t.Fatalf("koi test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
