package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/httpapi"
	"github.com/koihq/koi/engine/sqlite"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

const (
	adminKey    = "admin-secret"
	marketerKey = "marketer-secret"
	ingestKey   = "ingest-secret"
)

type api struct {
	t   testing.TB
	url string
	db  *sqlite.DB
	e   *engine.Engine
	dir string // the playbooks directory
}

// newAPI serves the API over a fresh database on a loopback port.
func newAPI(t testing.TB, cfg httpapi.Config) *api {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := engine.New(db, builtin.Registry(), engine.Config{Tiers: []string{"normal", "gold", "vip"}, Guides: cfg.Guides})
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if cfg.Reload == nil {
		cfg.Reload = func(context.Context) (engine.ReloadResult, error) { return e.Reload(dir) }
	}
	for _, k := range []struct {
		secret string
		role   apikey.Role
	}{{adminKey, apikey.RoleAdmin}, {marketerKey, apikey.RoleMarketer}, {ingestKey, apikey.RoleIngest}} {
		sum, err := apikey.ParseKeyHash(apikey.HashKey(k.secret))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = append(cfg.Keys, apikey.Key{Name: string(k.role), Role: k.role, SHA256: sum})
	}
	cfg.Now = func() time.Time { return t0 }
	if cfg.Jobs == nil {
		cfg.Jobs = db
	}
	if cfg.Tasks == nil {
		cfg.Tasks = db
	}
	srv := httptest.NewServer(httpapi.New(e, cfg))
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL, db: db, e: e, dir: dir}
}

// do sends a request with key (none when empty) and decodes the JSON reply.
func (a *api) do(method, path, key, body string) (int, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var out map[string]any
	if resp.StatusCode == http.StatusNoContent && len(raw) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		a.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// wantError checks an error reply: status, code and field.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, code, field string) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != code || (field != "" && e["field"] != field) {
		t.Fatalf("got %d %v, want %d with code %q field %q", status, body, wantStatus, code, field)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without a message: %v", body)
	}
}

func (a *api) count(query string) int {
	a.t.Helper()
	var n int
	if err := a.db.SQL().QueryRow(query).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// A missing or unknown key is 401; a key whose role does not allow the
// endpoint is 403; admin may do everything.
func TestKeysAndRoles(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	cust := `{"name": "Li Lei", "member": true}`
	st, body := a.do("PUT", "/api/v1/customers/c1", "", cust)
	wantError(t, st, body, 401, "unauthorized", "")
	st, body = a.do("PUT", "/api/v1/customers/c1", "not-a-key", cust)
	wantError(t, st, body, 401, "unauthorized", "")
	st, body = a.do("PUT", "/api/v1/customers/c1", marketerKey, cust)
	wantError(t, st, body, 403, "forbidden", "")
	if st, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, cust); st != 200 || body["id"] != "c1" {
		t.Fatalf("ingest key writing a customer: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/customers/c1", ingestKey, "")
	wantError(t, st, body, 403, "forbidden", "")
	if st, body = a.do("GET", "/api/v1/customers/c1", marketerKey, ""); st != 200 || body["customer"].(map[string]any)["name"] != "Li Lei" {
		t.Fatalf("marketer reading a customer: %d %v", st, body)
	}
	if st, _ = a.do("GET", "/api/v1/customers/c1", adminKey, ""); st != 200 {
		t.Fatalf("admin reading a customer: %d", st)
	}
	// The X-API-Key header works too.
	req, _ := http.NewRequest("GET", a.url+"/api/v1/customers/c1", nil)
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("X-API-Key: %d", resp.StatusCode)
	}
}

