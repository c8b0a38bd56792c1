package rules_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err golden files")

func options() rules.Options {
	return rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Tiers: []string{"normal", "silver", "gold", "vip"},
		Channels: []string{"log", "wecom", "crm"}, Guides: []actions.Guide{{ID: "g01", Capacity: 50}, {ID: "g02"}}, Sample: profile.SampleValues(),
		Policy: rules.Policy{Caps: []rules.Cap{{Messages: 3, Per: 7 * 24 * time.Hour, Source: "koi.yaml"}}}}
}

// TestBadPlaybooks loads every testdata/*.bad.yaml and compares all of its
// errors with the golden testdata/*.bad.err.
func TestBadPlaybooks(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad playbooks: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := rules.LoadFile(f, options())
			if err == nil {
				t.Fatal("loaded without error")
			}
			if _, ok := err.(rules.ErrorList); !ok {
				t.Fatalf("error is %T, want rules.ErrorList", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func TestExamplePlaybooksLoad(t *testing.T) {
	pbs, err := rules.LoadPaths([]string{"../examples/playbooks"}, options())
	if err != nil {
		t.Fatal(err)
	}
	if len(pbs) < 7 {
		t.Errorf("loaded %d example playbooks, want at least 7", len(pbs))
	}
}

func TestLoadReportsEveryErrorOfAFile(t *testing.T) {
	_, err := rules.LoadFile("testdata/actions.bad.yaml", options())
	if n := len(err.(rules.ErrorList)); n < 8 {
		t.Errorf("got %d errors, want every one of the file's 8+ problems:\n%v", n, err)
	}
}

func TestParsedPlaybook(t *testing.T) {
	src := `
name: ok
schedule: "@every 6h"
timezone: Asia/Shanghai
audience: member
holdout: 12.5%
limits: { max_fires: 5000 }
rules:
  - id: r1
    when: 'count(tags, # == "x") > 0 || count("visit", "7d") > 2'
    cooldown: 2w
    stop: true
    actions:
      - set_tier: { tier: gold }
  - id: r2
    on: order
    when: orders == 1
    once: true
    actions:
      - coupon: { amount: 12.34, min_spend: 0, expires_in: 36h }
`
	pb, err := rules.Load("ok.yaml", []byte(src), options())
	if err != nil {
		t.Fatal(err)
	}
	if pb.HoldoutBP != 1250 || pb.MaxFires.Count != 5000 || pb.Location.String() != "Asia/Shanghai" || pb.Cron == nil {
		t.Errorf("playbook fields: %+v", pb)
	}
	r1, r2 := pb.Rules[0], pb.Rules[1]
	if r1.Cooldown.Hours() != 14*24 || !r1.Stop || r1.Once || r2.On != "order" || !r2.Once {
		t.Errorf("rules: %+v %+v", r1, r2)
	}
	if pb.Hash == "" || len(pb.Hash) != 16 {
		t.Errorf("hash %q", pb.Hash)
	}
	pb2, _ := rules.Load("ok.yaml", []byte(src+"\n# edited\n"), options())
	if pb2.Hash == pb.Hash {
		t.Error("an edited playbook kept its hash")
	}
}

func TestDuplicatePlaybookNames(t *testing.T) {
	dir := t.TempDir()
	body := "name: same\nrules:\n  - id: r\n    when: \"true\"\n    once: true\n    actions:\n      - tag: { add: [x] }\n"
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A playbook test file is not a playbook.
	if err := os.WriteFile(filepath.Join(dir, "a_test.yaml"), []byte("not: a playbook"), 0o644); err != nil {
		t.Fatal(err)
	}
	pbs, err := rules.LoadPaths([]string{dir}, options())
	if len(pbs) != 1 || err == nil || !strings.Contains(err.Error(), `playbook name "same" is already used by`) {
		t.Errorf("got %d playbooks, error %v", len(pbs), err)
	}
}
