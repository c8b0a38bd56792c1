package dispatch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/actions/wecom/wecomtest"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

// wecomPond is 30 customers, the even ones of guide g01 (WeCom userid
// wangxiao), the odd ones of g02 (lihua), an engine whose wecom channel
// is the fake's, and a dispatcher tracking it, on a clock the test moves.
type wecomPond struct {
	fixture
	fake *wecomtest.Server
	ch   *wecom.Channel
	e    *engine.Engine
	dir  string // the playbooks
}

var wecomGuides = []actions.Guide{{ID: "g01", WeComUser: "wangxiao"}, {ID: "g02", WeComUser: "lihua"}}

func newWeComPond(t *testing.T, ch *wecom.Channel, playbooks ...string) *wecomPond {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fake := wecomtest.New("ww1", "corp-secret")
	t.Cleanup(fake.Close)
	fake.Members = map[string][]string{}
	var cs []domain.Customer
	for i := range 30 {
		id, guide, member := fmt.Sprintf("wm%02d", i), "g01", "wangxiao"
		if i%2 == 1 {
			guide, member = "g02", "lihua"
		}
		fake.Members[member] = append(fake.Members[member], id)
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("c%02d", i), Name: fmt.Sprintf("客户%d", i), Member: true, JoinedAt: t0.Add(-time.Hour),
			WeComID: id, Guide: guide})
	}
	if err := db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	ch.BaseURL, ch.CorpID, ch.SecretEnv = fake.URL, "ww1", "WECOM_SECRET"
	if err := ch.Open(actions.OpenContext{Name: "wecom", Getenv: func(string) string { return "corp-secret" }, Guides: wecomGuides}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, pb := range playbooks {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)), []byte(pb), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := builtin.Registry()
	var sync map[string]map[string]string
	if len(ch.TagMap()) > 0 {
		sync = map[string]map[string]string{"wecom": ch.TagMap()}
	}
	e := engine.New(db, reg, engine.Config{Channels: []string{"wecom"}, Shapes: map[string]actions.MessageShape{"wecom": ch.MessageShape()},
		Guides: wecomGuides, Policy: rules.Policy{Limits: map[string]actions.CustomerLimiter{"wecom": ch}}, TagSync: sync})
	if err := e.Load(dir); err != nil {
		t.Fatal(err)
	}
	workers, err := reg.Workers(actions.WorkerContext{Channels: map[string]actions.Channel{"wecom": ch}})
	if err != nil {
		t.Fatal(err)
	}
	p := &wecomPond{fixture: fixture{db: db, workers: workers}, fake: fake, ch: ch, e: e, dir: dir}
	p.now.Store(t0.UnixMilli())
	return p
}

func (p *wecomPond) dispatcher() *dispatch.Dispatcher {
	return p.fixture.dispatcher(dispatch.Options{Trackers: map[string]actions.Tracker{"wecom": p.ch}})
}

// writePlaybook writes a playbook file into the pond's directory.
func (p *wecomPond) writePlaybook(t *testing.T, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p *wecomPond) at(d time.Duration) { p.now.Store(t0.Add(d).UnixMilli()) }

func (p *wecomPond) byState(t *testing.T) map[domain.JobState]int {
	t.Helper()
	out := map[domain.JobState]int{}
	for _, j := range p.jobs(t) {
		out[j.State]++
	}
	return out
}

const memberDay = `name: member-day
limits: { max_fires: 100% }
rules:
  - id: notice
    when: member
    once: true
    actions:
      - message: { channel: wecom, template: "会员日,全场8折" }
`

