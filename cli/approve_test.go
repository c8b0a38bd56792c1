package cli

import (
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const guardedPlaybook = `name: guarded
limits: { max_fires: 5 }
holdout: 0%
rules:
  - id: gift
    when: member
    once: true
    actions: [{ tag: { add: [gift] } }]
`

// koi approve finds the held playbook where the run found it, whatever
// the approver's configuration says; without $USER it still records who
// decided; and a held dry run does not offer a run id that does not exist.
func TestApproveWithoutTraps(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	pbs := filepath.Join(dir, "mine")
	if err := os.Mkdir(pbs, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pbs, "guarded.yaml"), guardedPlaybook)
	mustKoi(t, "--db", db, "demo", "--customers", "300", "--at", "2026-06-18")

	dry := koi(t, nil, "--db", db, "run", "--playbooks", pbs, "--at", at, "--dry-run")
	if dry.code != exitHeld || strings.Contains(dry.stdout, "koi approve 0") || !strings.Contains(dry.stdout, "a real run would wait for approval") {
		t.Errorf("held dry run: exit %d\n%s", dry.code, dry.stdout)
	}

	var rep runReport
	r := koi(t, nil, "--db", db, "run", "--playbooks", pbs, "--at", at, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitHeld || rep.Playbooks[0].Status != "held" {
		t.Fatalf("run: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	id := strconv.FormatInt(rep.Playbooks[0].RunID, 10)
	if !strings.Contains(rep.Playbooks[0].Error, "koi approve "+id) {
		t.Errorf("the held run says %q, want it to name koi approve %s", rep.Playbooks[0].Error, id)
	}
	// No --playbooks, no $USER: the run's own file, and a recorded name.
	r = koi(t, []string{"USER="}, "--db", db, "approve", id)
	if r.code != 0 {
		t.Fatalf("approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := "koi-cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		want = u.Username
	}
	if got := queryStrings(t, db, `SELECT decided_by FROM runs WHERE id = `+id); len(got) != 1 || got[0] != want {
		t.Errorf("decided_by %v, want %q", got, want)
	}
	if n := query(t, db, `SELECT count(*) FROM fires WHERE run_id = `+id); n == 0 {
		t.Error("the approved run wrote no fires")
	}

	// A held run whose file has moved: say where it was and which flag
	// to give; with the flag, it is released.
	write(t, filepath.Join(pbs, "guarded.yaml"), strings.Replace(guardedPlaybook, "when: member", "when: member || orders > 0", 1))
	r = koi(t, nil, "--db", db, "run", "--playbooks", pbs, "--at", at, "--json")
	rep = runReport{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Playbooks[0].Status != "held" {
		t.Fatalf("second run: %v\n%s", err, r.stdout)
	}
	id = strconv.FormatInt(rep.Playbooks[0].RunID, 10)
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(pbs, moved); err != nil {
		t.Fatal(err)
	}
	r = koi(t, nil, "--db", db, "approve", id, "--by", "alice")
	if r.code != exitFailed || !strings.Contains(r.stderr, filepath.Join(pbs, "guarded.yaml")) || !strings.Contains(r.stderr, "--playbooks") {
		t.Errorf("approve after a move: exit %d\n%s", r.code, r.stderr)
	}
	empty := t.TempDir()
	r = koi(t, nil, "--db", db, "approve", id, "--by", "alice", "--playbooks", empty)
	if r.code != exitFailed || !strings.Contains(r.stderr, "playbook guarded, which is not in "+empty) {
		t.Errorf("approve with a wrong --playbooks: exit %d\n%s", r.code, r.stderr)
	}
	r = koi(t, nil, "--db", db, "approve", id, "--by", "alice", "--playbooks", moved)
	if r.code != 0 || !strings.Contains(r.stdout, "approved by alice") {
		t.Errorf("approve with --playbooks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
