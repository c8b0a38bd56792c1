package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/httpapi"
)

// The spec is checked by a maintained validator (kin-openapi), not by
// hand-written assertions on fields: a field renamed, added or retyped in
// a response shows up as a schema violation, whichever handler encodes it.

// specChecker sends requests to a live server and validates each request
// and response against the OpenAPI document, recording which statuses
// each operation answered.
type specChecker struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	// seen holds, by "METHOD /path" as the document names the operation,
	// the statuses it answered.
	seen map[string]map[int]bool
}

// call is one request of the exercise and the status it must get.
type call struct {
	method, path, key string
	body              string
	// contentType defaults to application/json when there is a body.
	contentType string
	// offSpec marks a request that breaks the document on purpose (a
	// malformed id, an oversized body), to provoke an error response: its
	// response is validated, the request is not.
	offSpec bool
	want    int
}

// loadSpec parses and validates an OpenAPI document.
func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func newSpecChecker(t *testing.T, spec []byte) *specChecker {
	doc := loadSpec(t, spec)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// The document describes the validation endpoint's body, and its own,
	// as YAML text: koi, not the validator, parses a playbook (and reports
	// its errors by line and column).
	openapi3filter.RegisterBodyDecoder("application/yaml", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	t.Cleanup(func() { openapi3filter.RegisterBodyDecoder("application/yaml", openapi3filter.YamlBodyDecoder) })
	return &specChecker{t: t, doc: doc, router: router, seen: map[string]map[int]bool{}}
}

// do sends c to the server at base, checks its status, validates it
// against the document and returns the decoded JSON body (nil when there
// is none).
func (sc *specChecker) do(base string, c call) map[string]any {
	t := sc.t
	t.Helper()
	newReq := func() *http.Request {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		switch {
		case c.contentType != "":
			req.Header.Set("Content-Type", c.contentType)
		case c.body != "":
			req.Header.Set("Content-Type", "application/json")
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	what := fmt.Sprintf("%s %s", c.method, c.path)
	if resp.StatusCode != c.want {
		t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, raw, c.want)
	}

	req := newReq()
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: the document has no such operation: %v", what, err)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if !c.offSpec {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Fatalf("%s: the request does not match openapi.yaml:\n%v", what, err)
		}
	}
	if route.Operation.Responses.Status(resp.StatusCode) == nil && resp.StatusCode < 500 {
		t.Fatalf("%s: openapi.yaml does not list status %d for %s %s (only the default response matches): %s", what, resp.StatusCode, route.Method, route.Path, raw)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	// Say where in the body and what, not the whole schema.
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(raw)),
		Options: opts,
	})
	if err != nil {
		t.Fatalf("%s: the %d response does not match openapi.yaml:\n%v\nbody: %s", what, resp.StatusCode, err, raw)
	}
	op := route.Method + " " + route.Path
	if sc.seen[op] == nil {
		sc.seen[op] = map[int]bool{}
	}
	sc.seen[op][resp.StatusCode] = true

	if len(raw) == 0 || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: not JSON: %s", what, raw)
	}
	return out
}

// operations lists the document's operations, "METHOD /path".
func (sc *specChecker) operations() map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range sc.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

