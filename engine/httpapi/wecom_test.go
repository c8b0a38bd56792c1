package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom/callback"
	"github.com/koihq/koi/engine/httpapi"
)

const testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

// fakeWeCom sends callbacks as WeCom does: the event's XML encrypted for
// the corp, in an envelope, signed in the URL.
type fakeWeCom struct {
	t     *testing.T
	url   string
	crypt *callback.Crypt
	n     int
}

func (f *fakeWeCom) send(method string, at time.Time, echostr string, event string) (int, string) {
	f.t.Helper()
	f.n++
	ts, nonce := strconv.FormatInt(at.Unix(), 10), fmt.Sprint(1000+f.n)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}}
	var body io.Reader
	if method == "GET" {
		enc, err := f.crypt.Encrypt([]byte(echostr))
		if err != nil {
			f.t.Fatal(err)
		}
		q.Set("echostr", enc)
		q.Set("msg_signature", f.crypt.Signature(ts, nonce, enc))
	} else {
		enc, err := f.crypt.Encrypt([]byte(event))
		if err != nil {
			f.t.Fatal(err)
		}
		q.Set("msg_signature", f.crypt.Signature(ts, nonce, enc))
		body = strings.NewReader("<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>")
	}
	return f.raw(method, "/wecom/callback?"+q.Encode(), body)
}

