package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/sqlite"
)

// TestCheckWarnsAndStrictFails: lint warnings print with file:line:col and
// keep exit 0; --strict makes them fail. The channel warning looks at the
// database: a wecom message when no customer has a wecom_id.
func TestCheckWarnsAndStrictFails(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "200", "--seed", "2")
	d, err := sql.Open("sqlite", sqlite.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`UPDATE customers SET wecom_id = ''`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	write(t, filepath.Join(dir, "koi.yaml"), "channels:\n  wecom: { type: wecom, corp_id: ww1, secret_env: KOI_TEST_WECOM_SECRET, sender: guide1 }\n")
	if err := os.Mkdir(filepath.Join(dir, "pb"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "pb", "nag.yaml"), `name: nag
schedule: "0 10 * * *"
rules:
  - id: nag
    when: recency_days > 30
    cooldown: 1d
    actions:
      - message: { channel: wecom, template: "hi" }
      - coupon: { amount: 5, expires_in: 3d }
`)
	cfg := filepath.Join(dir, "koi.yaml")
	pb := filepath.Join(dir, "pb")
	// The channel's secret is set: its warning is another test's.
	r := koi(t, []string{"KOI_TEST_WECOM_SECRET=s3cret"}, "--db", db, "--config", cfg, "check", pb)
	if r.code != 0 {
		t.Fatalf("warnings alone: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"nag.yaml:1:1: warning: playbook nag gives coupons without a holdout",
		"nag.yaml:4:5: warning: rule nag messages, and its cooldown 1d is no longer than the schedule's period (1d)",
		"nag.yaml:4:5: warning: rule nag messages on wecom, which reaches customers by wecom_id, but no customer in the data has one",
		"ok: 1 playbook valid, 3 warnings",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	if r := koi(t, nil, "--db", db, "--config", cfg, "check", "--strict", pb); r.code != exitFailed {
		t.Errorf("--strict with warnings: exit %d, want %d", r.code, exitFailed)
	}
	if r := koi(t, nil, "--db", db, "check", "--strict", "examples/playbooks"); r.code != 0 {
		t.Errorf("the examples are not lint-clean: exit %d\n%s", r.code, r.stdout)
	}
}
