package loyalty_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/actionstest"
	"github.com/koihq/koi/examples/customaction/loyalty"
)

// An action's unit test: validate, then Do against recording effects.
func TestAwardPointsEnqueuesTheAward(t *testing.T) {
	a := &loyalty.AwardPoints{Points: 200, Reason: "生日礼", Via: "points"}
	if err := a.Validate(actions.LoadContext{Channels: []string{"log", "points"}}); err != nil {
		t.Fatal(err)
	}
	fx := actionstest.NewEffects()
	res, err := a.Do(context.Background(), actionstest.Fire("c1", nil), fx)
	if err != nil || res["points"] != 200 || len(fx.Jobs) != 1 {
		t.Fatalf("result %v, jobs %v, %v", res, fx.Jobs, err)
	}
	if aw := fx.Jobs[0].Payload.(loyalty.Award); aw.CustomerID != "c1" || aw.Points != 200 || aw.Via != "points" {
		t.Errorf("payload %+v", aw)
	}
	fx.Err = errors.New("outbox full")
	if _, err := a.Do(context.Background(), actionstest.Fire("c2", nil), fx); !errors.Is(err, fx.Err) {
		t.Errorf("an effect's error must come back: %v", err)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	err := (&loyalty.AwardPoints{Points: 0, Via: "crm"}).Validate(actions.LoadContext{Channels: []string{"points"}})
	var es actions.Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want errors on points, reason and via: %v", err)
	}
}

// The client maps the points system's statuses to the dispatcher's
// contract and sends the idempotency key.
func TestClientStatuses(t *testing.T) {
	var status int
	var gotKey, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey, gotAuth = r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/members/c%201/points" && r.URL.Path != "/v1/members/c 1/points" {
			t.Errorf("request %s %v %v", r.URL.Path, body, err)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := &loyalty.Client{BaseURL: srv.URL, TokenEnv: "T"}
	if err := c.Open(actions.OpenContext{Getenv: func(string) string { return "tok" }}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status        int
		ok, permanent bool
	}{{200, true, false}, {409, true, false}, {503, false, false}, {429, false, false}, {400, false, true}, {404, false, true}} {
		status = tc.status
		err := c.Award(context.Background(), "key-1", loyalty.Award{CustomerID: "c 1", Points: 5, Reason: "r"})
		if (err == nil) != tc.ok || actions.IsPermanent(err) != tc.permanent {
			t.Errorf("status %d: %v", tc.status, err)
		}
	}
	if gotKey != "key-1" || gotAuth != "Bearer tok" {
		t.Errorf("key %q auth %q", gotKey, gotAuth)
	}
}
