package wecom_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/actions/wecom/wecomtest"
)

func open(t *testing.T, fake *wecomtest.Server, c *wecom.Channel) *wecom.Channel {
	t.Helper()
	c.BaseURL, c.CorpID, c.SecretEnv = fake.URL, "ww1", "WECOM_SECRET"
	err := c.Open(actions.OpenContext{
		Getenv: func(k string) string { return map[string]string{"WECOM_SECRET": "s3cret"}[k] },
		Guides: []actions.Guide{{ID: "g01", WeComUser: "wangxiao"}, {ID: "g02"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(wecomID, guide, text string) *actions.Message {
	return &actions.Message{Key: "k", Channel: "wecom", Text: text, CustomerID: "c1",
		To: actions.Contact{CustomerID: "c1", WeComID: wecomID, Guide: guide}}
}

// Messages go to the external user id from the guide's WeCom account; one
// token serves many sends.
func TestSendsFromTheGuideWithOneToken(t *testing.T) {
	fake := wecomtest.New("ww1", "s3cret")
	defer fake.Close()
	c := open(t, fake, &wecom.Channel{Sender: "store01"})
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, m := range []*actions.Message{message("wmA", "g01", "林静,好久不见"), message("wmB", "g02", "hi"), message("wmC", "", "hello"), message("wmD", "gone", "x")} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Send(ctx, m); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	sent := map[string]wecomtest.Sent{}
	for _, s := range fake.Sent() {
		sent[s.ExternalUserID] = s
	}
	if sent["wmA"].Sender != "wangxiao" || sent["wmA"].Content != "林静,好久不见" || sent["wmB"].Sender != "g02" ||
		sent["wmC"].Sender != "store01" || sent["wmD"].Sender != "store01" {
		t.Errorf("sent %+v", sent)
	}
	if fake.Fetches() != 1 {
		t.Errorf("%d token fetches for 4 concurrent sends, want 1", fake.Fetches())
	}
}

// An expired or revoked token is fetched again and the send retried at
// once; a token near its expiry is renewed before use.
func TestTokenRefresh(t *testing.T) {
	fake := wecomtest.New("ww1", "s3cret")
	defer fake.Close()
	c := open(t, fake, &wecom.Channel{})
	ctx := context.Background()
	if err := c.Send(ctx, message("wm1", "g01", "one")); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens() // 42001 on the next use
	if err := c.Send(ctx, message("wm1", "g01", "two")); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if fake.Fetches() != 2 || len(fake.Sent()) != 2 {
		t.Errorf("fetches %d, sent %d; want 2 and 2", fake.Fetches(), len(fake.Sent()))
	}

	short := wecomtest.New("ww1", "s3cret")
	defer short.Close()
	short.TokenTTL = 1 // renewed at half-life
	c2 := open(t, short, &wecom.Channel{})
	for i := range 3 {
		if err := c2.Send(ctx, message("wm1", "", "x")); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			time.Sleep(600 * time.Millisecond)
		}
	}
	if short.Fetches() != 3 {
		t.Errorf("%d fetches of a 1 s token over 1.2 s, want 3", short.Fetches())
	}
}

// WeCom's error codes become retry, retry later, or give up.
func TestErrorCodes(t *testing.T) {
	fake := wecomtest.New("ww1", "s3cret")
	defer fake.Close()
	fake.Contacts = []string{"wm1"}
	c := open(t, fake, &wecom.Channel{})
	ctx := context.Background()
	for _, tc := range []struct {
		code      int
		permanent bool
		after     time.Duration
	}{
		{-1, false, 0}, {45009, false, time.Minute}, {45033, false, time.Minute},
		{40096, true, 0}, {84061, true, 0}, {60111, true, 0}, {48002, true, 0}, {99999, false, 0},
	} {
		fake.InjectErrors(tc.code)
		err := c.Send(ctx, message("wm1", "g01", "x"))
		if err == nil || actions.IsPermanent(err) != tc.permanent || actions.RetryDelay(err) != tc.after || !strings.Contains(err.Error(), "errcode") {
			t.Errorf("errcode %d: %v (permanent %v, after %v)", tc.code, err, actions.IsPermanent(err), actions.RetryDelay(err))
		}
	}
	// A customer the corp does not have comes back in fail_list.
	if err := c.Send(ctx, message("wm-stranger", "g01", "x")); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "fail_list") {
		t.Errorf("fail_list: %v", err)
	}
	if err := c.Send(ctx, message("", "g01", "x")); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "no WeCom external user id") {
		t.Errorf("no wecom_id: %v", err)
	}
	// A wrong secret gives up and does not leak the secret.
	bad := &wecom.Channel{BaseURL: fake.URL, CorpID: "ww1", SecretEnv: "S"}
	if err := bad.Open(actions.OpenContext{Getenv: func(string) string { return "wrong-secret" }}); err != nil {
		t.Fatal(err)
	}
	err := bad.Send(ctx, message("wm1", "", "x"))
	if !actions.IsPermanent(err) || !strings.Contains(err.Error(), "40001") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong secret: %v", err)
	}
	// An unreachable host is retried, and the error names no secret.
	fake.Close()
	err = c.Send(ctx, message("wm1", "", "x"))
	if err == nil || actions.IsPermanent(err) || strings.Contains(err.Error(), "token-") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestOpenNamesTheBadKey(t *testing.T) {
	err := (&wecom.Channel{BaseURL: "ftp://x"}).Open(actions.OpenContext{Getenv: func(string) string { return "" }})
	for _, f := range []string{"base_url", "corp_id", "secret_env"} {
		var es actions.Errors
		found := false
		if errors.As(err, &es) {
			for _, e := range es {
				var fe *actions.FieldError
				if errors.As(e, &fe) && fe.Field == f {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no error on %s: %v", f, err)
		}
	}
}
