package dispatch_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

const tagVIP = `name: a-vip
limits: { max_fires: 100% }
rules:
  - id: vip
    when: member
    once: true
    actions: [{ tag: { add: [vip, heavy] } }]
`

const dropVIP = `name: b-drop
limits: { max_fires: 100% }
rules:
  - id: drop
    when: id == "c00" && "vip" in tags
    once: true
    actions: [{ tag: { remove: [vip] } }]
`

// DESIGN §11's tag sync: koi tags mapped to WeCom corp tags are marked on
// the contact, as the guide's member, through the outbox, in the fire's
// transaction; a tag removed later is unmarked; unmapped tags stay in koi;
// a customer who opted out of WeCom is not tagged there (consent).
func TestTagSyncMarksCorpTags(t *testing.T) {
	ctx := context.Background()
	p := newWeComPond(t, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}}, tagVIP)
	p.fake.CorpTags = []string{"etVIP"}
	if _, err := p.e.SetOptOut(ctx, "c02", "wecom", true); err != nil {
		t.Fatal(err)
	}
	if runs, err := p.e.Run(ctx, engine.RunRequest{At: t0}); err != nil || runs[0].Fired != 30 {
		t.Fatalf("run: %v %+v", err, runs)
	}
	jobs := p.jobs(t)
	if len(jobs) != 30 {
		t.Fatalf("%d jobs, want a tag sync for each of the 30", len(jobs))
	}
	for _, j := range jobs {
		var pl actions.TagSyncPayload
		if err := json.Unmarshal(j.Payload, &pl); err != nil || j.Kind != actions.TagSyncKind || j.Channel != "wecom" ||
			!slices.Equal(pl.Add, []string{"etVIP"}) || len(pl.Remove) != 0 {
			t.Fatalf("job %+v (%s): want tag_sync adding etVIP", j, j.Payload)
		}
	}
	d := p.dispatcher()
	p.drain(t, d)
	if got := p.byState(t); got[domain.JobDone] != 29 || got[domain.JobSkipped] != 1 {
		t.Fatalf("jobs after delivery: %v, want 29 done and c02's skipped", got)
	}
	if got := p.fake.Marked("wangxiao", "wm00"); !slices.Equal(got, []string{"etVIP"}) {
		t.Errorf("wm00 marked %v by wangxiao", got)
	}
	if got := p.fake.Marked("lihua", "wm01"); !slices.Equal(got, []string{"etVIP"}) {
		t.Errorf("wm01 marked %v by lihua", got)
	}
	if got := p.fake.Marked("wangxiao", "wm02"); len(got) != 0 {
		t.Errorf("c02 opted out of WeCom, yet marked %v", got)
	}
	// A later fire removes vip from c00: the corp tag is unmarked.
	p.writePlaybook(t, "p1.yaml", dropVIP)
	if err := p.e.Load(p.dir); err != nil {
		t.Fatal(err)
	}
	p.at(time.Hour)
	if _, err := p.e.Run(ctx, engine.RunRequest{At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p.drain(t, d)
	if got := p.fake.Marked("wangxiao", "wm00"); len(got) != 0 {
		t.Errorf("after vip was removed, wm00 is still marked %v", got)
	}
	if got := p.byState(t); got[domain.JobDone] != 30 {
		t.Errorf("jobs: %v, want the unmark done too", got)
	}
	// Tags a record brings sync too: c04's record drops vip and adds
	// lapsed, its stored tags before and after the record compared.
	p.fake.CorpTags = append(p.fake.CorpTags, "etLapsed")
	res, err := p.e.StoreCustomers(ctx, []domain.Customer{{ID: "c04", WeComID: "wm04", Guide: "g01", Member: true, Tags: []string{"heavy", "lapsed"}}}, t0.Add(2*time.Hour), "api")
	if err != nil || res.Jobs != 1 {
		t.Fatalf("record: %+v %v; want one tag sync job (vip's removal; lapsed is not mapped)", res, err)
	}
	p.at(2 * time.Hour)
	p.drain(t, d)
	if got := p.fake.Marked("wangxiao", "wm04"); len(got) != 0 {
		t.Errorf("after a record without vip, wm04 is marked %v", got)
	}
}
