package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/koihq/koi/actions/wecom/wecomtest"
)

// koi.yaml's WeCom tag map reaches the engine: `koi run` marks the mapped
// corp tag on each tagged contact, as their guide's member, through the
// outbox, and leaves the unmapped tag in koi.
func TestTagSyncThroughKoiRun(t *testing.T) {
	fake := wecomtest.New("ww1", "s3cret")
	defer fake.Close()
	fake.Members = map[string][]string{"wangxiao": {"wm1", "wm2", "wm3"}}
	fake.CorpTags = []string{"etVIP"}
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	cfg := filepath.Join(dir, "koi.yaml")
	write(t, cfg, fmt.Sprintf(`channels:
  wecom: { type: wecom, base_url: %q, corp_id: ww1, secret_env: KOI_TEST_WECOM_SECRET, tags: { vip: etVIP } }
guides:
  - { id: g01, wecom_user: wangxiao }
playbooks: %s
`, fake.URL, filepath.Join(dir, "playbooks")))
	if err := os.Mkdir(filepath.Join(dir, "playbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "playbooks", "vip.yaml"), `name: vip
limits: { max_fires: 100% }
rules:
  - id: vip
    when: "true"
    once: true
    actions: [{ tag: { add: [vip, big] } }]
`)
	write(t, filepath.Join(dir, "customers.jsonl"), `{"id":"c1","wecom_id":"wm1","guide":"g01"}
{"id":"c2","wecom_id":"wm2","guide":"g01"}
`)
	env := []string{"KOI_TEST_WECOM_SECRET=s3cret"}
	if r := koi(t, env, "--db", db, "--config", cfg, "import", "customers", filepath.Join(dir, "customers.jsonl")); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	r := koi(t, env, "--db", db, "--config", cfg, "run")
	if r.code != 0 {
		t.Fatalf("run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, ext := range []string{"wm1", "wm2"} {
		if got := fake.Marked("wangxiao", ext); !slices.Equal(got, []string{"etVIP"}) {
			t.Errorf("%s marked %v, want etVIP", ext, got)
		}
	}
	// An import's tags sync too: c2's record has no vip any more, c3's
	// brings it.
	write(t, filepath.Join(dir, "more.jsonl"), `{"id":"c2","wecom_id":"wm2","guide":"g01"}
{"id":"c3","wecom_id":"wm3","guide":"g01","tags":["vip"]}
`)
	if r := koi(t, env, "--db", db, "--config", cfg, "import", "customers", filepath.Join(dir, "more.jsonl")); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	if r := koi(t, env, "--db", db, "--config", cfg, "run", "--at", "2026-06-18T10:00:00+08:00"); r.code != 0 {
		t.Fatalf("run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := fake.Marked("wangxiao", "wm2"); len(got) != 0 {
		t.Errorf("wm2 marked %v after its record dropped vip", got)
	}
	if got := fake.Marked("wangxiao", "wm3"); !slices.Equal(got, []string{"etVIP"}) {
		t.Errorf("wm3 marked %v, want etVIP from its record", got)
	}
	r = koi(t, env, "--db", db, "--config", cfg, "jobs", "--kind", "tag_sync")
	if strings.Count(r.stdout, "done") != 4 {
		t.Errorf("koi jobs --kind tag_sync:\n%s", r.stdout)
	}
}
