package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/httpapi"
)

const guidePlaybook = `
name: vip
rules:
  - id: welcome
    when: member
    once: true
    actions:
      - assign_guide: { strategy: round_robin, task: "欢迎 {{.name}}", due_in: 1d }
      - message: { channel: log, template: "您的顾问是{{.assign_guide.guide_name}}" }
`

// Jobs and guides' tasks over HTTP: a run enqueues messages and creates
// tasks; an operator lists, cancels and retries jobs (waking the
// dispatcher), a guide's tools list and complete their tasks; conflicts
// are 409s, unknown guides and jobs 404s, bad filters 400s naming the
// field.
func TestJobsAndGuideTasks(t *testing.T) {
	nudged := 0
	a := newAPI(t, httpapi.Config{
		Guides:      []actions.Guide{{ID: "g1", Name: "小王", Capacity: 10}, {ID: "g2", Name: "小李"}},
		JobsChanged: func() { nudged++ },
	})
	for i := 1; i <= 3; i++ {
		a.do("PUT", fmt.Sprintf("/api/v1/customers/c%d", i), ingestKey, fmt.Sprintf(`{"name": "客户%d", "member": true, "joined_at": "2026-04-01"}`, i))
	}
	a.writePlaybook("vip", guidePlaybook)
	if st, body := a.do("POST", "/api/v1/playbooks/reload", marketerKey, ""); st != 200 || body["ok"] != true {
		t.Fatalf("reload: %d %v", st, body)
	}
	if st, run := a.do("POST", "/api/v1/playbooks/vip/run", marketerKey, ""); st != 200 || run["fired"] != 3.0 {
		t.Fatalf("run: %d %v", st, run)
	}

	st, body := a.do("GET", "/api/v1/jobs?state=pending&kind=message", marketerKey, "")
	jobs, _ := body["jobs"].([]any)
	if st != 200 || len(jobs) != 3 {
		t.Fatalf("jobs: %d %v", st, body)
	}
	j := jobs[0].(map[string]any)
	id := fmt.Sprint(j["id"])
	if p := j["payload"].(map[string]any); p["text"] != "您的顾问是小王" && p["text"] != "您的顾问是小李" {
		t.Errorf("payload %v", p)
	}
	if st, body = a.do("POST", "/api/v1/jobs/"+id+"/cancel", marketerKey, ""); st != 200 || body["state"] != "cancelled" {
		t.Fatalf("cancel: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/jobs/"+id+"/cancel", marketerKey, "")
	wantError(t, st, body, 409, "conflict", "")
	if st, body = a.do("POST", "/api/v1/jobs/"+id+"/retry", marketerKey, ""); st != 200 || body["state"] != "pending" || nudged != 1 {
		t.Fatalf("retry: %d %v, dispatcher nudged %d times", st, body, nudged)
	}
	st, body = a.do("POST", "/api/v1/jobs/"+id+"/retry", marketerKey, "")
	wantError(t, st, body, 409, "conflict", "")
	st, body = a.do("GET", "/api/v1/jobs/999", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	st, body = a.do("GET", "/api/v1/jobs?state=lost", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "state")
	st, body = a.do("POST", "/api/v1/jobs/x/retry", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "id")

	// Round robin: g1, g2, g1.
	st, body = a.do("GET", "/api/v1/guides", marketerKey, "")
	if gs, _ := body["guides"].([]any); st != 200 || len(gs) != 2 || gs[0].(map[string]any)["open_tasks"] != 2.0 || gs[1].(map[string]any)["open_tasks"] != 1.0 {
		t.Fatalf("guides: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/guides/g1/tasks?state=open", marketerKey, "")
	tasks, _ := body["tasks"].([]any)
	if st != 200 || len(tasks) != 2 {
		t.Fatalf("tasks: %d %v", st, body)
	}
	tk := tasks[0].(map[string]any)
	if tk["note"] != "欢迎 客户1" || tk["customer_id"] != "c1" || tk["due_at"] != "2026-05-02T10:00:00Z" {
		t.Errorf("task %v", tk)
	}
	tid := fmt.Sprint(tk["id"])
	if st, body = a.do("POST", "/api/v1/guides/g1/tasks/"+tid+"/done", marketerKey, ""); st != 200 || body["state"] != "done" {
		t.Fatalf("done: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/guides/g1/tasks/"+tid+"/done", marketerKey, "")
	wantError(t, st, body, 409, "conflict", "")
	st, body = a.do("POST", "/api/v1/guides/g2/tasks/"+tid+"/done", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	if st, body = a.do("GET", "/api/v1/guides/g1/tasks?state=open", marketerKey, ""); st != 200 || len(body["tasks"].([]any)) != 1 {
		t.Errorf("open tasks after completing one: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/guides/nobody/tasks", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	st, body = a.do("GET", "/api/v1/guides/g1/tasks?state=late", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "state")
}