// Every route answers as openapi.yaml says, success and errors alike, on
// a live server: each response (and each request the exercise means to be
// valid) is validated against the document, and each status the document
// lists for a route must have been answered by it.
func TestResponsesMatchOpenAPI(t *testing.T) {
	const maxBody = 16 << 10
	a := newAPI(t, httpapi.Config{MaxBody: maxBody,
		Guides: []actions.Guide{{ID: "g1", Name: "小王", Capacity: 10}, {ID: "g2"}}})
	resp, err := http.Get(a.url + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sc := newSpecChecker(t, served)
	do := func(c call) map[string]any { t.Helper(); return sc.do(a.url, c) }
	const m, i, adm = marketerKey, ingestKey, adminKey
	v1 := "/api/v1"

	do(call{method: "GET", path: v1 + "/openapi.yaml", want: 200})
	// Empty lists are lists, not null.
	for _, p := range []string{"/customers", "/playbooks", "/runs", "/fires", "/coupons", "/jobs", "/guides/g1/tasks", "/reports/rules", "/reports/segments"} {
		do(call{method: "GET", path: v1 + p, key: m, want: 200})
	}
	do(call{method: "PUT", path: v1 + "/customers/c0", key: i, body: `{}`, want: 200})
	do(call{method: "GET", path: v1 + "/customers/c0", key: m, want: 200})
	do(call{method: "DELETE", path: v1 + "/customers/c0", key: adm, want: 204})

	// Customers and events.
	for k := 1; k <= 5; k++ {
		do(call{method: "PUT", path: fmt.Sprintf("%s/customers/c%d", v1, k), key: i, want: 200,
			body: fmt.Sprintf(`{"name": "客户%d", "member": true, "tier": "gold", "tags": ["vip-club"], "joined_at": "2026-01-02", "birthday": "05-20", "attrs": {"city": "杭州"}}`, k)})
	}
	do(call{method: "PUT", path: v1 + "/customers/c9", key: i, body: `{"nickname": "x"}`, offSpec: true, want: 400})
	do(call{method: "PUT", path: v1 + "/customers/c9", key: i, body: `{"tier": "diamond"}`, want: 400})
	do(call{method: "POST", path: v1 + "/events", key: i, want: 201,
		body: `{"id": "o-1", "customer_id": "c1", "type": "order", "amount": 99.5, "order_id": "ord-1", "at": "2026-04-20T09:00:00+08:00"}`})
	do(call{method: "POST", path: v1 + "/events", key: i, want: 200,
		body: `{"id": "o-1", "customer_id": "c1", "type": "order", "amount": 99.5, "order_id": "ord-1", "at": "2026-04-20T09:00:00+08:00"}`})
	do(call{method: "POST", path: v1 + "/events", key: i, want: 400,
		body: `{"id": "o-2", "customer_id": "c1", "type": "order", "amount": -5, "at": "2026-04-20"}`, offSpec: true})
	do(call{method: "POST", path: v1 + "/events", key: i, want: 400,
		body: `{"id": "o-2", "customer_id": "ghost", "type": "share", "at": "2026-04-20"}`})
	batch := do(call{method: "POST", path: v1 + "/events/batch", key: i, want: 200, body: `{"events": [
		{"id": "o-3", "customer_id": "c2", "type": "order", "amount": 300, "at": "2026-03-01"},
		{"id": "o-3", "customer_id": "c2", "type": "order", "amount": 300, "at": "2026-03-01"},
		{"id": "s-1", "customer_id": "c2", "type": "share", "at": "2026-04-01", "attrs": {"to": "moments"}},
		{"id": "o-4", "customer_id": "nobody", "type": "order", "amount": 1, "at": "2026-04-01"}]}`})
	if batch["inserted"] != 2.0 || batch["duplicates"] != 1.0 || batch["rejected"] != 1.0 {
		t.Fatalf("batch = %v", batch)
	}
	do(call{method: "POST", path: v1 + "/events/batch", key: i, body: `{"events": 5}`, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/customers?tier=gold&limit=2", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/customers?where=" + url.QueryEscape("orders > 0"), key: m, want: 200})
	do(call{method: "GET", path: v1 + "/customers?where=orderz", key: m, want: 400})
	do(call{method: "GET", path: v1 + "/customers/c1", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/customers/nobody", key: m, want: 404})
	do(call{method: "POST", path: v1 + "/customers/c5/opt_out", key: i, body: `{"channel": "sms"}`, want: 200})
	do(call{method: "POST", path: v1 + "/customers/c5/opt_out", key: i, body: `{"channel": ""}`, want: 400})
	do(call{method: "POST", path: v1 + "/customers/ghost/opt_out", key: i, body: `{"channel": "sms"}`, want: 404})
	do(call{method: "DELETE", path: v1 + "/customers/c5/opt_out/sms", key: i, want: 200})
	do(call{method: "DELETE", path: v1 + "/customers/ghost/opt_out/sms", key: i, want: 404})
	// A record naming another's identity merges them; merges are listed.
	do(call{method: "PUT", path: v1 + "/customers/c4", key: i, want: 200, body: `{"identities": [{"kind": "unionid", "value": "u-4"}]}`})
	do(call{method: "PUT", path: v1 + "/customers/c6", key: i, want: 200, body: `{"identities": [{"kind": "unionid", "value": "u-4"}, {"kind": "member_no", "value": "M6"}]}`})
	do(call{method: "GET", path: v1 + "/customers/c6", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/customers", key: i, want: 200, body: `{"name": "新客", "identities": [{"kind": "member_no", "value": "M6"}, {"kind": "unionid", "value": "u-7"}]}`})
	do(call{method: "POST", path: v1 + "/customers", key: i, want: 400, body: `{"name": "nobody"}`})
	do(call{method: "GET", path: v1 + "/merges?customer=c4", key: adm, want: 200})
	do(call{method: "GET", path: v1 + "/merges?before=x", key: adm, offSpec: true, want: 400})

	// Playbooks, previews, explanations and runs.
	do(call{method: "POST", path: v1 + "/playbooks/validate?file=x.yaml", key: m, contentType: "application/yaml",
		body: "name: x\nrules:\n  - id: r\n    when: orders >\n", want: 200})
	do(call{method: "POST", path: v1 + "/playbooks/validate", key: m, contentType: "application/yaml", body: couponPlaybook, want: 200})
	a.writePlaybook("welcome", couponPlaybook)
	a.writePlaybook("vip", guidePlaybook)
	a.writePlaybook("big", heldPlaybook)
	do(call{method: "POST", path: v1 + "/playbooks/reload", key: m, want: 200})
	a.writePlaybook("broken", "name: broken\nrules: [")
	do(call{method: "POST", path: v1 + "/playbooks/reload", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/playbooks", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/playbooks/welcome", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/playbooks/nope", key: m, want: 404})
	do(call{method: "POST", path: v1 + "/playbooks/welcome/preview?sample=2", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/playbooks/big/preview", key: m, body: `{"at": "2026-05-01T12:00:00Z"}`, want: 200})
	do(call{method: "POST", path: v1 + "/playbooks/welcome/preview?sample=x", key: m, offSpec: true, want: 400})
	do(call{method: "POST", path: v1 + "/playbooks/nope/preview", key: m, want: 404})
	do(call{method: "GET", path: v1 + "/customers/c1/explain?rule=welcome/welcome-coupon", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/customers/c1/explain?rule=welcome", key: m, want: 400})
	do(call{method: "GET", path: v1 + "/customers/nobody/explain?rule=welcome/welcome-coupon", key: m, want: 404})
	do(call{method: "POST", path: v1 + "/playbooks/welcome/run", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/playbooks/vip/run", key: m, body: `{"at": "2026-05-01T10:00:00Z"}`, want: 200})
	do(call{method: "POST", path: v1 + "/playbooks/welcome/run", key: m, body: `{"at": "yesterday"}`, offSpec: true, want: 400})
	do(call{method: "POST", path: v1 + "/playbooks/nope/run", key: m, want: 404})
	do(call{method: "GET", path: v1 + "/customers/c1/explain?rule=welcome/welcome-coupon", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/customers/c1", key: m, want: 200})

	// Held runs: one rejected, one approved; deciding twice is a conflict.
	held := func() string {
		t.Helper()
		run := do(call{method: "POST", path: v1 + "/playbooks/big/run", key: m, want: 200})
		if run["status"] != "held" {
			t.Fatalf("big ran without being held: %v", run)
		}
		return fmt.Sprint(run["id"])
	}
	id := held()
	do(call{method: "GET", path: v1 + "/runs/" + id, key: m, want: 200})
	do(call{method: "POST", path: v1 + "/runs/" + id + "/reject", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/runs/" + id + "/reject", key: m, want: 409})
	id = held()
	do(call{method: "POST", path: v1 + "/runs/" + id + "/approve", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/runs/" + id + "/approve", key: m, want: 409})
	for _, d := range []string{"approve", "reject"} {
		do(call{method: "POST", path: v1 + "/runs/x/" + d, key: m, offSpec: true, want: 400})
		do(call{method: "POST", path: v1 + "/runs/999/" + d, key: m, want: 404})
	}
	do(call{method: "GET", path: v1 + "/runs?limit=10", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/runs?limit=x", key: m, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/runs/x", key: m, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/runs/999", key: m, want: 404})
	do(call{method: "GET", path: v1 + "/fires", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/fires?run=x", key: m, offSpec: true, want: 400})

	// Coupons.
	coupons := do(call{method: "GET", path: v1 + "/coupons?customer=c1", key: m, want: 200})["coupons"].([]any)
	if len(coupons) != 1 {
		t.Fatalf("c1's coupons: %v", coupons)
	}
	code := coupons[0].(map[string]any)["code"].(string)
	do(call{method: "GET", path: v1 + "/coupons?before=x", key: m, offSpec: true, want: 400})
	do(call{method: "POST", path: v1 + "/coupons/" + code + "/redeem", key: i, body: `{"order_id": "ord-9"}`, want: 200})
	do(call{method: "POST", path: v1 + "/coupons/" + code + "/redeem", key: i, want: 409})
	do(call{method: "POST", path: v1 + "/coupons/NOPE/redeem", key: i, want: 404})
	do(call{method: "POST", path: v1 + "/coupons/NOPE/redeem", key: i, body: `{"order": 1}`, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/coupons", key: m, want: 200})

	// The outbox and the guides.
	jobs := do(call{method: "GET", path: v1 + "/jobs?kind=message", key: m, want: 200})["jobs"].([]any)
	if len(jobs) == 0 {
		t.Fatal("no jobs")
	}
	job := fmt.Sprint(jobs[0].(map[string]any)["id"])
	do(call{method: "GET", path: v1 + "/jobs?state=lost", key: m, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/jobs/" + job, key: m, want: 200})
	do(call{method: "POST", path: v1 + "/jobs/" + job + "/cancel", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/jobs/" + job + "/cancel", key: m, want: 409})
	do(call{method: "POST", path: v1 + "/jobs/" + job + "/retry", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/jobs/" + job + "/retry", key: m, want: 409})
	for _, p := range []string{"", "/cancel", "/retry"} {
		method := "POST"
		if p == "" {
			method = "GET"
		}
		do(call{method: method, path: v1 + "/jobs/x" + p, key: m, offSpec: true, want: 400})
		do(call{method: method, path: v1 + "/jobs/999" + p, key: m, want: 404})
	}
	do(call{method: "GET", path: v1 + "/guides", key: m, want: 200})
	tasks := do(call{method: "GET", path: v1 + "/guides/g1/tasks?state=open", key: m, want: 200})["tasks"].([]any)
	if len(tasks) == 0 {
		t.Fatal("g1 has no tasks")
	}
	task := fmt.Sprint(tasks[0].(map[string]any)["id"])
	do(call{method: "GET", path: v1 + "/guides/g1/tasks?state=late", key: m, offSpec: true, want: 400})
	do(call{method: "GET", path: v1 + "/guides/nobody/tasks", key: m, want: 404})
	do(call{method: "POST", path: v1 + "/guides/g1/tasks/" + task + "/done", key: m, want: 200})
	do(call{method: "POST", path: v1 + "/guides/g1/tasks/" + task + "/done", key: m, want: 409})
	do(call{method: "POST", path: v1 + "/guides/g1/tasks/x/done", key: m, offSpec: true, want: 400})
	do(call{method: "POST", path: v1 + "/guides/g2/tasks/" + task + "/done", key: m, want: 404})
	do(call{method: "GET", path: v1 + "/guides/g1/tasks?state=done", key: m, want: 200})

	// Reports.
	do(call{method: "GET", path: v1 + "/reports/segments", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/reports/rules?at=2026-06-01", key: m, want: 200})
	do(call{method: "GET", path: v1 + "/reports/rules?at=yesterday", key: m, want: 400})
	do(call{method: "GET", path: v1 + "/reports/rules?playbook=nope", key: m, want: 404})

	do(call{method: "DELETE", path: v1 + "/customers/c4", key: adm, want: 204})
	do(call{method: "DELETE", path: v1 + "/customers/c4", key: adm, want: 404})

	// Every operation: 401 without a key, 403 with a key of the wrong role,
	// 413 with a body over the limit; every other method of its path: 405,
	// naming the methods the path takes.
	wrongRole := map[string]string{}
	for _, r := range roleTable {
		wrongRole[r.op] = r.wrongKey
	}
	sample := map[string]string{}
	for _, r := range roleTable {
		sample[r.op] = r.path
	}
	big := `{"pad": "` + strings.Repeat("x", maxBody) + `"}`
	for op, o := range sc.operations() {
		method, _, _ := strings.Cut(op, " ")
		path, ok := sample[op]
		if !ok {
			t.Errorf("%s: no sample request in roleTable", op)
			continue
		}
		if o.Security != nil && len(*o.Security) == 0 {
			continue // public: no key, no role, no body
		}
		// The key is checked before the request is read: these need no body.
		do(call{method: method, path: v1 + path, offSpec: true, want: 401})
		do(call{method: method, path: v1 + path, key: wrongRole[op], offSpec: true, want: 403})
		if o.RequestBody != nil {
			do(call{method: method, path: v1 + path, key: adm, body: big, offSpec: true, want: 413})
		}
	}
	methodNotAllowed(t, sc, a.url, sample)

	// The document lists no status a route was not seen to answer.
	var missing []string
	for op, o := range sc.operations() {
		for status := range o.Responses.Map() {
			var n int
			if _, err := fmt.Sscan(status, &n); err != nil {
				continue // default
			}
			if !sc.seen[op][n] {
				missing = append(missing, fmt.Sprintf("%s %d", op, n))
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("statuses openapi.yaml lists that the exercise never saw (exercise them, or drop them from the document):\n%s", strings.Join(missing, "\n"))
	}
	checkRoutesMatch(t, sc)
}

// methodNotAllowed sends every path of the document each method it does
// not list, and checks the 405 against the document's MethodNotAllowed
// response: its Error body and its Allow header, which must name exactly
// the methods the document lists for the path.
func methodNotAllowed(t *testing.T, sc *specChecker, base string, sample map[string]string) {
	t.Helper()
	resp := sc.doc.Components.Responses["MethodNotAllowed"]
	if resp == nil || resp.Value.Headers["Allow"] == nil {
		t.Fatal("openapi.yaml has no MethodNotAllowed response with an Allow header")
	}
	schema := resp.Value.Content.Get("application/json").Schema.Value
	// A request path may match more than one of the document's paths:
	// /playbooks/validate is also /playbooks/{name}, whose GET it takes.
	for path, item := range sc.doc.Paths.Map() {
		var concrete string
		for method := range item.Operations() {
			concrete = sample[method+" "+path]
		}
		var listed []string
		for other, otherItem := range sc.doc.Paths.Map() {
			if templateMatches(other, concrete) {
				for method := range otherItem.Operations() {
					listed = append(listed, method)
				}
			}
		}
		sort.Strings(listed)
		for _, method := range []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
			if slices.Contains(listed, method) {
				continue
			}
			req, err := http.NewRequest(method, base+"/api/v1"+concrete, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+adminKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			allow := strings.Split(res.Header.Get("Allow"), ", ")
			sort.Strings(allow)
			if res.StatusCode != http.StatusMethodNotAllowed || !slices.Equal(allow, listed) {
				t.Errorf("%s %s: %d, Allow %q, want 405 with Allow %v: %s", method, concrete, res.StatusCode, res.Header.Get("Allow"), listed, raw)
				continue
			}
			if method == "HEAD" {
				continue // no body
			}
			var body any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("%s %s: not JSON: %s", method, concrete, raw)
			}
			if err := schema.VisitJSON(body); err != nil {
				t.Errorf("%s %s: the 405 body does not match the MethodNotAllowed response: %v", method, concrete, err)
			}
		}
	}
}

// templateMatches reports whether the request path (a query apart) is one
// of the document path's, {parameters} matching any one segment.
func templateMatches(template, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	want, got := strings.Split(template, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for k := range want {
		if want[k] != got[k] && !strings.HasPrefix(want[k], "{") {
			return false
		}
	}
	return true
}

// checkRoutesMatch fails when the router serves an operation the document
// does not list, or the document lists one the router does not serve, or
// the exercise left one out.
func checkRoutesMatch(t *testing.T, sc *specChecker) {
	t.Helper()
	ec := httpapi.New(nil, httpapi.Config{}).(*echo.Echo)
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range ec.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == echo.RouteNotFound {
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")] = true
	}
	var problems []string
	for op := range served {
		if sc.operations()[op] == nil {
			problems = append(problems, "served but not in openapi.yaml: "+op)
		}
		if sc.seen[op] == nil {
			problems = append(problems, "served but never exercised: "+op)
		}
	}
	for op := range sc.operations() {
		if !served[op] {
			problems = append(problems, "in openapi.yaml but not served: "+op)
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("the router, the document and the exercise disagree:\n%s", strings.Join(problems, "\n"))
	}
	if len(served) < 30 {
		t.Errorf("only %d routes found: %v", len(served), served)
	}
}

// roleTable gives, for each operation, a request path to send it and a
// key whose role may not use it.
var roleTable = []struct{ op, path, wrongKey string }{
	{"GET /openapi.yaml", "/openapi.yaml", ""},
	{"POST /events", "/events", marketerKey},
	{"POST /events/batch", "/events/batch", marketerKey},
	{"GET /customers", "/customers", ingestKey},
	{"GET /customers/{id}", "/customers/c1", ingestKey},
	{"PUT /customers/{id}", "/customers/c1", marketerKey},
	{"DELETE /customers/{id}", "/customers/c1", marketerKey},
	{"GET /merges", "/merges", marketerKey},
	{"POST /customers", "/customers", marketerKey},
	{"POST /customers/{id}/opt_out", "/customers/c1/opt_out", marketerKey},
	{"DELETE /customers/{id}/opt_out/{channel}", "/customers/c1/opt_out/sms", marketerKey},
	{"GET /customers/{id}/explain", "/customers/c1/explain?rule=welcome/welcome-coupon", ingestKey},
	{"GET /playbooks", "/playbooks", ingestKey},
	{"GET /playbooks/{name}", "/playbooks/welcome", ingestKey},
	{"POST /playbooks/validate", "/playbooks/validate", ingestKey},
	{"POST /playbooks/reload", "/playbooks/reload", ingestKey},
	{"POST /playbooks/{name}/preview", "/playbooks/welcome/preview", ingestKey},
	{"POST /playbooks/{name}/run", "/playbooks/welcome/run", ingestKey},
	{"GET /runs", "/runs", ingestKey},
	{"GET /runs/{id}", "/runs/1", ingestKey},
	{"POST /runs/{id}/approve", "/runs/1/approve", ingestKey},
	{"POST /runs/{id}/reject", "/runs/1/reject", ingestKey},
	{"GET /fires", "/fires", ingestKey},
	{"GET /coupons", "/coupons", ingestKey},
	{"POST /coupons/{code}/redeem", "/coupons/NOPE/redeem", marketerKey},
	{"GET /jobs", "/jobs", ingestKey},
	{"GET /jobs/{id}", "/jobs/1", ingestKey},
	{"POST /jobs/{id}/retry", "/jobs/1/retry", ingestKey},
	{"POST /jobs/{id}/cancel", "/jobs/1/cancel", ingestKey},
	{"GET /guides", "/guides", ingestKey},
	{"GET /guides/{id}/tasks", "/guides/g1/tasks", ingestKey},
	{"POST /guides/{id}/tasks/{task}/done", "/guides/g1/tasks/1/done", ingestKey},
	{"GET /reports/segments", "/reports/segments", ingestKey},
	{"GET /reports/rules", "/reports/rules", ingestKey},
}
