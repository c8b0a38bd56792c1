package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/httpapi"
)

// A customer POSTed by identities alone is a customer like any other:
// their events are taken and their page reads.
func TestPostedCustomerTakesEvents(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	st, body := a.do("POST", "/api/v1/customers", ingestKey, `{"name": "新", "identities": [{"kind": "unionid", "value": "u-new"}]}`)
	if st != http.StatusOK || body["id"] != "unionid:u-new" {
		t.Fatalf("post: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "o1", "customer_id": "unionid:u-new", "type": "order", "amount": 9, "at": "2026-05-01T09:00:00Z"}`)
	if st != http.StatusCreated {
		t.Errorf("event by the new customer's id: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "o2", "identity": {"kind": "unionid", "value": "u-new"}, "type": "order", "amount": 9, "at": "2026-05-01T09:00:00Z"}`)
	if st != http.StatusCreated {
		t.Errorf("event by the new customer's identity: %d %v", st, body)
	}
	if st, body := a.do("GET", "/api/v1/customers/unionid:u-new", adminKey, ""); st != http.StatusOK {
		t.Errorf("GET the new customer: %d %v", st, body)
	}
}

// A bad identity in an id-less record: the error names the field, not
// "customer : ...".
func TestPostedCustomerErrorNamesField(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	st, body := a.do("POST", "/api/v1/customers", ingestKey, `{"identities": [{"kind": "unionid", "value": "u"}, {"kind": "phone", "value": "12345"}]}`)
	t.Logf("%d %v", st, body)
	wantError(t, st, body, http.StatusBadRequest, "invalid", "identities[1]")
	if e, _ := body["error"].(map[string]any); e != nil && strings.Contains(e["message"].(string), "customer :") {
		t.Errorf("message names an empty customer: %v", e["message"])
	}
}
