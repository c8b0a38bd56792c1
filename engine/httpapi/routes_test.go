package httpapi_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/httpapi"
)

const couponPlaybook = `
name: welcome
rules:
  - id: welcome-coupon
    when: member
    once: true
    actions:
      - coupon: { amount: 10, min_spend: 0, expires_in: 7d }
`

// writePlaybook writes a playbook file into the API's playbooks directory.
func (a *api) writePlaybook(name, body string) {
	a.t.Helper()
	if err := os.WriteFile(filepath.Join(a.dir, name+".yaml"), []byte(body), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// Every route admits exactly the roles it documents: admin everything,
// marketer playbooks, runs, fires, coupons, jobs, guides' tasks, reports
// and reading customers,
// ingest writing customers, events and redemptions. No key is 401 everywhere.
func TestEveryRouteChecksItsRoles(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.writePlaybook("welcome", couponPlaybook)
	a.do("POST", "/api/v1/playbooks/reload", adminKey, "")
	const (
		m = 1 << iota // marketer
		i             // ingest
	)
	routes := []struct {
		method, path, body string
		roles              int
	}{
		{"POST", "/api/v1/events", `{}`, i},
		{"POST", "/api/v1/events/batch", `{}`, i},
		{"PUT", "/api/v1/customers/c9", `{}`, i},
		{"GET", "/api/v1/customers/c9", "", m},
		{"GET", "/api/v1/customers", "", m},
		{"DELETE", "/api/v1/customers/nobody", "", 0},
		{"GET", "/api/v1/merges", "", 0},
		{"POST", "/api/v1/customers", `{}`, i},
		{"GET", "/api/v1/playbooks", "", m},
		{"GET", "/api/v1/playbooks/welcome", "", m},
		{"POST", "/api/v1/playbooks/validate", "name: x", m},
		{"POST", "/api/v1/playbooks/reload", "", m},
		{"POST", "/api/v1/playbooks/welcome/preview", "", m},
		{"GET", "/api/v1/customers/c1/explain?rule=welcome/welcome-coupon", "", m},
		{"POST", "/api/v1/playbooks/nope/run", "", m},
		{"GET", "/api/v1/runs", "", m},
		{"GET", "/api/v1/runs/1", "", m},
		{"GET", "/api/v1/fires", "", m},
		{"GET", "/api/v1/coupons", "", m},
		{"POST", "/api/v1/coupons/NOPE/redeem", "", i},
		{"GET", "/api/v1/reports/segments", "", m},
		{"GET", "/api/v1/jobs", "", m},
		{"GET", "/api/v1/jobs/1", "", m},
		{"POST", "/api/v1/jobs/1/retry", "", m},
		{"POST", "/api/v1/jobs/1/cancel", "", m},
		{"GET", "/api/v1/guides", "", m},
		{"GET", "/api/v1/guides/g1/tasks", "", m},
		{"POST", "/api/v1/guides/g1/tasks/1/done", "", m},
	}
	for _, r := range routes {
		st, _ := a.do(r.method, r.path, "", r.body)
		if st != 401 {
			t.Errorf("%s %s without a key: %d, want 401", r.method, r.path, st)
		}
		for _, k := range []struct {
			key  string
			role int
		}{{adminKey, m | i}, {marketerKey, m}, {ingestKey, i}} {
			st, body := a.do(r.method, r.path, k.key, r.body)
			allowed := k.key == adminKey || r.roles&k.role != 0
			if got := st != 403; got != allowed {
				t.Errorf("%s %s with the %s key: %d %v (allowed: %v)", r.method, r.path, k.key, st, body, allowed)
			}
		}
	}
}

// Coupons: a run issues them; redeeming one works once, then is a 409; an
// unknown code is a 404; the coupon's status follows.
func TestRedeemCouponTwiceIsAConflict(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": true, "joined_at": "2026-04-01"}`)
	a.writePlaybook("welcome", couponPlaybook)
	if st, body := a.do("POST", "/api/v1/playbooks/reload", marketerKey, ""); st != 200 || body["ok"] != true {
		t.Fatalf("reload: %d %v", st, body)
	}
	st, run := a.do("POST", "/api/v1/playbooks/welcome/run", marketerKey, "")
	if st != 200 || run["fired"] != 1.0 {
		t.Fatalf("run: %d %v", st, run)
	}
	st, body := a.do("GET", "/api/v1/coupons?customer=c1", marketerKey, "")
	coupons := body["coupons"].([]any)
	if st != 200 || len(coupons) != 1 {
		t.Fatalf("coupons: %d %v", st, body)
	}
	cp := coupons[0].(map[string]any)
	if cp["status"] != "open" || cp["amount"] != 10.0 {
		t.Fatalf("coupon = %v", cp)
	}
	code := cp["code"].(string)
	if st, body = a.do("POST", "/api/v1/coupons/"+code+"/redeem", ingestKey, `{"order_id": "o-1"}`); st != 200 || body["status"] != "redeemed" {
		t.Fatalf("redeem: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/coupons/"+code+"/redeem", ingestKey, `{"order_id": "o-2"}`)
	wantError(t, st, body, 409, "conflict", "code")
	if !strings.Contains(body["error"].(map[string]any)["message"].(string), "already redeemed") {
		t.Fatalf("409 message: %v", body)
	}
	st, body = a.do("POST", "/api/v1/coupons/NOPE/redeem", ingestKey, "")
	wantError(t, st, body, 404, "not_found", "code")
	_, body = a.do("GET", "/api/v1/customers/c1", marketerKey, "")
	if p := body["profile"].(map[string]any); p["open_coupons"] != 0.0 {
		t.Fatalf("open_coupons after redeeming = %v", p["open_coupons"])
	}
	if n := a.count(`SELECT count(*) FROM events WHERE type = 'coupon_redeem'`); n != 1 {
		t.Fatalf("%d coupon_redeem events", n)
	}
}

// Playbooks: the list shows a broken file's errors while its previous
// version runs; validate reports line:col; preview writes nothing; runs
// and fires list what a run did.
func TestPlaybooksRunsAndFires(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for k := 1; k <= 3; k++ {
		a.do("PUT", fmt.Sprintf("/api/v1/customers/c%d", k), ingestKey, `{"member": true, "joined_at": "2026-04-01"}`)
	}
	a.writePlaybook("welcome", couponPlaybook)
	a.do("POST", "/api/v1/playbooks/reload", marketerKey, "")
	a.writePlaybook("welcome", strings.Replace(couponPlaybook, "when: member", "when: membr", 1))
	st, body := a.do("POST", "/api/v1/playbooks/reload", marketerKey, "")
	if st != 200 || body["ok"] != false {
		t.Fatalf("broken reload: %d %v", st, body)
	}
	_, body = a.do("GET", "/api/v1/playbooks", marketerKey, "")
	pbs := body["playbooks"].([]any)
	pb := pbs[0].(map[string]any)
	errs, _ := pb["errors"].([]any)
	if len(pbs) != 1 || pb["name"] != "welcome" || len(errs) != 1 || errs[0].(map[string]any)["line"] != 5.0 {
		t.Fatalf("playbooks = %v", body)
	}
	_, body = a.do("GET", "/api/v1/playbooks/welcome", marketerKey, "")
	if !strings.Contains(body["source"].(string), "when: member\n") {
		t.Fatalf("the running source is not the last good one: %v", body["source"])
	}

	st, body = a.do("POST", "/api/v1/playbooks/validate?file=x.yaml", marketerKey, "name: x\nrules:\n  - id: r\n    when: orders >\n")
	if st != 200 || body["valid"] != false {
		t.Fatalf("validate: %d %v", st, body)
	}
	e0 := body["errors"].([]any)[0].(map[string]any)
	if e0["file"] != "x.yaml" || e0["line"] == nil {
		t.Fatalf("validate error = %v", e0)
	}
	if st, body = a.do("POST", "/api/v1/playbooks/validate", marketerKey, couponPlaybook); st != 200 || body["valid"] != true {
		t.Fatalf("validate a good one: %d %v", st, body)
	}

	st, body = a.do("POST", "/api/v1/playbooks/welcome/preview?sample=2", marketerKey, "")
	if st != 200 || body["would_fire"] != 3.0 || body["audience"] != 3.0 || body["held"] != false {
		t.Fatalf("preview: %d %v", st, body)
	}
	if sample := body["sample"].([]any); len(sample) != 2 || sample[0].(map[string]any)["values"].(map[string]any)["member"] != true {
		t.Fatalf("preview sample: %v", body["sample"])
	}
	st, body = a.do("POST", "/api/v1/playbooks/welcome/preview?sample=x", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "sample")
	if n := a.count(`SELECT count(*) FROM fires`) + a.count(`SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("preview wrote %d rows", n)
	}
	st, run := a.do("POST", "/api/v1/playbooks/welcome/run", marketerKey, `{"at": "2026-05-01T12:00:00Z"}`)
	if st != 200 || run["fired"] != 3.0 {
		t.Fatalf("run: %d %v", st, run)
	}
	id := run["id"].(float64)
	st, body = a.do("GET", fmt.Sprintf("/api/v1/runs/%d", int(id)), marketerKey, "")
	if st != 200 || body["rules"].([]any)[0].(map[string]any)["fired"] != 3.0 {
		t.Fatalf("run %v: %d %v", id, st, body)
	}
	if _, body = a.do("GET", "/api/v1/runs?playbook=welcome", marketerKey, ""); len(body["runs"].([]any)) != 1 {
		t.Fatalf("runs = %v", body)
	}
	_, body = a.do("GET", fmt.Sprintf("/api/v1/fires?run=%d&limit=2", int(id)), marketerKey, "")
	if fires := body["fires"].([]any); len(fires) != 2 || fires[0].(map[string]any)["id"].(float64) < fires[1].(map[string]any)["id"].(float64) {
		t.Fatalf("fires = %v", body)
	}
	if _, body = a.do("GET", "/api/v1/fires?customer=c2", marketerKey, ""); len(body["fires"].([]any)) != 1 {
		t.Fatalf("c2's fires = %v", body)
	}
	// Explain: c2 matched, but the rule is once and has fired.
	st, body = a.do("GET", "/api/v1/customers/c2/explain?rule=welcome/welcome-coupon&at=2026-05-02T12:00:00Z", marketerKey, "")
	if st != 200 || body["verdict"] != "suppressed" || body["reason"] != "once" || body["when"].(map[string]any)["value"] != true {
		t.Fatalf("explain: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/customers/c2/explain?rule=welcome", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "rule")
	st, body = a.do("GET", "/api/v1/customers/nobody/explain?rule=welcome/welcome-coupon", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	st, body = a.do("GET", "/api/v1/runs/x", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "id")
	st, body = a.do("POST", "/api/v1/playbooks/nope/run", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	st, body = a.do("POST", "/api/v1/playbooks/welcome/run", marketerKey, `{"at": "yesterday"}`)
	wantError(t, st, body, 400, "invalid", "at")
}

// Listing customers filters by profile values and an expr, a page at a
// time; the report counts everyone.
func TestListCustomersAndSegmentReport(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for k := 0; k < 5; k++ {
		tier := "normal"
		if k%2 == 0 {
			tier = "gold"
		}
		a.do("PUT", fmt.Sprintf("/api/v1/customers/c%d", k), ingestKey, fmt.Sprintf(`{"member": %v, "tier": %q, "joined_at": "2026-04-01"}`, k < 3, tier))
	}
	_, body := a.do("GET", "/api/v1/customers?tier=gold&limit=2", marketerKey, "")
	cs := body["customers"].([]any)
	if len(cs) != 2 || body["next"] == nil {
		t.Fatalf("page 1 = %v", body)
	}
	_, body = a.do("GET", "/api/v1/customers?tier=gold&limit=2&next="+body["next"].(string), marketerKey, "")
	if cs := body["customers"].([]any); len(cs) != 1 || cs[0].(map[string]any)["id"] != "c4" || body["next"] != nil {
		t.Fatalf("page 2 = %v", body)
	}
	_, body = a.do("GET", "/api/v1/customers?where="+url.QueryEscape(`member && tier == "gold"`), marketerKey, "")
	if cs := body["customers"].([]any); len(cs) != 2 {
		t.Fatalf("where = %v", body)
	}
	st, body := a.do("GET", "/api/v1/customers?where=orderz%3E1", marketerKey, "")
	wantError(t, st, body, 400, "invalid", "where")
	_, body = a.do("GET", "/api/v1/reports/segments", marketerKey, "")
	if body["customers"] != 5.0 || body["lifecycle"].(map[string]any)["member"] != 3.0 || body["tiers"].(map[string]any)["gold"] != 3.0 {
		t.Fatalf("report = %v", body)
	}
}

// Deleting a customer takes their events, fires and coupons; their event
// ids can be ingested again afterwards.
func TestDeleteCustomer(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": true, "joined_at": "2026-04-01"}`)
	a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"member": true, "joined_at": "2026-04-01"}`)
	order := `{"id": "o1", "customer_id": "c1", "type": "order", "amount": 20, "at": "2026-04-20T10:00:00Z"}`
	if st, _ := a.do("POST", "/api/v1/events", ingestKey, order); st != 201 {
		t.Fatalf("order: %d", st)
	}
	a.writePlaybook("welcome", couponPlaybook)
	a.do("POST", "/api/v1/playbooks/reload", marketerKey, "")
	a.do("POST", "/api/v1/playbooks/welcome/run", marketerKey, "")
	if st, _ := a.do("DELETE", "/api/v1/customers/c1", adminKey, ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	for _, q := range []string{`customers WHERE id = 'c1'`, `events WHERE customer_id = 'c1'`, `fires WHERE customer_id = 'c1'`, `coupons WHERE customer_id = 'c1'`} {
		if n := a.count(`SELECT count(*) FROM ` + q); n != 0 {
			t.Errorf("%d rows left in %s", n, q)
		}
	}
	if n := a.count(`SELECT fired FROM runs`); n != 2 {
		t.Errorf("the run's count changed to %d", n)
	}
	st, body := a.do("GET", "/api/v1/customers/c1", marketerKey, "")
	wantError(t, st, body, 404, "not_found", "")
	_, body = a.do("GET", "/api/v1/reports/segments", marketerKey, "")
	if body["customers"] != 1.0 {
		t.Fatalf("report after delete = %v", body)
	}
	// Back as a new customer, the same order id is new again.
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"joined_at": "2026-04-01"}`)
	if st, body := a.do("POST", "/api/v1/events", ingestKey, order); st != 201 {
		t.Fatalf("the order again: %d %v", st, body)
	}
	st, body = a.do("DELETE", "/api/v1/customers/nobody", adminKey, "")
	wantError(t, st, body, 404, "not_found", "")
}

// Bad event payloads get 400s naming the field: a missing id, a bad time,
// a negative amount, and an unknown type when the config lists the types.
func TestEventFieldErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{EventTypes: []string{"visit", "live_view"}})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{}`)
	for _, c := range []struct{ body, field string }{
		{`{"customer_id": "c1", "type": "visit", "at": "2026-05-01"}`, "id"},
		{`{"id": "e1", "customer_id": "c1", "type": "visit", "at": "last tuesday"}`, "at"},
		{`{"id": "e1", "customer_id": "c1", "type": "order", "amount": -5, "at": "2026-05-01"}`, "amount"},
		{`{"id": "e1", "customer_id": "c1", "type": "vist", "at": "2026-05-01"}`, "type"},
	} {
		st, body := a.do("POST", "/api/v1/events", ingestKey, c.body)
		wantError(t, st, body, 400, "invalid", c.field)
	}
	if st, body := a.do("POST", "/api/v1/events", ingestKey, `{"id": "e2", "customer_id": "c1", "type": "live_view", "at": "2026-05-01"}`); st != 201 {
		t.Fatalf("a listed custom type: %d %v", st, body)
	}
	_, body := a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": [{"id": "e3", "customer_id": "c1", "type": "vist", "at": "2026-05-01"}]}`)
	if r := body["results"].([]any)[0].(map[string]any); r["status"] != "rejected" || r["error"].(map[string]any)["field"] != "events[0].type" {
		t.Fatalf("batch = %v", body)
	}
	if n := a.count(`SELECT count(*) FROM events`); n != 1 {
		t.Fatalf("%d events stored", n)
	}
}
