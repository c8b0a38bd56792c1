package wecom_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom"
)

// Corp tags are marked on the contact as the customer's guide (or the
// channel's sender), unmarked likewise; a stale token is renewed once; a
// rate limit is a throttle; an unknown tag, a customer who is not the
// member's contact or has no wecom_id, or no member to act as, is a
// permanent failure.
func TestMarkTags(t *testing.T) {
	fake := newFake(t)
	fake.CorpTags = []string{"etVIP", "etLapsed", "etNew"}
	c := open(t, fake, &wecom.Channel{Sender: "store01", Tags: map[string]string{"vip": "etVIP", "lapsed": "etLapsed"}})
	ctx := context.Background()
	if m := c.TagMap(); m["vip"] != "etVIP" || len(m) != 2 {
		t.Fatalf("tag map %v", m)
	}
	li := actions.Contact{CustomerID: "c1", WeComID: "wmA", Guide: "g01"}
	if err := c.MarkTags(ctx, li, []string{"etVIP", "etLapsed"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkTags(ctx, li, nil, []string{"etLapsed"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Marked("wangxiao", "wmA"); !slices.Equal(got, []string{"etVIP"}) {
		t.Errorf("marked on wangxiao's wmA: %v, want etVIP", got)
	}
	// No guide: the channel's sender.
	if err := c.MarkTags(ctx, actions.Contact{CustomerID: "c3", WeComID: "wmC"}, []string{"etNew"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fake.Marked("store01", "wmC"); !slices.Equal(got, []string{"etNew"}) {
		t.Errorf("marked on store01's wmC: %v", got)
	}
	fake.ExpireTokens()
	if err := c.MarkTags(ctx, li, []string{"etLapsed"}, nil); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	fake.InjectErrors("mark_tag", 45033)
	if err := c.MarkTags(ctx, li, []string{"etNew"}, nil); !actions.IsThrottled(err) {
		t.Errorf("a concurrency limit: %v, want throttled", err)
	}
	for _, tc := range []struct {
		name string
		to   actions.Contact
		add  []string
		want string
	}{
		{"unknown tag", li, []string{"etNope"}, "errcode 40068"},
		{"not the member's contact", actions.Contact{CustomerID: "c9", WeComID: "wmZ", Guide: "g01"}, []string{"etVIP"}, "errcode 84061"},
		{"no wecom_id", actions.Contact{CustomerID: "c9", Guide: "g01"}, []string{"etVIP"}, "has no wecom_id"},
	} {
		err := c.MarkTags(ctx, tc.to, tc.add, nil)
		if !actions.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a permanent failure naming %q", tc.name, err, tc.want)
		}
	}
	noSender := open(t, fake, &wecom.Channel{Tags: map[string]string{"vip": "etVIP"}})
	if err := noSender.MarkTags(ctx, actions.Contact{CustomerID: "c3", WeComID: "wmC"}, []string{"etVIP"}, nil); !actions.IsPermanent(err) || !strings.Contains(err.Error(), "no member to tag") {
		t.Errorf("no guide and no sender: %v", err)
	}
}

// A tag map with a blank id, or one corp tag for two koi tags, does not
// open, naming the key.
func TestTagMapIsChecked(t *testing.T) {
	fake := newFake(t)
	for tags, want := range map[*map[string]string]string{
		{"vip": ""}:                   "tags.vip",
		{"vip": "etA", "gold": "etA"}: "tags.vip",
		{" ": "etA"}:                  "a koi tag must not be blank",
	} {
		c := &wecom.Channel{BaseURL: fake.URL, CorpID: "ww1", SecretEnv: "S", Tags: *tags}
		err := c.Open(actions.OpenContext{Getenv: func(string) string { return "s3cret" }})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tags %v: %v, want an error naming %s", *tags, err, want)
		}
	}
}
