package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// A run's messages are due when its fires commit. A run at a future time
// (koi run --at) writes its coupons now, so its messages are due now too,
// not at the simulated time; a run in the past is due at once as well.
func TestJobsAreDueWhenTheirFiresCommit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("hello", `
name: hello
limits: { max_fires: 10000 }
rules:
  - id: hi
    when: "true"
    once: true
    actions:
      - message: { channel: log, template: "hi {{.id}}" }
`)
	future := time.Now().Add(72 * time.Hour)
	if run := f.run(f.engine(), future, false); run.Fired != 3 {
		t.Fatalf("fired %d", run.Fired)
	}
	due, err := f.db.DueJobs(ctx, time.Now().Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 {
		t.Fatalf("%d jobs due now, want 3", len(due))
	}
	for _, j := range due {
		if j.State != domain.JobPending || j.RunAt.After(time.Now()) || !j.CreatedAt.Equal(future.Truncate(time.Millisecond)) {
			t.Errorf("job %+v", j)
		}
	}
}
