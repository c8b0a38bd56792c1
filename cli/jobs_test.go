package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// A new user's first message: a playbook that messages on the log channel
// shows the rendered messages after koi run, and koi jobs lists them.
func TestRunDeliversMessagesOnTheLogChannel(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	if err := os.Mkdir(filepath.Join(dir, "pb"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "pb", "hello.yaml"), `name: hello
limits: { max_fires: 100% }
rules:
  - id: hi
    when: member
    once: true
    actions:
      - coupon: { amount: 20, expires_in: 7d }
      - message: { channel: log, template: "{{.name}},送您{{.coupon.amount}}元券 {{.coupon.code}}" }
`)
	mustKoi(t, "--db", db, "demo", "--customers", "50", "--seed", "3")
	r := mustKoi(t, "--db", db, "run", "--playbooks", filepath.Join(dir, "pb"), "--json")
	var rep runReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.Fired == 0 || rep.Deliveries[domain.JobDone] != rep.Fired {
		t.Fatalf("fired %d, deliveries %v: want every fire's message delivered", rep.Fired, rep.Deliveries)
	}
	if n := strings.Count(r.stderr, "msg=message channel=log"); n != rep.Fired {
		t.Errorf("%d messages logged, want %d:\n%s", n, rep.Fired, r.stderr)
	}
	if !strings.Contains(r.stderr, "送您20元券 K") {
		t.Errorf("the log lacks the rendered text:\n%s", r.stderr)
	}

	jobs := mustKoi(t, "--db", db, "jobs", "--json", "--limit", "1000")
	var list []domain.Job
	if err := json.Unmarshal([]byte(jobs.stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != rep.Fired || list[0].State != domain.JobDone {
		t.Fatalf("koi jobs: %d jobs, first %+v", len(list), list[0])
	}
	one := mustKoi(t, "--db", db, "jobs", "--json", "--fire", "1")
	var byFire []domain.Job
	if err := json.Unmarshal([]byte(one.stdout), &byFire); err != nil || len(byFire) != 1 || byFire[0].FireID != 1 {
		t.Errorf("koi jobs --fire 1: %v %+v", err, byFire)
	}
	// A done job can be sent again by an operator; cancelling it is a
	// conflict, and a bad id a usage error.
	id := "1"
	if r := mustKoi(t, "--db", db, "jobs", "retry", id); !strings.Contains(r.stdout, "job 1 is pending") {
		t.Errorf("retry said %q", r.stdout)
	}
	mustKoi(t, "--db", db, "jobs", "cancel", id)
	if r := koi(t, nil, "--db", db, "jobs", "cancel", id); r.code != exitFailed || !strings.Contains(r.stderr, "cancelled: nothing to cancel") {
		t.Errorf("cancelling twice: exit %d, %s", r.code, r.stderr)
	}
	if r := koi(t, nil, "--db", db, "jobs", "retry", "x"); r.code != exitUsage {
		t.Errorf("bad id: exit %d", r.code)
	}
	if r := koi(t, nil, "--db", db, "jobs", "--state", "lost"); r.code != exitUsage || !strings.Contains(r.stderr, "--state") {
		t.Errorf("bad state: exit %d, %s", r.code, r.stderr)
	}
}
