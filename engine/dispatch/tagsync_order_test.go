package dispatch_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

const tagC00 = `name: a-vip
limits: { max_fires: 100% }
rules:
  - id: vip
    when: id == "c00"
    once: true
    actions: [{ tag: { add: [vip] } }]
`

// A tag added then removed: WeCom must end without the tag, even when the
// add's delivery failed once and was retried after the removal went.
func TestTagSyncAddRetriedAfterRemove(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}}, tagC00)
	p.fake.CorpTags = []string{"etVIP"}
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
		t.Fatal(err)
	}
	d := p.dispatcher()
	p.fake.InjectErrors("mark_tag", -1) // 系统繁忙: retried later
	p.drain(t, d)
	p.writePlaybook(t, "p1.yaml", dropVIP)
	if err := p.e.Load(p.dir); err != nil {
		t.Fatal(err)
	}
	p.at(time.Second)
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	p.drain(t, d) // the removal is due, the add's retry is not
	p.at(2 * time.Hour)
	p.drain(t, d) // the add's retry
	c, _ := p.e.Customer(ctx, "c00")
	got := p.fake.Marked("wangxiao", "wm00")
	t.Logf("koi tags %v; WeCom marks %v", c.Tags, got)
	for _, j := range p.jobs(t) {
		t.Logf("job %d %s %s %s attempts=%d", j.ID, j.Key, j.Payload, j.State, j.Attempts)
	}
	if slices.Contains(got, "etVIP") && !slices.Contains(c.Tags, "vip") {
		t.Errorf("koi removed vip from c00, yet WeCom ends with etVIP marked (the add's retry went after the removal)")
	}
}

// A record dropping vip from a customer it also merges into an older one
// (who takes over their wecom_id): the person has no vip any more, so the
// contact must be unmarked.
func TestTagSyncRecordDropsTagThenMerges(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}}, tagC00)
	p.fake.CorpTags = []string{"etVIP"}
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
		t.Fatal(err)
	}
	d := p.dispatcher()
	p.drain(t, d)
	if got := p.fake.Marked("wangxiao", "wm00"); !slices.Equal(got, []string{"etVIP"}) {
		t.Fatalf("setup: %v", got)
	}
	u := domain.Identity{Kind: "unionid", Value: "oU-s"}
	if _, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "s", JoinedAt: t0.Add(-10 * 24 * time.Hour), Identities: []domain.Identity{u}}}, t0, "api"); err != nil {
		t.Fatal(err)
	}
	res, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "c00", WeComID: "wm00", Guide: "g01", Member: true, Identities: []domain.Identity{u}}}, t0.Add(time.Minute), "api")
	if err != nil {
		t.Fatal(err)
	}
	p.at(time.Hour)
	p.drain(t, d)
	c, _ := p.e.Customer(ctx, "c00")
	got := p.fake.Marked("wangxiao", "wm00")
	t.Logf("merges %d jobs %d; %s: tags %v wecom_id %s; WeCom marks %v", len(res.Merges), res.Jobs, c.ID, c.Tags, c.WeComID, got)
	if !slices.Contains(c.Tags, "vip") && slices.Contains(got, "etVIP") {
		t.Errorf("the record dropped vip and merged c00 into %s (wecom_id %s, no vip), yet wm00 stays marked etVIP; no tag_sync job", c.ID, c.WeComID)
	}
}

// A merge made by LinkIdentities (the WeCom callback's path) unions tags
// like any merge: the survivor's new vip is marked on its contact.
func TestTagSyncMergeByLink(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}})
	p.fake.CorpTags = []string{"etVIP"}
	u := domain.Identity{Kind: "unionid", Value: "oU-y"}
	// y (younger, vip, no wecom contact) has unionid u; c00 (older) links u.
	if _, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "y", Tags: []string{"vip"}, JoinedAt: t0, Identities: []domain.Identity{u}}}, t0, "api"); err != nil {
		t.Fatal(err)
	}
	d := p.dispatcher()
	p.drain(t, d) // y's job: dead, y has no wecom_id
	before := len(p.jobs(t))
	id, err := p.e.LinkIdentities(ctx, "c00", []domain.Identity{u}, t0.Add(time.Minute), "wecom callback")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := p.e.Customer(ctx, id)
	p.at(time.Hour)
	p.drain(t, d)
	got := p.fake.Marked("wangxiao", "wm00")
	t.Logf("survivor %s tags %v wecom %s; jobs before %d after %d; marks %v", c.ID, c.Tags, c.WeComID, before, len(p.jobs(t)), got)
	if c.ID == "c00" && slices.Contains(c.Tags, "vip") && !slices.Contains(got, "etVIP") {
		t.Errorf("the merge gave c00 vip; its contact wm00 is not marked (no tag_sync job from LinkIdentities)")
	}
}

// Two fires of one run: one adds vip, the next removes it. Their jobs are
// due together and delivered by concurrent workers.
func TestTagSyncAddRemoveSameRun(t *testing.T) {
	ctx := context.Background()
	bad := 0
	for i := 0; i < 20; i++ {
		p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}}, tagC00, dropVIP)
		p.fake.CorpTags = []string{"etVIP"}
		if _, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
			t.Fatal(err)
		}
		p.drain(t, p.dispatcher())
		c, _ := p.e.Customer(ctx, "c00")
		if got := p.fake.Marked("wangxiao", "wm00"); slices.Contains(got, "etVIP") && !slices.Contains(c.Tags, "vip") {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of 20: koi ends without vip, WeCom with etVIP marked", bad)
	}
}

// A survivor with vip but no WeCom contact merges one who has a contact:
// the contact, now the person's, is marked vip.
func TestTagSyncMergeGivesContact(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}})
	p.fake.CorpTags = []string{"etVIP"}
	u := domain.Identity{Kind: "unionid", Value: "oU-s"}
	if _, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "s", Tags: []string{"vip"}, JoinedAt: t0.Add(-10 * 24 * time.Hour), Identities: []domain.Identity{u}}}, t0, "api"); err != nil {
		t.Fatal(err)
	}
	d := p.dispatcher()
	p.drain(t, d) // s's add: dead, no wecom_id
	if _, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "c00", WeComID: "wm00", Guide: "g01", Identities: []domain.Identity{u}}}, t0.Add(time.Minute), "api"); err != nil {
		t.Fatal(err)
	}
	p.at(time.Hour)
	p.drain(t, d)
	c, _ := p.e.Customer(ctx, "c00")
	got := p.fake.Marked("wangxiao", "wm00")
	t.Logf("%s tags %v wecom %s; marks %v", c.ID, c.Tags, c.WeComID, got)
	if slices.Contains(c.Tags, "vip") && c.WeComID == "wm00" && !slices.Contains(got, "etVIP") {
		t.Errorf("the merged person has vip and contact wm00, which is never marked")
	}
}