// The case: a run messages 30 customers of two guides with one
// text: two tasks, one per guide. One guide confirms: 15 sent, 15 still
// task_created; the other guide is reminded once the delay has passed,
// not before; the report counts 15 contacts, and the customer's history
// says which of their messages reached them.
func TestWeComTasksPerGuideTrackedToTheSendResult(t *testing.T) {
	ctx := context.Background()
	remind := actions.Duration(2 * time.Hour)
	p := newWeComPond(t, &wecom.Channel{RemindAfter: &remind}, memberDay)
	runs, err := p.e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil || runs[0].Fired != 30 {
		t.Fatalf("run: %v %+v", err, runs)
	}
	d := p.dispatcher()
	if n := p.drain(t, d); n != 30 {
		t.Fatalf("drained %d, want 30", n)
	}
	tasks := p.fake.Tasks()
	if len(tasks) != 2 || p.fake.Calls("add_msg_template") != 2 || len(tasks[0].Customers) != 15 || len(tasks[1].Customers) != 15 {
		t.Fatalf("%d tasks in %d calls: %+v", len(tasks), p.fake.Calls("add_msg_template"), tasks)
	}
	if got := p.byState(t); got[domain.JobTaskCreated] != 30 {
		t.Fatalf("after the tasks were created: %v", got)
	}
	if n := p.fake.Confirm("wangxiao"); n != 15 {
		t.Fatalf("wangxiao sent to %d", n)
	}
	p.at(time.Hour)
	if err := d.TrackOnce(ctx, "wecom"); err != nil {
		t.Fatal(err)
	}
	if got := p.byState(t); got[domain.JobSent] != 15 || got[domain.JobTaskCreated] != 15 {
		t.Fatalf("after wangxiao confirmed: %v", got)
	}
	for _, task := range p.fake.Tasks() {
		if len(task.Reminders) != 0 {
			t.Errorf("%s reminded before the delay", task.Sender)
		}
	}
	p.at(3 * time.Hour)
	if err := d.TrackOnce(ctx, "wecom"); err != nil {
		t.Fatal(err)
	}
	for _, task := range p.fake.Tasks() {
		if want := map[string]int{"wangxiao": 0, "lihua": 1}[task.Sender]; len(task.Reminders) != want {
			t.Errorf("%s reminded %d times, want %d", task.Sender, len(task.Reminders), want)
		}
	}
	for _, j := range p.jobs(t) {
		if j.State == domain.JobTaskCreated && (j.Reminders != 1 || !j.RemindedAt.Equal(t0.Add(3*time.Hour))) {
			t.Errorf("job %d: %d reminders at %v", j.ID, j.Reminders, j.RemindedAt)
		}
		if j.State == domain.JobSent && j.SentAt.IsZero() {
			t.Errorf("job %d sent without a time", j.ID)
		}
	}
	// Past the delay again, within the one reminder configured: none.
	p.at(6 * time.Hour)
	if err := d.TrackOnce(ctx, "wecom"); err != nil {
		t.Fatal(err)
	}
	if n := len(p.fake.Tasks()[1].Reminders); n != 1 {
		t.Errorf("%d reminders, want 1 (reminders: 1)", n)
	}

	reps, err := p.e.Report(ctx, "member-day", t0.Add(6*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m := reps[0].Messages
	if m == nil || m.Contacts != 15 || m.Planned != 30 || m.ByState["task_created"] != 15 || m.ByState["sent"] != 15 {
		t.Fatalf("report messages %+v", m)
	}
	for id, want := range map[string]string{"c00": "sent", "c01": "task_created"} {
		v, err := p.e.ViewCustomer(ctx, id, t0.Add(6*time.Hour))
		if err != nil || len(v.Messages) != 1 || v.Messages[0].State != want || v.Messages[0].Rule != "notice" {
			t.Errorf("%s: messages %+v, %v", id, v.Messages, err)
		}
	}
}

// A customer who opts out before their guide sends: the task is stopped,
// they are unsent, and the task's other customers go into a new task. An
// operator's cancel of a tracked job does the same. A task left
// unconfirmed past expire_after is stopped and its customers unsent.
func TestWeComCancelOptOutAndExpiry(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{ExpireAfter: actions.Duration(48 * time.Hour)}, memberDay)
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
		t.Fatal(err)
	}
	d := p.dispatcher()
	p.drain(t, d)
	if _, err := p.e.SetOptOut(ctx, "c01", "wecom", true); err != nil {
		t.Fatal(err)
	}
	var c03 *domain.Job
	for _, j := range p.jobs(t) {
		if j.CustomerID == "c03" {
			c03 = j
		}
	}
	if j, err := p.db.CancelJob(ctx, c03.ID, t0); err != nil || j.State != domain.JobTaskCreated || j.Cancel == "" {
		t.Fatalf("cancel a tracked job: %+v, %v", j, err)
	}
	p.at(time.Minute)
	if err := d.TrackOnce(ctx, "wecom"); err != nil {
		t.Fatal(err)
	}
	byCustomer := map[string]*domain.Job{}
	for _, j := range p.jobs(t) {
		byCustomer[j.CustomerID] = j
	}
	if j := byCustomer["c01"]; j.State != domain.JobUnsent || !strings.Contains(j.LastError, "opted out") {
		t.Errorf("c01: %s %q", j.State, j.LastError)
	}
	if j := byCustomer["c03"]; j.State != domain.JobUnsent || !strings.Contains(j.LastError, "cancelled by an operator") {
		t.Errorf("c03: %s %q", j.State, j.LastError)
	}
	if got := p.byState(t); got[domain.JobPending] != 13 || got[domain.JobTaskCreated] != 15 || got[domain.JobUnsent] != 2 {
		t.Fatalf("after the opt-out: %v", got)
	}
	if !p.fake.Tasks()[1].Cancelled {
		t.Errorf("lihua's task was not stopped")
	}
	p.drain(t, d)
	tasks := p.fake.Tasks()
	if len(tasks) != 3 || tasks[2].Sender != "lihua" || len(tasks[2].Customers) != 13 {
		t.Fatalf("the others' new task: %+v", tasks)
	}
	if _, ok := tasks[2].Customers["wm01"]; ok {
		t.Errorf("the customer who opted out is in the new task")
	}
	// Nobody confirms: two days later every open task is stopped.
	p.at(49 * time.Hour)
	if err := d.TrackOnce(ctx, "wecom"); err != nil {
		t.Fatal(err)
	}
	if got := p.byState(t); got[domain.JobUnsent] != 30 {
		t.Errorf("after expiry: %v", got)
	}
	// Retrying a tracked job would send twice; a finished one may be.
	if _, err := p.db.RetryJob(ctx, byCustomer["c01"].ID, t0); err != nil {
		t.Errorf("retry an unsent job: %v", err)
	}
}

