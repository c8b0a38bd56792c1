package cli

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/actions/builtin"
)

// A typo in koi.yaml is reported as playbook typos are: every one of them
// at its file:line:col, with the key it most likely meant and the keys
// there are; a struct under a name (a channel's cap) is as strict as one
// under a fixed key.
func TestConfigTyposNameLineAndMeaning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koi.yaml")
	write(t, path, `rfm:
  windw: 90d
api:
  listne: ":9000"
policy:
  channels:
    log: { messages: 1, per: 1d, mesages: 2 }
timezne: UTC
tiers: gold
`)
	_, err := loadConfig(path)
	if err == nil {
		t.Fatal("a config full of typos loaded")
	}
	for _, want := range []string{
		path + `:2:3: config: rfm: unknown key "windw" (did you mean window? known keys: window, period, thresholds)`,
		path + `:4:3: config: api: unknown key "listne" (did you mean listen? known keys: listen, keys, read_timeout, write_timeout, idle_timeout)`,
		path + `:7:34: config: policy: channels: log: unknown key "mesages" (did you mean messages? known keys: messages, per)`,
		path + `:8:1: config: unknown key "timezne" (did you mean timezone? known keys: database, playbooks, timezone,`,
		path + `:9:8: config: tiers: want a list, got "gold"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// koi check opens the configured channels as koi serve would, and warns
// about one that cannot deliver: a secret_env that is unset.
func TestCheckWarnsAboutAnUnsetSecret(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "koi.yaml")
	write(t, cfg, `channels:
  crm:
    type: webhook
    url: https://crm.example.com/koi
    secret_env: KOI_TEST_CRM_SECRET
`)
	env := []string{"KOI_TEST_CRM_SECRET="}
	r := koi(t, env, "--config", cfg, "check", "examples/playbooks")
	want := cfg + `:5:17: warning: channels.crm.secret_env: environment variable KOI_TEST_CRM_SECRET is empty or unset`
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("check: exit %d, want 0 and %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	if r := koi(t, env, "--config", cfg, "check", "--strict", "examples/playbooks"); r.code != exitFailed {
		t.Errorf("check --strict with the warning: exit %d, want %d", r.code, exitFailed)
	}
	r = koi(t, []string{"KOI_TEST_CRM_SECRET=s3cret"}, "--config", cfg, "check", "--strict", "examples/playbooks")
	if r.code != 0 || strings.Contains(r.stdout, "warning") {
		t.Errorf("check with the secret set: exit %d\n%s", r.code, r.stdout)
	}
}

// What the old decoder took stays valid: an empty koi.yaml, one of
// comments only, and YAML anchors and merge keys, in sections and in
// channels.
func TestConfigEmptyAndMergeKeys(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{"", "# nothing yet\n"} {
		path := filepath.Join(dir, "koi.yaml")
		write(t, path, body)
		if _, err := loadConfig(path); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	path := filepath.Join(dir, "koi.yaml")
	write(t, path, `x-cap: &daily { messages: 1, per: 1d }
x-hook: &hook { type: webhook, secret_env: KOI_TEST_HOOK_SECRET, timeout: 5s }
policy:
  channels:
    log: { <<: *daily, per: 2d }
channels:
  crm: { <<: *hook, url: "https://crm.example.com/koi", timeout: 7s }
`)
	_, err := loadConfig(path)
	if err == nil || !strings.Contains(err.Error(), `unknown key "x-cap"`) {
		t.Fatalf("top-level anchors under unknown keys: %v, want the keys named", err)
	}
	write(t, path, `policy:
  cap: &daily { messages: 1, per: 1d }
  channels:
    log: { <<: *daily, per: 2d }
channels:
  crm: &hook { type: webhook, url: "https://crm.example.com/koi", secret_env: KOI_TEST_HOOK_SECRET, timeout: 5s }
  crm2: { <<: *hook, timeout: 7s }
`)
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.policy.Caps) != 2 || c.policy.Caps[1].Per.Hours() != 48 || c.policy.Caps[1].Messages != 1 {
		t.Errorf("merged cap: %+v", c.policy.Caps)
	}
	t.Setenv("KOI_TEST_HOOK_SECRET", "s3cret")
	set, err := c.openChannels(builtin.Registry(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if set.byName["crm2"] == nil {
		t.Error("the merged channel crm2 did not open")
	}
}

// A channel koi serve could not even decode is an error of koi check,
// not a warning.
func TestCheckFailsOnABrokenChannel(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "koi.yaml")
	write(t, cfg, "channels:\n  crm:\n    type: webhok\n")
	r := koi(t, nil, "--config", cfg, "check", "examples/playbooks")
	want := cfg + `:3:11: channels.crm.type: unknown channel type "webhok" (known types: log, webhook, wecom): koi serve would not start`
	if r.code != exitFailed || !strings.Contains(r.stdout, want) {
		t.Errorf("check: exit %d, want %d and %q\n%s%s", r.code, exitFailed, want, r.stdout, r.stderr)
	}
}

// koi check on a condition nested half a million deep: exit 1 and the
// position, not a crash.
func TestCheckRefusesADeepCondition(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "deep.yaml"), deepPlaybook)
	r := koi(t, nil, "check", dir)
	want := filepath.Join(dir, "deep.yaml") + ":4:11: rule r1: when: the expression is 1000004 bytes long; at most 4096"
	if r.code != exitFailed || !strings.Contains(r.stdout, want) {
		t.Errorf("check: exit %d, want %d and %q\n%.2000s%.2000s", r.code, exitFailed, want, r.stdout, r.stderr)
	}
}

// A run in 9999 fired real coupons expiring in 9999: a moment more than a
// year ahead (or before 1990) is a usage error.
func TestRunAtAnInsaneMomentIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	for _, at := range []string{"9999-11-30", "1899-12-30"} {
		r := koi(t, nil, "--db", db, "run", "--at", at)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--at: ") {
			t.Errorf("run --at %s: exit %d %s", at, r.code, r.stderr)
		}
	}
	if n := query(t, db, `SELECT count(*) FROM runs`); n != 0 {
		t.Errorf("%d runs recorded", n)
	}
}