func (f *fakeWeCom) raw(method, path string, body io.Reader) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func contactEvent(change, external, user string, at time.Time) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[%s]]></ChangeType>
<UserID><![CDATA[%s]]></UserID><ExternalUserID><![CDATA[%s]]></ExternalUserID><State><![CDATA[store-qr]]></State></xml>`, at.Unix(), change, user, external)
}

// WeCom's callbacks: the URL check answers the echostr; a contact added
// becomes a customer named by their external userid, with the guide of the
// member who added them, and a wecom_add event (a retry of the callback
// adds nothing); an edit and a deletion are events of theirs; a callback
// that is not WeCom's (bad signature, tampered, replayed later) is refused.
func TestWeComCallbacks(t *testing.T) {
	crypt, err := callback.New("cbtoken", testAESKey, "wwcorp")
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, httpapi.Config{WeComCallback: crypt, Guides: []actions.Guide{{ID: "g01", Name: "小王", WeComUser: "wangxiao"}}})
	f := &fakeWeCom{t: t, url: a.url, crypt: crypt}
	if st, body := f.send("GET", t0, "echo-1234", ""); st != http.StatusOK || body != "echo-1234" {
		t.Fatalf("URL check: %d %q", st, body)
	}
	add := contactEvent("add_external_contact", "wmEXT1", "wangxiao", t0.Add(-time.Minute))
	for range 2 { // WeCom retries a callback it had no answer to
		if st, body := f.send("POST", t0, "", add); st != http.StatusOK || body != "success" {
			t.Fatalf("add: %d %q", st, body)
		}
	}
	st, view := a.do("GET", "/api/v1/customers/wecom:wmEXT1", adminKey, "")
	if st != http.StatusOK {
		t.Fatalf("the new contact: %d %v", st, view)
	}
	cust := view["customer"].(map[string]any)
	if cust["guide"] != "g01" || cust["wecom_id"] != "wmEXT1" || !strings.Contains(fmt.Sprint(cust["identities"]), "wecom_external_userid") {
		t.Errorf("the new contact: %v", cust)
	}
	if events := view["recent_events"].([]any); len(events) != 1 || events[0].(map[string]any)["type"] != "wecom_add" {
		t.Errorf("events after the add and its retry: %v", events)
	}
	for _, change := range []string{"edit_external_contact", "del_follow_user"} {
		if st, body := f.send("POST", t0, "", contactEvent(change, "wmEXT1", "wangxiao", t0)); st != http.StatusOK {
			t.Fatalf("%s: %d %q", change, st, body)
		}
	}
	_, view = a.do("GET", "/api/v1/customers/wecom:wmEXT1", adminKey, "")
	types := ""
	for _, e := range view["recent_events"].([]any) {
		types += fmt.Sprint(e.(map[string]any)["type"]) + " "
	}
	if !strings.Contains(types, "wecom_edit") || !strings.Contains(types, "wecom_del") {
		t.Errorf("events: %s", types)
	}
	// Refused: a forged signature, a body changed in flight, a callback
	// sent again ten minutes later, a message for another corp.
	good := contactEvent("add_external_contact", "wmEXT2", "wangxiao", t0)
	if st, _ := f.raw("POST", "/wecom/callback?msg_signature=0000&timestamp="+strconv.FormatInt(t0.Unix(), 10)+"&nonce=1", strings.NewReader("<xml><Encrypt>AAAA</Encrypt></xml>")); st != http.StatusForbidden {
		t.Errorf("a forged signature: %d", st)
	}
	if st, _ := f.send("POST", t0.Add(-10*time.Minute), "", good); st != http.StatusForbidden {
		t.Errorf("a callback ten minutes old: %d", st)
	}
	other, _ := callback.New("cbtoken", testAESKey, "wwother")
	if st, _ := (&fakeWeCom{t: t, url: a.url, crypt: other}).send("POST", t0, "", good); st != http.StatusForbidden {
		t.Errorf("a message for another corp: %d", st)
	}
	if st, _ := a.do("GET", "/api/v1/customers/wecom:wmEXT2", adminKey, ""); st != http.StatusNotFound {
		t.Errorf("a refused callback made a customer (%d)", st)
	}
}

// Junk sent to the callback, which takes requests without a key, cannot
// flood the log: refusals are logged at most once in ten seconds.
func TestWeComCallbackRefusalsDoNotFloodTheLog(t *testing.T) {
	crypt, err := callback.New("cbtoken", testAESKey, "wwcorp")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a := newAPI(t, httpapi.Config{WeComCallback: crypt, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	f := &fakeWeCom{t: t, url: a.url, crypt: crypt}
	for i := range 50 {
		if st, _ := f.raw("POST", fmt.Sprintf("/wecom/callback?msg_signature=%d&timestamp=%d&nonce=1", i, t0.Unix()), strings.NewReader("<xml><Encrypt>AAAA</Encrypt></xml>")); st != http.StatusForbidden {
			t.Fatalf("junk %d: %d", i, st)
		}
	}
	if n := strings.Count(logs.String(), "wecom callback refused"); n != 1 {
		t.Errorf("50 refusals logged %d times, want once", n)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The callback and the customers koi has already: one imported with its
// wecom_id gets the contact's events (no second customer); one whose id
// is wecom:ID keeps what it has; an edit or a half-confirmed add of an
// unknown contact makes no customer; an empty member picks no guide; an id
// too long to keep is answered, so that WeCom does not send it again.
func TestWeComCallbacksMeetKnownCustomers(t *testing.T) {
	crypt, err := callback.New("cbtoken", testAESKey, "wwcorp")
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, httpapi.Config{WeComCallback: crypt, Guides: []actions.Guide{{ID: "g01", WeComUser: "wangxiao"}, {ID: "g02"}}})
	f := &fakeWeCom{t: t, url: a.url, crypt: crypt}
	a.do("PUT", "/api/v1/customers/legacy", ingestKey, `{"name": "老客", "wecom_id": "wmLEG"}`)
	a.do("PUT", "/api/v1/customers/wecom:wmSAME", ingestKey, `{"name": "同号", "tier": "gold", "guide": "g02"}`)
	send := func(change, ext, user string) {
		t.Helper()
		if st, body := f.send("POST", t0, "", contactEvent(change, ext, user, t0)); st != http.StatusOK || body != "success" {
			t.Fatalf("%s %s: %d %q", change, ext, st, body)
		}
	}
	send("add_external_contact", "wmLEG", "wangxiao")
	send("add_external_contact", "wmSAME", "wangxiao")
	send("edit_external_contact", "wmEDIT", "wangxiao")
	send("add_half_external_contact", "wmHALF", "wangxiao")
	send("add_external_contact", "wmNOUSER", "")
	send("add_external_contact", strings.Repeat("x", 123), "wangxiao")
	_, view := a.do("GET", "/api/v1/customers/legacy", adminKey, "")
	if c := view["customer"].(map[string]any); c["guide"] != "g01" || !strings.Contains(fmt.Sprint(c["identities"]), "wmLEG") || len(view["recent_events"].([]any)) != 1 {
		t.Errorf("the customer known by wecom_id: %v, events %v", c, view["recent_events"])
	}
	_, view = a.do("GET", "/api/v1/customers/wecom:wmSAME", adminKey, "")
	if c := view["customer"].(map[string]any); c["name"] != "同号" || c["tier"] != "gold" || c["guide"] != "g02" || !strings.Contains(fmt.Sprint(c["identities"]), "wmSAME") {
		t.Errorf("the customer whose id is wecom:wmSAME: %v", c)
	}
	for _, id := range []string{"wecom:wmLEG", "wecom:wmEDIT", "wecom:wmHALF", "wecom:" + strings.Repeat("x", 123)} {
		if st, _ := a.do("GET", "/api/v1/customers/"+url.PathEscape(id), adminKey, ""); st != http.StatusNotFound {
			t.Errorf("%s was made a customer (%d)", id, st)
		}
	}
	if _, view := a.do("GET", "/api/v1/customers/wecom:wmNOUSER", adminKey, ""); view["customer"].(map[string]any)["guide"] != nil {
		t.Errorf("a contact added by no member got a guide: %v", view["customer"])
	}
}