// WeCom's rate limit (45009) pauses the whole channel for the block
// without using an attempt; the jobs go out once it has passed.
func TestWeComRateLimitWaitsTheBlockOut(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{}, memberDay)
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
		t.Fatal(err)
	}
	p.fake.InjectErrors("add_msg_template", 45009)
	d := p.dispatcher()
	p.drain(t, d)
	for _, j := range p.jobs(t) {
		if j.State != domain.JobPending || j.Attempts != 0 || !j.RunAt.Equal(t0.Add(time.Hour)) || !strings.Contains(j.LastError, "45009") {
			t.Fatalf("job %d: %s, %d attempts, due %v (%s)", j.ID, j.State, j.Attempts, j.RunAt, j.LastError)
		}
	}
	p.at(time.Hour)
	p.drain(t, d)
	if got := p.byState(t); got[domain.JobTaskCreated] != 30 {
		t.Errorf("after the block: %v", got)
	}
}

// WeCom lets a customer receive as many mass messages a month as the
// channel says: koi suppresses the next one (channel_limit) rather than
// create a task WeCom would fail.
func TestWeComMonthlyLimitSuppressesBeforeTheTask(t *testing.T) {
	ctx := context.Background()
	second := strings.NewReplacer("member-day", "flash-sale", "notice", "sale", "会员日,全场8折", "限时秒杀").Replace(memberDay)
	p := newWeComPond(t, &wecom.Channel{MonthlyLimit: 1}, memberDay, second)
	runs, err := p.e.Run(ctx, engine.RunRequest{Playbooks: []string{"member-day"}, At: t0})
	if err != nil || runs[0].Fired != 30 {
		t.Fatalf("first: %v %+v", err, runs)
	}
	runs, err = p.e.Run(ctx, engine.RunRequest{Playbooks: []string{"flash-sale"}, At: t0.Add(24 * time.Hour)})
	if err != nil || runs[0].Fired != 0 || runs[0].Rules[0].Suppressed[policy.ReasonChannelLimit] != 30 {
		t.Fatalf("second, same month: %v %+v", err, runs[0].Rules[0])
	}
	// Next month (Beijing time) the customer may be messaged again.
	runs, err = p.e.Run(ctx, engine.RunRequest{Playbooks: []string{"flash-sale"}, At: time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC)})
	if err != nil || runs[0].Fired != 30 {
		t.Fatalf("next month: %v %+v", err, runs[0].Rules[0])
	}
}
