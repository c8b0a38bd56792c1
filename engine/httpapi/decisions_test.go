package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/koihq/koi/engine/httpapi"
)

const heldPlaybook = `
name: big
holdout: 10%
limits: { max_fires: 2 }
rules:
  - id: hello
    when: member
    once: true
    actions:
      - message: { channel: log, template: "hi {{.name}}" }
`

// Held runs are approved or rejected over HTTP, recorded with the key's
// name; opt-outs are set and taken back; the rule report answers.
func TestApprovalsOptOutAndRuleReport(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for i := 1; i <= 5; i++ {
		a.do("PUT", fmt.Sprintf("/api/v1/customers/c%d", i), ingestKey, fmt.Sprintf(`{"name": "客户%d", "member": true, "joined_at": "2026-04-01"}`, i))
	}
	st, body := a.do("POST", "/api/v1/customers/c1/opt_out", ingestKey, `{"channel": "log"}`)
	if st != 200 || fmt.Sprint(body["opt_out"]) != "[log]" {
		t.Fatalf("opt out: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/customers/c1/opt_out", ingestKey, `{"channel": ""}`)
	wantError(t, st, body, 400, "invalid", "channel")
	st, body = a.do("POST", "/api/v1/customers/ghost/opt_out", ingestKey, `{"channel": "log"}`)
	wantError(t, st, body, 404, "not_found", "")

	a.writePlaybook("big", heldPlaybook)
	if st, body := a.do("POST", "/api/v1/playbooks/reload", marketerKey, ""); st != 200 || body["ok"] != true {
		t.Fatalf("reload: %d %v", st, body)
	}
	st, run := a.do("POST", "/api/v1/playbooks/big/run", marketerKey, "")
	if st != 200 || run["status"] != "held" {
		t.Fatalf("run: %d %v", st, run)
	}
	id := fmt.Sprint(run["id"])
	st, body = a.do("GET", "/api/v1/runs/"+id, marketerKey, "")
	if sample, _ := body["sample"].([]any); st != 200 || len(sample) == 0 || body["expires_at"] == nil {
		t.Fatalf("held run: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/runs/"+id+"/approve", ingestKey, "")
	wantError(t, st, body, 403, "forbidden", "")
	st, body = a.do("POST", "/api/v1/runs/"+id+"/approve", marketerKey, "")
	if st != 200 || body["status"] != "done" || body["decided_by"] != "key:marketer" {
		t.Fatalf("approve: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/runs/"+id+"/reject", marketerKey, "")
	wantError(t, st, body, 409, "conflict", "")
	st, body = a.do("POST", "/api/v1/runs/x/approve", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "id")
	st, body = a.do("GET", "/api/v1/fires?customer=c1", marketerKey, "")
	if fires, _ := body["fires"].([]any); st != 200 || len(fires) != 0 {
		t.Errorf("c1 opted out of log, yet: %v", body)
	}

	st, body = a.do("DELETE", "/api/v1/customers/c1/opt_out/log", ingestKey, "")
	if st != 200 || fmt.Sprint(body["opt_out"]) != "[]" {
		t.Fatalf("opt back in: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/reports/rules?playbook=big&at=2026-06-01", marketerKey, "")
	rules, _ := body["rules"].([]any)
	if st != 200 || len(rules) != 1 || rules[0].(map[string]any)["window"] != "14d" {
		t.Fatalf("report: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/reports/rules?at=yesterday", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "at")
	st, body = a.do("GET", "/api/v1/reports/rules?playbook=nope", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
}
