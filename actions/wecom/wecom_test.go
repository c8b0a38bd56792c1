package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/actions/wecom/wecomtest"
)

func newFake(t *testing.T) *wecomtest.Server {
	t.Helper()
	fake := wecomtest.New("ww1", "s3cret")
	t.Cleanup(fake.Close)
	fake.Members = map[string][]string{"wangxiao": {"wmA", "wm1", "wm2"}, "g02": {"wmB", "wm1"}, "store01": {"wmC", "wmD"}}
	return fake
}

func open(t *testing.T, fake *wecomtest.Server, c *wecom.Channel) *wecom.Channel {
	t.Helper()
	c.BaseURL, c.CorpID, c.SecretEnv = fake.URL, "ww1", "WECOM_SECRET"
	err := c.Open(actions.OpenContext{
		Getenv: func(k string) string { return map[string]string{"WECOM_SECRET": "s3cret"}[k] },
		Guides: []actions.Guide{{ID: "g01", WeComUser: "wangxiao"}, {ID: "g02"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(wecomID, guide, text string) *actions.Message {
	return &actions.Message{Key: "k", Channel: "wecom", Text: text, CustomerID: "c-" + wecomID,
		To: actions.Contact{CustomerID: "c-" + wecomID, WeComID: wecomID, Guide: guide}}
}

// A message becomes a task for the guide's WeCom account, from the
// default sender for customers without a configured guide; one token
// serves many sends; the task is the message's receipt.
func TestSendCreatesATaskForTheGuide(t *testing.T) {
	fake := newFake(t)
	c := open(t, fake, &wecom.Channel{Sender: "store01"})
	ctx := context.Background()
	msgs := []*actions.Message{message("wmA", "g01", "林静,好久不见"), message("wmB", "g02", "hi"), message("wmC", "", "hello"), message("wmD", "gone", "x")}
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Send(ctx, m); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	senders := map[string]string{}
	for _, task := range fake.Tasks() {
		for ext, st := range task.Customers {
			senders[ext] = task.Sender
			if st != wecomtest.StatusUnsent {
				t.Errorf("%s: status %d before the guide confirmed", ext, st)
			}
		}
	}
	if senders["wmA"] != "wangxiao" || senders["wmB"] != "g02" || senders["wmC"] != "store01" || senders["wmD"] != "store01" {
		t.Errorf("senders %v", senders)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Receipt, `"msgid":"msgGAAA`) {
			t.Errorf("%s: receipt %q", m.To.WeComID, m.Receipt)
		}
	}
	if fake.Fetches() != 1 {
		t.Errorf("%d token fetches for 4 concurrent sends, want 1", fake.Fetches())
	}
	if len(fake.Received()) != 0 {
		t.Errorf("customers received %v before any guide confirmed", fake.Received())
	}
}

// Identical messages go into one task per sender; different texts into
// tasks of their own.
func TestSendBatchMakesOneTaskPerGuide(t *testing.T) {
	fake := newFake(t)
	fake.Members = map[string][]string{"wangxiao": {}, "g02": {}}
	var msgs []*actions.Message
	for i := range 30 {
		guide, member := "g01", "wangxiao"
		if i%2 == 1 {
			guide, member = "g02", "g02"
		}
		id := fmt.Sprintf("wm%02d", i)
		fake.Members[member] = append(fake.Members[member], id)
		msgs = append(msgs, message(id, guide, "会员日,全场8折"))
	}
	msgs = append(msgs, message("wm00", "g01", "another text"))
	c := open(t, fake, &wecom.Channel{})
	for i, err := range c.SendBatch(context.Background(), msgs) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	tasks := fake.Tasks()
	if len(tasks) != 3 || fake.Calls("add_msg_template") != 3 {
		t.Fatalf("%d tasks in %d calls, want 3 and 3", len(tasks), fake.Calls("add_msg_template"))
	}
	if len(tasks[0].Customers) != 15 || len(tasks[1].Customers) != 15 || len(tasks[2].Customers) != 1 {
		t.Errorf("task sizes %d, %d, %d", len(tasks[0].Customers), len(tasks[1].Customers), len(tasks[2].Customers))
	}
}

// Attachments go out in WeCom's shape, each with its msgtype.
func TestAttachments(t *testing.T) {
	fake := newFake(t)
	c := open(t, fake, &wecom.Channel{})
	m := message("wmA", "g01", "会员日")
	m.Attachments = []actions.Attachment{
		{Link: &actions.LinkAttachment{Title: "会员日", URL: "https://shop.example/day"}},
		{MiniProgram: &actions.MiniProgramAttachment{Title: "领券", AppID: "wx8bd80126147dfAAA", Page: "pages/coupon", PicMediaID: "MEDIA1"}},
		{Image: &actions.ImageAttachment{MediaID: "MEDIA2"}},
	}
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := fake.Tasks()[0].Attachments
	if len(got) != 3 || got[0].MsgType != "link" || got[0].Link["url"] != "https://shop.example/day" ||
		got[1].MsgType != "miniprogram" || got[1].MiniProgram["appid"] != "wx8bd80126147dfAAA" || got[1].MiniProgram["pic_media_id"] != "MEDIA1" ||
		got[2].MsgType != "image" || got[2].Image["media_id"] != "MEDIA2" {
		t.Errorf("attachments %+v", got)
	}
}

// An expired or revoked token is fetched again and the call retried at
// once; a token near its expiry is renewed before use.
func TestTokenRefresh(t *testing.T) {
	fake := newFake(t)
	c := open(t, fake, &wecom.Channel{})
	ctx := context.Background()
	if err := c.Send(ctx, message("wm1", "g01", "one")); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens() // 42001 on the next use
	if err := c.Send(ctx, message("wm1", "g01", "two")); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if fake.Fetches() != 2 || len(fake.Tasks()) != 2 {
		t.Errorf("fetches %d, tasks %d; want 2 and 2", fake.Fetches(), len(fake.Tasks()))
	}

	short := newFake(t)
	short.TokenTTL = 1 // renewed at half-life
	c2 := open(t, short, &wecom.Channel{})
	for i := range 3 {
		if err := c2.Send(ctx, message("wm1", "g01", "x")); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			time.Sleep(600 * time.Millisecond)
		}
	}
	if short.Fetches() != 3 {
		t.Errorf("%d fetches of a 1 s token over 1.2 s, want 3", short.Fetches())
	}
}

// WeCom's error codes become retry, wait out a rate limit, or give up.
func TestErrorCodes(t *testing.T) {
	fake := newFake(t)
	c := open(t, fake, &wecom.Channel{})
	ctx := context.Background()
	for _, tc := range []struct {
		code      int
		permanent bool
		throttled time.Duration
		says      string
	}{
		{-1, false, 0, "errcode -1"}, {99999, false, 0, "errcode 99999"},
		{45009, false, time.Hour, "errcode 45009"}, {45033, false, 10 * time.Second, "errcode 45033"},
		{40058, true, 0, "errcode 40058"}, {40063, true, 0, "errcode 40063"}, {41048, true, 0, "errcode 41048"},
		{60011, true, 0, "errcode 60011"}, {81013, true, 0, "errcode 81013"}, {40096, true, 0, "errcode 40096"},
		{84061, true, 0, "errcode 84061"}, {60111, true, 0, "errcode 60111"}, {48002, true, 0, "errcode 48002"},
		{40003, true, 0, "errcode 40003"}, {41001, true, 0, "bug in koi"},
	} {
		fake.InjectErrors("add_msg_template", tc.code)
		err := c.Send(ctx, message("wm1", "g01", "x"))
		if err == nil || actions.IsPermanent(err) != tc.permanent || actions.IsThrottled(err) != (tc.throttled > 0) ||
			(tc.throttled > 0 && actions.RetryDelay(err) != tc.throttled) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("errcode %d: %v (permanent %v, throttled %v after %v)", tc.code, err, actions.IsPermanent(err), actions.IsThrottled(err), actions.RetryDelay(err))
		}
	}
	// The fake's own refusals: a sender WeCom does not know (40003), a
	// customer the corp does not have (fail_list, and 41048 when it is
	// every customer), a customer without a WeCom id.
	bad := open(t, fake, &wecom.Channel{Sender: "nobody"})
	if err := bad.Send(ctx, message("wm1", "", "x")); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "40003") {
		t.Errorf("unknown sender: %v", err)
	}
	errs := c.SendBatch(ctx, []*actions.Message{message("wm1", "g01", "x"), message("wm-stranger", "g01", "x")})
	if errs[0] != nil || !actions.IsPermanent(errs[1]) || !strings.Contains(errs[1].Error(), "fail_list") {
		t.Errorf("fail_list: %v", errs)
	}
	if err := c.Send(ctx, message("wm-stranger", "g01", "x")); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "41048") {
		t.Errorf("nobody to send to: %v", err)
	}
	if err := c.Send(ctx, message("", "g01", "x")); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "no WeCom external user id") {
		t.Errorf("no wecom_id: %v", err)
	}
	// A wrong secret gives up and does not leak the secret.
	wrong := &wecom.Channel{BaseURL: fake.URL, CorpID: "ww1", SecretEnv: "S"}
	if err := wrong.Open(actions.OpenContext{Getenv: func(string) string { return "wrong-secret" }}); err != nil {
		t.Fatal(err)
	}
	err := wrong.Send(ctx, message("wm1", "", "x"))
	if !actions.IsPermanent(err) || !strings.Contains(err.Error(), "40001") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong secret: %v", err)
	}
	// An unreachable host is retried, and the error names no secret.
	fake.Close()
	err = c.Send(ctx, message("wm1", "", "x"))
	if err == nil || actions.IsPermanent(err) || strings.Contains(err.Error(), "token-") {
		t.Errorf("unreachable: %v", err)
	}
}

