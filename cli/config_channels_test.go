package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/actions/builtin"
)

// Channels are configured by type; a mistake names the key and its line.
func TestChannelConfig(t *testing.T) {
	open := func(body string) error {
		t.Helper()
		path := filepath.Join(t.TempDir(), "koi.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(path)
		if err != nil {
			return err
		}
		set, err := c.openChannels(builtin.Registry(), slog.Default())
		if err != nil {
			return err
		}
		if _, ok := set.byName["log"]; !ok {
			t.Error("the log channel is missing")
		}
		if _, err := c.dispatchOptions(set.rates, nil); err != nil {
			return err
		}
		return nil
	}
	t.Setenv("CRM_SECRET", "s")
	if err := open("channels:\n  crm: { type: webhook, url: 'http://127.0.0.1:9/hook', secret_env: CRM_SECRET, rate: 50 }\noutbox: { backoff: 5s }\n"); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for body, want := range map[string]string{
		"channels:\n  crm: { type: fax }\n":                                                              "koi.yaml:2:16: channels.crm.type: unknown channel type \"fax\" (known types: log, webhook, wecom)",
		"channels:\n  crm: { type: webhook, url: 'http://x/', colour: red }\n":                           "koi.yaml:2:51: channels.crm.colour: unknown key",
		"channels:\n  crm: { type: webhook, url: 'http://x/', secret_env: NOT_SET_ANYWHERE }\n":          "channels.crm.secret_env: environment variable NOT_SET_ANYWHERE is empty or unset",
		"channels:\n  crm: { type: webhook, url: 'ftp://x/' }\n":                                         "channels.crm.url: want an http(s) URL",
		"channels:\n  crm: { type: webhook, url: 'http://x/', rate: fast }\n":                            "channels.crm.rate: want deliveries per second",
		"channels:\n  Crm: { type: log }\n":                                                              "channels.Crm: channel names are snake_case",
		"outbox: { max_backoff: soon }\n":                                                                "outbox.max_backoff: want a positive duration",
		"outbox: { concurrency: 100000 }\n":                                                              "outbox.concurrency: must be 1 to 1024, got 100000",
		"channels:\n  wecom: { type: wecom, corp_id: ww1, secret_env: CRM_SECRET, tags: { vip: '' } }\n": "channels.wecom.tags.vip: want the WeCom corp tag id",
	} {
		err := open(body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", body, err, want)
		}
	}
}
