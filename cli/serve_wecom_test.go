package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/koihq/koi/actions/wecom/callback"
	"github.com/koihq/koi/engine/apikey"
)

// A WeCom contact added, end to end: koi serve with wecom_callback in
// koi.yaml takes WeCom's signed, encrypted callback, makes the contact a
// customer, and the new-contact journey welcomes them at once.
func TestServeTakesWeComCallbacks(t *testing.T) {
	const aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	t.Setenv("KOI_TEST_CB_TOKEN", "cbtoken")
	t.Setenv("KOI_TEST_CB_KEY", aesKey)
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pbDir, "sop.yaml"), e2eJourney)
	const admin = "e2e-admin"
	cfgPath := filepath.Join(dir, "koi.yaml")
	write(t, cfgPath, fmt.Sprintf("playbooks: %s\ntimezone: UTC\napi:\n  keys:\n    - { name: ops, role: admin, sha256: %s }\n"+
		"wecom_callback: { corp_id: wwcorp, token_env: KOI_TEST_CB_TOKEN, aes_key_env: KOI_TEST_CB_KEY }\n", pbDir, apikey.HashKey(admin)))
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	s, stop := startServe(t, dir, cfgPath, pbDir, clock)
	defer stop()
	crypt, err := callback.New("cbtoken", aesKey, "wwcorp")
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf(`<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType>`+
		`<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>`+
		`<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmNEW]]></ExternalUserID></xml>`, clock.Now().Unix())
	enc, err := crypt.Encrypt([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(clock.Now().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"42"}, "msg_signature": {crypt.Signature(ts, "42", enc)}}
	resp, err := http.Post(s.base+"/wecom/callback?"+q.Encode(), "text/xml", strings.NewReader("<xml><Encrypt><![CDATA["+enc+"]]></Encrypt></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "success" {
		t.Fatalf("callback: %d %q", resp.StatusCode, body)
	}
	s.eventually("the new contact welcomed by the journey", func() bool {
		st, raw := s.call("GET", "/api/v1/customers/wecom:wmNEW", admin, "")
		return st == http.StatusOK && strings.Contains(raw, `"tags":["sop"]`)
	})
}

// wecom_callback's keys are checked with koi.yaml; its secrets only by
// koi serve, which refuses to start without them.
func TestWeComCallbackConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "koi.yaml")
	write(t, cfg, "wecom_callback: { corp_id: wwcorp, token_env: KOI_TEST_NO_TOKEN }\n")
	if r := koi(t, nil, "--config", cfg, "check", "examples/playbooks"); r.code == 0 || !strings.Contains(r.stderr, "wecom_callback.aes_key_env") {
		t.Errorf("a missing aes_key_env: exit %d %s", r.code, r.stderr)
	}
	write(t, cfg, "wecom_callback: { corp_id: wwcorp, token_env: KOI_TEST_NO_TOKEN, aes_key_env: KOI_TEST_NO_KEY }\napi:\n  keys:\n    - { name: ops, role: admin, sha256: "+apikey.HashKey("x")+" }\n")
	if r := koi(t, nil, "--config", cfg, "check", "examples/playbooks"); r.code != 0 {
		t.Errorf("koi check needs the callback's secrets: exit %d %s", r.code, r.stderr)
	}
	r := koi(t, nil, "--config", cfg, "--db", filepath.Join(dir, "koi.db"), "serve", "--listen", "127.0.0.1:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "KOI_TEST_NO_TOKEN is empty or unset") {
		t.Errorf("serve without the token: exit %d %s", r.code, r.stderr)
	}
}
