package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
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

// A personalised message on WeCom is a task per customer: koi check warns,
// and with a database says how many tasks a run now would give each
// guide. Attachments past WeCom's limits are load errors at their key.
func TestCheckWeComMessages(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "60", "--seed", "3")
	d, err := sql.Open("sqlite", sqlite.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`UPDATE customers SET guide = iif(rowid % 2 = 0, 'g01', 'g02')`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	cfg := filepath.Join(dir, "koi.yaml")
	write(t, cfg, "channels:\n  wecom: { type: wecom, corp_id: ww1, secret_env: KOI_TEST_WECOM_SECRET }\nguides:\n  - { id: g01, name: 小王 }\n  - { id: g02, name: 小李 }\n")
	pb := filepath.Join(dir, "hello.yaml")
	write(t, pb, `name: hello
holdout: 0%
rules:
  - id: hi
    when: member
    once: true
    actions:
      - message: { channel: wecom, template: "{{.name}},会员日快乐" }
`)
	r := koi(t, []string{"KOI_TEST_WECOM_SECRET=s"}, "--db", db, "--config", cfg, "check", pb)
	if r.code != 0 || !strings.Contains(r.stdout, "hello.yaml:4:5: warning: rule hi: the message on wecom is personalised") ||
		!regexp.MustCompile(`a run of hello now would create \d+ tasks: \d+ for g01, \d+ for g02`).MatchString(r.stdout) {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	write(t, pb, `name: hello
holdout: 0%
rules:
  - id: hi
    when: member
    actions:
      - message:
          channel: wecom
          template: "会员日"
          attachments:
            - link: { title: 会员日, url: "ftp://x" }
            - { image: { media_id: M1 }, link: { title: t, url: "https://x" } }
            - miniprogram: { title: 领券, appid: wx1, page: pages/a }
`)
	r = koi(t, []string{"KOI_TEST_WECOM_SECRET=s"}, "--db", db, "--config", cfg, "check", pb)
	for _, want := range []string{"attachments[0].link.url: want an http(s) URL", "attachments[1]: want exactly one of link, miniprogram, image; got 2",
		"attachments[2].miniprogram.pic_media_id: is required"} {
		if r.code != exitFailed || !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q (exit %d):\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	write(t, pb, "name: hello\nholdout: 0%\nrules:\n  - id: hi\n    when: member\n    actions:\n      - message: { channel: wecom, template: \""+strings.Repeat("长", 1400)+"\" }\n")
	r = koi(t, []string{"KOI_TEST_WECOM_SECRET=s"}, "--db", db, "--config", cfg, "check", pb)
	if r.code != exitFailed || !strings.Contains(r.stdout, "renders to 4200 bytes for the sample customer, channel wecom takes at most 4000") {
		t.Errorf("long text: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