// Customers: a bad field is named; an id that contradicts the path is
// refused; an unknown customer is 404.
func TestCustomers(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	st, body := a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": "yes"}`)
	wantError(t, st, body, 400, "invalid", "member")
	st, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"id": "c2"}`)
	wantError(t, st, body, 400, "invalid", "id")
	st, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"nickname": "x"}`)
	wantError(t, st, body, 400, "invalid", "nickname")
	// Fields are checked against the configuration and their format.
	for field, rec := range map[string]string{
		"tier":     `{"tier": "diamond"}`,
		"birthday": `{"birthday": "02-30"}`,
		"phone":    `{"phone": "138 0013 8000 or 139 0000 0000"}`,
		"email":    `{"email": "li lei@example"}`,
		"name":     `{"name": "` + strings.Repeat("名", 100) + `"}`,
		"tags":     `{"tags": ["` + strings.Repeat("t", 129) + `"]}`,
	} {
		st, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, rec)
		wantError(t, st, body, 400, "invalid", field)
	}
	_, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"tier": "diamond"}`)
	if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "normal, gold, vip") {
		t.Errorf("unknown tier message %q does not list the configured tiers", msg)
	}
	st, body = a.do("GET", "/api/v1/customers/nobody", adminKey, "")
	wantError(t, st, body, 404, "not_found", "")
	if n := a.count(`SELECT count(*) FROM customers`); n != 0 {
		t.Fatalf("%d customers stored by refused requests", n)
	}
	st, body = a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"name": "Han Meimei", "tier": "gold", "tags": ["vip-club"], "joined_at": "2026-01-02"}`)
	if st != 200 || body["tier"] != "gold" || body["joined_at"] != "2026-01-02T00:00:00Z" {
		t.Fatalf("%d %v", st, body)
	}
	// Without a tier, the lowest configured one; a phone with spaces and
	// a country code is a phone.
	st, body = a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"name": "Li Lei", "phone": "+86 138-0013-8000", "birthday": "1990-02-28"}`)
	if st != 200 || body["tier"] != "normal" {
		t.Fatalf("customer without a tier: %d %v", st, body)
	}
	st, body = a.do("GET", "/api/v1/nowhere", adminKey, "")
	wantError(t, st, body, 404, "no_route", "")
}

// One event: 201 when new, 200 "duplicate" when sent again; bad input is
// 400 naming the field; an unknown customer is refused.
func TestPostEvent(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{}`)
	ev := `{"id": "o-1", "customer_id": "c1", "type": "order", "amount": 99.5, "at": "2026-05-01T09:00:00+08:00"}`
	st, body := a.do("POST", "/api/v1/events", ingestKey, ev)
	if st != 201 || body["status"] != "inserted" {
		t.Fatalf("%d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, ev)
	if st != 200 || body["status"] != "duplicate" {
		t.Fatalf("sent again: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "o-2", "customer_id": "c1", "type": "order", "at": "2026-05-01"}`)
	wantError(t, st, body, 400, "invalid", "amount")
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "o-3", "customer_id": "ghost", "type": "visit", "at": "2026-05-01"}`)
	wantError(t, st, body, 400, "invalid", "customer_id")
	st, body = a.do("POST", "/api/v1/events", ingestKey, `{"id": "o-4", `)
	wantError(t, st, body, 400, "invalid", "")
	if n := a.count(`SELECT count(*) FROM events`); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	if n := a.count(`SELECT amount_fen FROM events WHERE id = 'o-1'`); n != 9950 {
		t.Fatalf("stored %d fen, want 9950", n)
	}
}

// A batch reports each event; the bad ones are rejected with their field
// named within the batch, the rest are stored.
func TestPostEventBatch(t *testing.T) {
	a := newAPI(t, httpapi.Config{MaxBatch: 5})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{}`)
	a.do("POST", "/api/v1/events", ingestKey, `{"id": "old", "customer_id": "c1", "type": "visit", "at": "2026-05-01"}`)
	batch := `{"events": [
		{"id": "v1", "customer_id": "c1", "type": "visit", "at": "2026-05-01"},
		{"id": "old", "customer_id": "c1", "type": "visit", "at": "2026-05-01"},
		{"id": "v2", "customer_id": "c1", "type": "order", "amount": -1, "at": "2026-05-01"},
		{"id": "v3", "customer_id": "ghost", "type": "visit", "at": "2026-05-01"},
		{"id": "v1", "customer_id": "c1", "type": "visit", "at": "2026-05-01"}
	]}`
	st, body := a.do("POST", "/api/v1/events/batch", ingestKey, batch)
	if st != 200 || body["inserted"] != 1.0 || body["duplicates"] != 2.0 || body["rejected"] != 2.0 {
		t.Fatalf("%d %v", st, body)
	}
	results := body["results"].([]any)
	want := []struct{ status, field string }{{"inserted", ""}, {"duplicate", ""}, {"rejected", "events[2].amount"}, {"rejected", "events[3].customer_id"}, {"duplicate", ""}}
	for i, w := range want {
		r := results[i].(map[string]any)
		if r["status"] != w.status || r["index"] != float64(i) {
			t.Errorf("event %d: %v, want %s", i, r, w.status)
		}
		if w.field != "" && r["error"].(map[string]any)["field"] != w.field {
			t.Errorf("event %d: %v, want the error on %s", i, r, w.field)
		}
	}
	if n := a.count(`SELECT count(*) FROM events`); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
	st, body = a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": [{}, {}, {}, {}, {}, {}]}`)
	wantError(t, st, body, 400, "invalid", "events")
	st, body = a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": {"id": "x"}}`)
	wantError(t, st, body, 400, "invalid", "events")
	st, body = a.do("POST", "/api/v1/events/batch", ingestKey, `{}`)
	wantError(t, st, body, 400, "invalid", "events")
}

// An event of a batch that is not an event (an unknown field, a field of
// the wrong type, not an object) is rejected alone, naming its field, and
// the others are stored as they would be in a batch of good events.
func TestPostEventBatchBadEventAlone(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{}`)
	good := func(id string) string {
		return `{"id": "` + id + `", "customer_id": "c1", "type": "order", "amount": 12.5, "order_id": "o-` + id +
			`", "at": "2026-05-01T10:00:00+08:00", "attrs": {"store": "上海", "items": 3, "gift": true}}`
	}
	// All good: one pass. With bad events among them: one by one.
	st, body := a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": [`+good("a1")+`, `+good("a2")+`]}`)
	if st != 200 || body["inserted"] != 2.0 {
		t.Fatalf("good batch: %d %v", st, body)
	}
	st, body = a.do("POST", "/api/v1/events/batch", ingestKey, `{"events": [`+good("b1")+`,
		{"id": "u1", "customer_id": "c1", "type": "visit", "at": "2026-05-01", "colour": "red"},
		{"id": "t1", "customer_id": 7, "type": "visit", "at": "2026-05-01"},
		[1, 2],
		null,
		`+good("b2")+`]}`)
	if st != 200 || body["inserted"] != 2.0 || body["rejected"] != 4.0 {
		t.Fatalf("mixed batch: %d %v", st, body)
	}
	results := body["results"].([]any)
	for i, field := range []string{"", "events[1].colour", "events[2].customer_id", "events[3]", "events[4].at", ""} {
		r := results[i].(map[string]any)
		switch {
		case field == "" && r["status"] != "inserted":
			t.Errorf("event %d: %v, want it inserted", i, r)
		case field != "" && (r["status"] != "rejected" || r["error"].(map[string]any)["field"] != field):
			t.Errorf("event %d: %v, want it rejected on %s", i, r, field)
		}
	}
	if r := results[1].(map[string]any); r["id"] != "u1" {
		t.Errorf("a rejected event's result names it: %v", r)
	}
	// The same event, stored from either batch, is stored the same.
	row := func(id string) string {
		var s string
		err := a.db.SQL().QueryRow(`SELECT customer_id || '|' || type || '|' || at || '|' || amount_fen || '|' || order_id || '|' || code || '|' || attrs
			FROM events WHERE id = ?`, id).Scan(&s)
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		return s
	}
	for _, p := range [][2]string{{"a1", "b1"}, {"a2", "b2"}} {
		if x, y := strings.ReplaceAll(row(p[0]), "o-"+p[0], "o-"), strings.ReplaceAll(row(p[1]), "o-"+p[1], "o-"); x != y {
			t.Errorf("%s stored %s, %s stored %s", p[0], x, p[1], y)
		}
	}
}

// A body over the limit is refused with 413 before it is read whole.
func TestBodyLimit(t *testing.T) {
	a := newAPI(t, httpapi.Config{MaxBody: 1024})
	var b bytes.Buffer
	b.WriteString(`{"events": [`)
	for i := 0; b.Len() < 4096; i++ {
		fmt.Fprintf(&b, `{"id": "e%d", "customer_id": "c1", "type": "visit", "at": "2026-05-01"},`, i)
	}
	b.WriteString(`{"id": "last", "customer_id": "c1", "type": "visit", "at": "2026-05-01"}]}`)
	st, body := a.do("POST", "/api/v1/events/batch", ingestKey, b.String())
	wantError(t, st, body, 413, "too_large", "")
	// Sent chunked, without a length to refuse it by, it is cut off
	// while it is read.
	req, err := http.NewRequest("POST", a.url+"/api/v1/events/batch", io.MultiReader(strings.NewReader(b.String())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ingestKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(raw), `"too_large"`) || req.ContentLength != 0 {
		t.Fatalf("chunked: %d %s (length %d)", resp.StatusCode, raw, req.ContentLength)
	}
	if n := a.count(`SELECT count(*) FROM events`); n != 0 {
		t.Fatalf("%d events stored from refused bodies", n)
	}
}

// An expression nested half a million deep crashed the process through a
// marketer's request; now it is a 400 naming the field, or a validation
// error at its line, and the server answers the next request.
func TestDeepExpressionsAreRefused(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	// Brackets need no escaping in a query: a 1 MB URL, as curl sends it.
	deep := strings.Repeat("(", 500000) + "true" + strings.Repeat(")", 500000)
	req, err := http.NewRequest("GET", a.url+"/api/v1/customers?where="+deep, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+marketerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatalf("filter reply %d: %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	wantError(t, resp.StatusCode, reply, 400, "invalid", "where")
	st, body := a.do("POST", "/api/v1/playbooks/validate?file=deep.yaml", marketerKey,
		"name: deep\nrules:\n  - id: r1\n    when: "+deep+"\n    once: true\n    actions: [{ tag: { add: [x] } }]\n")
	if st != 200 || body["valid"] != false {
		t.Fatalf("validate: %d %v", st, body)
	}
	e0 := body["errors"].([]any)[0].(map[string]any)
	if e0["line"] != 4.0 || !strings.Contains(e0["message"].(string), "at most 4096") {
		t.Errorf("validate error = %v", e0)
	}
	if st, _ := a.do("GET", "/api/v1/customers?where=orders%20%3E%200", marketerKey, ""); st != 200 {
		t.Errorf("the next filter: %d", st)
	}
}

// A filter that fails is a 400 naming it, not an empty list; one that
// costs too much stops at its time budget; and while it runs, ingest is
// not held off.
func TestHostileFiltersAreBounded(t *testing.T) {
	a := newAPI(t, httpapi.Config{QueryBudget: 3 * time.Second})
	var cs []domain.Customer
	for i := range 20000 {
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("c%05d", i), Member: true, JoinedAt: t0.Add(-time.Hour)})
	}
	if err := a.e.PutCustomers(context.Background(), cs, t0); err != nil {
		t.Fatal(err)
	}
	st, body := a.do("GET", "/api/v1/customers?where="+url.QueryEscape("1..100000000 != nil"), marketerKey, "")
	wantError(t, st, body, 400, "invalid", "where")
	if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "memory budget") {
		t.Errorf("failing filter: %q", msg)
	}
	// 90,000 steps a customer, matching none: over a minute for the pond.
	slow := url.QueryEscape(`any(1..300, {any(1..300, {# < 0})})`)
	done := make(chan struct{})
	var status int
	var reply map[string]any
	start := time.Now()
	go func() {
		defer close(done)
		status, reply = a.do("GET", "/api/v1/customers?where="+slow, marketerKey, "")
	}()
	time.Sleep(200 * time.Millisecond)
	var worst time.Duration
	for k := 0; ; k++ {
		select {
		case <-done:
		default:
			began := time.Now()
			st, _ := a.do("POST", "/api/v1/events", ingestKey, fmt.Sprintf(`{"id": "v%d", "customer_id": "c00001", "type": "visit", "at": "2026-04-30T10:00:00Z"}`, k))
			if st != 201 {
				t.Fatalf("ingest during the filter: %d", st)
			}
			worst = max(worst, time.Since(began))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	took := time.Since(start)
	wantError(t, status, reply, 400, "invalid", "where")
	if msg := reply["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "ran out of its 3s") {
		t.Errorf("slow filter: %q", msg)
	}
	if took > 10*time.Second {
		t.Errorf("the slow filter answered after %v, its budget is 3 s", took)
	}
	// The filter holds the pond's lock only while it computes 16 profiles,
	// never while it evaluates (it held it for 4,096 evaluations): an event
	// waits milliseconds, not seconds.
	if worst > 2*time.Second {
		t.Errorf("an event waited %v while the filter ran", worst)
	}
	t.Logf("the filter answered after %v; the slowest event took %v", took, worst)
}

// Every field a caller fills is bounded and must be text: a 7 MB id, a
// 1 MB event type, a NUL, invalid UTF-8, a date in 9999 and an amount
// past what fen can hold are each a 400 naming the field, and nothing is
// stored.
func TestFieldsAreBoundedAndText(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": true, "joined_at": "2026-01-01"}`)
	for _, c := range []struct {
		method, path, body, field string
	}{
		{"PUT", "/api/v1/customers/big", `{"id": "` + strings.Repeat("x", 7<<20) + `"}`, "id"},
		{"PUT", "/api/v1/customers/c2", `{"name": "Li\u0000Lei"}`, "name"},
		{"PUT", "/api/v1/customers/c2", `{"attrs": {"` + strings.Repeat("k", 65) + `": 1}}`, "attrs." + strings.Repeat("k", 65)},
		{"PUT", "/api/v1/customers/c2", `{"attrs": {"note": "` + strings.Repeat("x", 17<<10) + `"}}`, "attrs.note"},
		{"PUT", "/api/v1/customers/c2", `{"joined_at": "9999-11-30"}`, "joined_at"},
		{"POST", "/api/v1/events", `{"id": "e1", "customer_id": "c1", "type": "` + strings.Repeat("t", 1<<20) + `", "at": "2026-04-01T00:00:00Z"}`, "type"},
		{"POST", "/api/v1/events", `{"id": "e1", "customer_id": "c1", "type": "visit", "at": "9999-11-30T00:00:00Z"}`, "at"},
		{"POST", "/api/v1/events", `{"id": "e1", "customer_id": "c1", "type": "visit", "at": "1899-12-30T00:00:00Z"}`, "at"},
		{"POST", "/api/v1/events", `{"id": "e1", "customer_id": "c1", "type": "order", "amount": 1e19, "at": "2026-04-01T00:00:00Z"}`, "amount"},
		{"POST", "/api/v1/events", `{"id": "e\u0000", "customer_id": "c1", "type": "visit", "at": "2026-04-01T00:00:00Z"}`, "id"},
		{"POST", "/api/v1/playbooks/none/preview", `{"at": "9999-11-30T00:00:00Z"}`, "at"},
	} {
		st, body := a.do(c.method, c.path, marketerOrIngest(c.path), c.body)
		if st == 413 {
			continue // over the body limit: refused before it is read
		}
		wantError(t, st, body, 400, "invalid", c.field)
		if c.field == "amount" && !strings.Contains(body["error"].(map[string]any)["message"].(string), "at most") {
			t.Errorf("amount: %v", body)
		}
	}
	// Invalid UTF-8 is refused, not stored as U+FFFD.
	req, _ := http.NewRequest("PUT", a.url+"/api/v1/customers/c3", bytes.NewReader([]byte("{\"name\": \"Li\xffLei\"}")))
	req.Header.Set("Authorization", "Bearer "+ingestKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("invalid UTF-8: %d, want 400", resp.StatusCode)
	}
	if n := a.count(`SELECT count(*) FROM customers`); n != 1 {
		t.Errorf("%d customers stored; refused requests stored some", n)
	}
	if n := a.count(`SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events stored by refused requests", n)
	}
}

func marketerOrIngest(path string) string {
	if strings.Contains(path, "/playbooks/") {
		return marketerKey
	}
	return ingestKey
}

// An id with any character is reachable: a slash, a space, a percent and
// Chinese, escaped in the path, name the customer whose id they spell.
func TestIdsWithAnyCharacter(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for _, id := range []string{"a/b", "shop 1/会员 007", "100%", "x?y#z"} {
		path := "/api/v1/customers/" + url.PathEscape(id)
		if st, body := a.do("PUT", path, ingestKey, `{"member": true}`); st != 200 || body["id"] != id {
			t.Errorf("PUT %s: %d %v, want the id %q", path, st, body, id)
			continue
		}
		if st, body := a.do("GET", path, marketerKey, ""); st != 200 || body["customer"].(map[string]any)["id"] != id {
			t.Errorf("GET %s: %d %v", path, st, body)
		}
		if st, _ := a.do("POST", path+"/opt_out", ingestKey, `{"channel": "*"}`); st != 200 {
			t.Errorf("opt out %s: %d", path, st)
		}
		if st, _ := a.do("DELETE", path, adminKey, ""); st != 204 {
			t.Errorf("DELETE %s: %d", path, st)
		}
	}
	if n := a.count(`SELECT count(*) FROM customers`); n != 0 {
		t.Errorf("%d customers left: some id was stored escaped", n)
	}
}

// A database that cannot take a write now is a 503 with Retry-After, not
// a bare 500; /readyz says so too.
func TestUnavailableIs503WithRetryAfter(t *testing.T) {
	busy := &domain.Error{Code: domain.EUnavailable, Message: "the database is busy", RetryAfter: time.Second}
	a := newAPI(t, httpapi.Config{
		Reload: func(context.Context) (engine.ReloadResult, error) { return engine.ReloadResult{}, busy },
		Ready:  func(context.Context) error { return errors.New("write: the database cannot grow: the disk is full") },
	})
	req, _ := http.NewRequest("POST", a.url+"/api/v1/playbooks/reload", nil)
	req.Header.Set("Authorization", "Bearer "+marketerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("busy: %d, Retry-After %q; want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if st, body := a.do("GET", "/readyz", "", ""); st != 503 || !strings.Contains(fmt.Sprint(body["reason"]), "disk is full") {
		t.Errorf("readyz: %d %v", st, body)
	}
}

// A preview that runs out of its budget is refused, not left running.
func TestPreviewHasATimeBudget(t *testing.T) {
	a := newAPI(t, httpapi.Config{PreviewBudget: time.Nanosecond})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": true, "joined_at": "2026-04-01"}`)
	a.writePlaybook("welcome", couponPlaybook)
	a.do("POST", "/api/v1/playbooks/reload", marketerKey, "")
	st, body := a.do("POST", "/api/v1/playbooks/welcome/preview", marketerKey, "")
	wantError(t, st, body, 503, "unavailable", "")
	if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "budget") {
		t.Errorf("preview: %q", msg)
	}
}

// An opt-out names a channel: a 500 KB "channel" is refused, and however
// many channels a customer opts out of, the list stays bounded (past 64 it
// is every channel).
func TestOptOutsAreBounded(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.do("PUT", "/api/v1/customers/c1", ingestKey, `{"member": true}`)
	st, body := a.do("POST", "/api/v1/customers/c1/opt_out", ingestKey, `{"channel": "`+strings.Repeat("x", 500<<10)+`"}`)
	wantError(t, st, body, 400, "invalid", "channel")
	for k := range 70 {
		if st, body = a.do("POST", "/api/v1/customers/c1/opt_out", ingestKey, fmt.Sprintf(`{"channel": "ch%d"}`, k)); st != 200 {
			t.Fatalf("opt out %d: %d %v", k, st, body)
		}
	}
	if list := body["opt_out"].([]any); len(list) > 64 || list[0] != "*" {
		t.Errorf("after 70 channels the list is %.80v…, want * and at most 64", list)
	}
	a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"member": true}`)
	for k := range 3 {
		var chans []string
		for j := range 30 {
			chans = append(chans, fmt.Sprintf(`"c%d-%d"`, k, j))
		}
		a.do("PUT", "/api/v1/customers/c2", ingestKey, `{"member": true, "opt_out": [`+strings.Join(chans, ",")+`]}`)
	}
	_, body = a.do("GET", "/api/v1/customers/c2", marketerKey, "")
	if list := body["customer"].(map[string]any)["opt_out"].([]any); len(list) > 64 || list[0] != "*" {
		t.Errorf("after 90 channels over three PUTs the list is %.80v…, want * and at most 64", list)
	}
}
