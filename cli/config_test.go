package cli

import (
	"path/filepath"
	"strings"
	"testing"
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
		path + `:4:3: config: api: unknown key "listne" (did you mean listen? known keys: listen, keys)`,
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
