package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
)

// Issue 26's done-means, with real processes: the same person imported
// from two files keyed by different identities (a shop's unionid, a CRM's
// member number and phone), then an event keyed by a third (the phone),
// is one customer with the whole history, and the next run reads it:
// once holds (the shop's customer was welcomed), RFM counts every order
// (three make loyal), and the frequency cap counts the shop's message.
func TestMergeAcrossImports(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	cfg := filepath.Join(dir, "koi.yaml")
	pbs := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbs, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, cfg, "playbooks: "+pbs+"\ntimezone: Asia/Shanghai\npolicy:\n  cap: { messages: 1, per: 7d }\n")
	write(t, filepath.Join(pbs, "life.yaml"), `name: life
limits: { max_fires: 10 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ tag: { add: [welcomed] } }]
  - id: loyal
    when: orders >= 3
    once: true
    actions: [{ tag: { add: [loyal] } }]
  - id: nudge
    when: "true"
    cooldown: 1h
    actions: [{ message: { channel: log, template: "hi {{.name}}" } }]
`)
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		write(t, p, body)
		return p
	}
	k := func(args ...string) result {
		t.Helper()
		return mustKoi(t, append([]string{"--db", db, "--config", cfg}, args...)...)
	}
	k("import", "customers", file("shop.jsonl", `{"id":"shop-7","joined_at":"2026-05-01","identities":[{"kind":"unionid","value":"oU-7"}]}
`))
	k("import", "events", file("shop-orders.jsonl", `{"id":"s1","identity":{"kind":"unionid","value":"oU-7"},"type":"order","amount":120,"at":"2026-06-01T10:00:00+08:00"}
{"id":"s2","identity":{"kind":"unionid","value":"oU-7"},"type":"order","amount":80,"at":"2026-06-10T10:00:00+08:00"}
`))
	k("run", "--at", "2026-06-18T10:00:00+08:00")
	r := k("import", "customers", file("crm.jsonl", `{"id":"crm-1","name":"李雷","joined_at":"2025-01-01","identities":[{"kind":"member_no","value":"M-1"},{"kind":"phone","value":"13800138000"},{"kind":"unionid","value":"oU-7"}]}
`))
	if query(t, db, `SELECT count(*) FROM customer_aliases WHERE alias = 'shop-7' AND customer_id = 'crm-1'`) != 1 {
		t.Fatalf("shop-7 was not merged into crm-1:\n%s%s", r.stdout, r.stderr)
	}
	k("import", "events", file("crm-orders.jsonl", `{"id":"c1","identity":{"kind":"phone","value":"+86 138 0013 8000"},"type":"order","amount":300,"at":"2026-06-18T11:00:00+08:00"}
`))
	r = k("run", "--at", "2026-06-18T12:00:00+08:00", "--json")
	var rep runReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	rules := rep.Playbooks[0].Rules
	if rules[0].Suppressed[evaluate.ReasonOnce] != 1 || rules[0].Fired != 0 {
		t.Errorf("welcome: %+v; want suppressed once (the shop's customer was welcomed)", rules[0])
	}
	if rules[1].Fired != 1 {
		t.Errorf("loyal: %+v; want fired on three orders", rules[1])
	}
	if rules[2].Suppressed[policy.ReasonCap] != 1 {
		t.Errorf("nudge: %+v; want capped by the shop's message", rules[2])
	}
	if n := query(t, db, `SELECT count(*) FROM events WHERE customer_id = 'crm-1' AND type = 'order'`); n != 3 {
		t.Errorf("crm-1 has %d orders, want 3", n)
	}
}