// tracked turns sent messages into what the dispatcher tracks.
func tracked(ms []*actions.Message, since time.Time) []*actions.Tracked {
	out := make([]*actions.Tracked, len(ms))
	for i, m := range ms {
		out[i] = &actions.Tracked{JobID: int64(i + 1), Receipt: m.Receipt, To: m.To, Since: since}
	}
	return out
}

func states(rs []actions.TrackResult) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.State)
		if r.Reminded {
			b.WriteString("+reminded")
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

// Tracking follows each customer's status: unsent until the guide
// confirms, then sent, or failed as not a friend or over the monthly
// limit; a guide who has not confirmed is reminded after remind_after,
// once per reminders.
func TestTrackFollowsTheSendResult(t *testing.T) {
	fake := newFake(t)
	fake.MonthlyLimit = 1
	remind, reminders := actions.Duration(time.Hour), 2
	c := open(t, fake, &wecom.Channel{RemindAfter: &remind, Reminders: &reminders})
	ctx := context.Background()
	// wm1 already had this month's message from g02.
	if err := c.Send(ctx, message("wm1", "g02", "earlier")); err != nil {
		t.Fatal(err)
	}
	fake.Confirm("g02")
	// wm9 is a customer of g02, not of wangxiao.
	fake.Members["g02"] = append(fake.Members["g02"], "wm9")
	ms := []*actions.Message{message("wmA", "g01", "hi"), message("wm1", "g01", "hi"), message("wm9", "g01", "hi"), message("wm2", "g01", "hi")}
	for _, err := range c.SendBatch(ctx, ms) {
		if err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	tr := tracked(ms, start)
	rs, err := c.Track(ctx, start.Add(30*time.Minute), tr)
	if err != nil || states(rs) != "task_created task_created task_created task_created" {
		t.Fatalf("before the delay: %s, %v", states(rs), err)
	}
	rs, err = c.Track(ctx, start.Add(61*time.Minute), tr)
	if err != nil || states(rs) != "task_created+reminded task_created+reminded task_created+reminded task_created+reminded" {
		t.Fatalf("after the delay: %s, %v", states(rs), err)
	}
	if task := fake.Tasks()[1]; len(task.Reminders) != 1 {
		t.Errorf("%d reminders, want 1", len(task.Reminders))
	}
	for _, m := range tr {
		m.Reminders, m.RemindedAt = 1, start.Add(61*time.Minute)
	}
	rs, _ = c.Track(ctx, start.Add(90*time.Minute), tr) // within an hour of the last reminder
	if strings.Contains(states(rs), "reminded") {
		t.Errorf("reminded again within remind_after: %s", states(rs))
	}
	fake.Confirm("wangxiao")
	rs, err = c.Track(ctx, start.Add(2*time.Hour), tr)
	if err != nil || states(rs) != "sent skipped_received_other not_friend sent" || rs[0].At.IsZero() {
		t.Fatalf("after the guide sent: %s %v, %v", states(rs), rs[0].At, err)
	}
}

// A cancelled message stops its task: that customer is unsent, the others
// still unsent are handed over again; a task left unconfirmed past
// expire_after is stopped and unsent; a task WeCom gave a member of its
// choosing is read through the task list.
func TestTrackCancelsAndExpires(t *testing.T) {
	fake := newFake(t)
	c := open(t, fake, &wecom.Channel{ExpireAfter: actions.Duration(24 * time.Hour)})
	ctx := context.Background()
	ms := []*actions.Message{message("wmA", "g01", "hi"), message("wm1", "g01", "hi"), message("wm2", "g01", "hi")}
	c.SendBatch(ctx, ms)
	now := time.Now()
	tr := tracked(ms, now)
	tr[1].Cancel = "consent: the customer opted out of wecom"
	rs, err := c.Track(ctx, now.Add(time.Minute), tr)
	if err != nil || states(rs) != "requeue unsent requeue" || !strings.Contains(rs[1].Note, "opted out") {
		t.Fatalf("cancelled: %s %+v, %v", states(rs), rs, err)
	}
	if !fake.Tasks()[0].Cancelled || fake.Confirm("wangxiao") != 0 {
		t.Errorf("the task was not stopped")
	}

	// Expired, with no sender: WeCom chose the member.
	m := message("wmC", "", "hi")
	if err := c.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	tr = tracked([]*actions.Message{m}, now)
	if rs, err := c.Track(ctx, now.Add(time.Hour), tr); err != nil || states(rs) != "task_created" {
		t.Fatalf("open: %s, %v", states(rs), err)
	}
	if fake.Calls("get_groupmsg_task") == 0 {
		t.Errorf("no task list read for a task without sender")
	}
	rs, err = c.Track(ctx, now.Add(25*time.Hour), tr)
	if err != nil || states(rs) != "unsent" || !strings.Contains(rs[0].Note, "did not send it within 1d") {
		t.Fatalf("expired: %s %+v, %v", states(rs), rs, err)
	}
	// A poll WeCom refuses leaves the messages as they were.
	m2 := message("wmD", "", "again")
	c.Send(ctx, m2)
	fake.InjectErrors("get_groupmsg_task", 45009)
	rs, err = c.Track(ctx, now.Add(time.Minute), tracked([]*actions.Message{m2}, now))
	if err == nil || states(rs) != "task_created" {
		t.Errorf("refused poll: %s, %v", states(rs), err)
	}
}

// The monthly limit is the month's days in Beijing time, unless set.
func TestCustomerLimit(t *testing.T) {
	c := &wecom.Channel{}
	// 2027-02-28 20:00 UTC is 1 March in Beijing.
	start, end, n := c.CustomerLimit(time.Date(2027, 2, 28, 20, 0, 0, 0, time.UTC))
	if n != 31 || start.Month() != time.March || end.Month() != time.April {
		t.Errorf("limit %d in [%v, %v)", n, start, end)
	}
	if _, _, n := c.CustomerLimit(time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC)); n != 28 {
		t.Errorf("February: %d", n)
	}
	c.MonthlyLimit = 4
	if _, _, n := c.CustomerLimit(time.Now()); n != 4 {
		t.Errorf("configured: %d", n)
	}
}

func TestOpenNamesTheBadKey(t *testing.T) {
	five, neg := 5, actions.Duration(-time.Hour)
	err := (&wecom.Channel{BaseURL: "ftp://x", Reminders: &five, RemindAfter: &neg, PollEvery: actions.Duration(time.Millisecond), MonthlyLimit: -1}).
		Open(actions.OpenContext{Getenv: func(string) string { return "" }})
	for _, f := range []string{"base_url", "corp_id", "secret_env", "reminders", "remind_after", "poll_every", "monthly_limit"} {
		var es actions.Errors
		found := false
		if errors.As(err, &es) {
			for _, e := range es {
				var fe *actions.FieldError
				if errors.As(e, &fe) && fe.Field == f {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no error on %s: %v", f, err)
		}
	}
}
