package httpapi_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/httpapi"
)

// Customers name their identities; events name their customer by one.
// A phone is one however it is written; a record naming an identity of
// another customer merges the two into the older (the answer is the
// survivor, the merged id an alias of it); an event by an identity nobody
// has is rejected alone, naming the field.
func TestIdentitiesOverHTTP(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	st, body := a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"name": "李雷", "identities": [
		{"kind": "phone", "value": "138 0013 8000"}, {"kind": "openid", "app": "wxShop", "value": "oShop1"}]}`)
	if st != http.StatusOK {
		t.Fatalf("put c1: %d %v", st, body)
	}
	if got := fmt.Sprint(body["identities"]); !strings.Contains(got, "+8613800138000") || !strings.Contains(got, "wxShop") {
		t.Fatalf("c1's identities: %s", got)
	}
	st, body = a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"name": "韩梅梅", "tier": "gold", "identities": [{"kind": "phone", "value": "+86 13800138000"}]}`)
	if st != http.StatusOK || body["id"] != "c1" || body["tier"] != "gold" || body["name"] != "李雷" || fmt.Sprint(body["aliases"]) != "[c2]" {
		t.Fatalf("c2 with c1's phone: %d %v; want c1, gold, with alias c2", st, body)
	}
	if st, body := a.do("GET", "/api/v1/customers/c2", adminKey, ""); st != http.StatusOK || body["customer"].(map[string]any)["id"] != "c1" {
		t.Errorf("the merged id does not read its survivor: %d %v", st, body)
	}
	if st, body := a.do("GET", "/api/v1/merges?customer=c2", adminKey, ""); st != http.StatusOK || !strings.Contains(fmt.Sprint(body), "merged:c2") ||
		!strings.Contains(fmt.Sprint(body), "survivor:c1") || !strings.Contains(fmt.Sprint(body), "source:api") {
		t.Errorf("merges: %d %v", st, body)
	}
	if st, body := a.do("GET", "/api/v1/merges", marketerKey, ""); st != http.StatusForbidden {
		t.Errorf("a marketer listed merges: %d %v", st, body)
	}
	// Named by identities alone: added to whoever has one, or new.
	st, body = a.do("POST", "/api/v1/customers", ingestKey, `{"tags": ["mini"], "identities": [{"kind": "openid", "app": "wxShop", "value": "oShop1"}]}`)
	if st != http.StatusOK || body["id"] != "c1" || body["name"] != "李雷" || fmt.Sprint(body["tags"]) != "[mini]" {
		t.Errorf("a record by c1's openid: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/customers", ingestKey, `{"name": "新", "identities": [{"kind": "unionid", "value": "u-new"}]}`)
	if st != http.StatusOK || body["id"] != "unionid:u-new" || body["name"] != "新" {
		t.Errorf("a record of a new unionid: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/customers", ingestKey, `{"name": "nobody"}`)
	wantError(t, st, body, http.StatusBadRequest, "invalid", "identities")
	st, body = a.do("PUT", "/api/v1/customers/c3", ingestKey, `{"identities": [{"kind": "phone", "value": "12345"}]}`)
	wantError(t, st, body, http.StatusBadRequest, "invalid", "identities[0]")

	st, body = a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": [
		{"id": "o1", "identity": {"kind": "phone", "value": "13800138000"}, "type": "order", "amount": 99, "at": "2026-05-01T09:00:00Z"},
		{"id": "o2", "identity": {"kind": "unionid", "value": "nobody"}, "type": "order", "amount": 99, "at": "2026-05-01T09:00:00Z"},
		{"id": "o3", "identity": {"kind": "openid", "value": "oShop1"}, "type": "order", "amount": 99, "at": "2026-05-01T09:00:00Z"},
		{"id": "o4", "customer_id": "c1", "identity": {"kind": "phone", "value": "13800138000"}, "type": "visit", "at": "2026-05-01T09:00:00Z"},
		{"id": "v1", "identity": {"kind": "openid", "app": "wxShop", "value": "oShop1"}, "type": "visit", "at": "2026-05-01T09:00:00Z"}]}`)
	if st != http.StatusOK || body["inserted"] != 2.0 || body["rejected"] != 3.0 {
		t.Fatalf("the batch: %d %v", st, body)
	}
	results := body["results"].([]any)
	for _, i := range []int{1, 2, 3} {
		field := fmt.Sprintf("events[%d].identity", i)
		r := results[i].(map[string]any)
		if e, _ := r["error"].(map[string]any); r["status"] != "rejected" || e == nil || e["field"] != field {
			t.Errorf("event %d: %v; want rejected on %s", i, r, field)
		}
	}
	if msg := results[1].(map[string]any)["error"].(map[string]any)["message"]; !strings.Contains(fmt.Sprint(msg), "no customer has unionid nobody") {
		t.Errorf("the unknown identity's message: %v", msg)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "s1", "identity": {"kind": "phone", "value": "+8613800138000"}, "type": "share", "at": "2026-05-01T09:30:00Z"}`)
	if st != http.StatusCreated {
		t.Fatalf("one event by identity: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "s2", "identity": {"kind": "phone", "value": "13900139000"}, "type": "share", "at": "2026-05-01T09:30:00Z"}`)
	wantError(t, st, body, http.StatusNotFound, "not_found", "identity")
	_, view := a.do("GET", "/api/v1/customers/c1", adminKey, "")
	if events := view["recent_events"].([]any); len(events) != 3 {
		t.Errorf("c1 has %d events, want the order, the visit and the share by identity", len(events))
	}
}

// A merged id names its survivor everywhere a customer id goes: opt-outs
// (an unsubscribe by an old id counts), opt-ins and explain.
func TestMergedIDOverHTTP(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	if err := os.WriteFile(filepath.Join(a.dir, "p.yaml"), []byte("name: p\nrules:\n  - id: r\n    when: \"true\"\n    once: true\n    actions: [{ tag: { add: [x] } }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.Reload(a.dir); err != nil {
		t.Fatal(err)
	}
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"joined_at": "2025-01-01T00:00:00Z", "identities": [{"kind": "phone", "value": "13800138000"}]}`)
	if st, body := a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"identities": [{"kind": "phone", "value": "13800138000"}]}`); st != http.StatusOK || body["id"] != "c1" {
		t.Fatalf("merge: %d %v", st, body)
	}
	if st, body := a.do("POST", "/api/v1/customers/c2/opt_out", ingestKey, `{"channel": "sms"}`); st != http.StatusOK || fmt.Sprint(body["opt_out"]) != "[sms]" {
		t.Errorf("opt-out by the merged id: %d %v", st, body)
	}
	if st, body := a.do("DELETE", "/api/v1/customers/c2/opt_out/sms", ingestKey, ``); st != http.StatusOK {
		t.Errorf("opt-in by the merged id: %d %v", st, body)
	}
	if st, body := a.do("GET", "/api/v1/customers/c2/explain?rule=p/r", marketerKey, ""); st != http.StatusOK {
		t.Errorf("explain by the merged id: %d %v", st, body)
	}
	if st, body := a.do("POST", "/api/v1/playbooks/p/run", marketerKey, ""); st != http.StatusOK || body["fired"] != 1.0 {
		t.Fatalf("run: %d %v", st, body)
	}
	if st, body := a.do("GET", "/api/v1/fires?customer=c2", marketerKey, ""); st != http.StatusOK || len(body["fires"].([]any)) != 1 {
		t.Errorf("fires by the merged id: %d %v", st, body)
	}
}
