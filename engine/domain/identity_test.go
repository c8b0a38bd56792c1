package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// One person, one identity: the ways a phone or an email is written
// normalise to one value; what is not an identity is refused, naming the
// field.
func TestNormalizeIdentity(t *testing.T) {
	for _, c := range []struct {
		in   Identity
		want string // the value; "" for an error
		msg  string // a part of the error
	}{
		{Identity{Kind: "phone", Value: "13800138000"}, "+8613800138000", ""},
		{Identity{Kind: "phone", Value: " +86 138 0013 8000 "}, "+8613800138000", ""},
		{Identity{Kind: "phone", Value: "0086-138-0013-8000"}, "+8613800138000", ""},
		{Identity{Kind: "phone", Value: "+852 5123 4567"}, "+85251234567", ""},
		{Identity{Kind: "phone", Value: "12345"}, "", "is not a phone number"},
		{Identity{Kind: "phone", Value: "abc"}, "", "is not a phone number"},
		{Identity{Kind: "email", Value: "Li.Lei@Example.COM"}, "li.lei@example.com", ""},
		{Identity{Kind: "email", Value: "李雷 <li@example.com>"}, "", "not an address"},
		{Identity{Kind: "unionid", Value: " oUnion123 "}, "oUnion123", ""},
		{Identity{Kind: "openid", App: "wx123", Value: "oOpen1"}, "oOpen1", ""},
		{Identity{Kind: "openid", Value: "oOpen1"}, "", "app names the WeChat app"},
		{Identity{Kind: "member_no", App: "wx123", Value: "M1"}, "", "app is only for an openid"},
		{Identity{Kind: "qq", Value: "1"}, "", `kind "qq"`},
		{Identity{Kind: "member_no", Value: "  "}, "", "empty"},
		{Identity{Kind: "member_no", Value: strings.Repeat("9", 129)}, "", "at most 128"},
		{Identity{Kind: "member_no", Value: "M\x001"}, "", "control characters"},
	} {
		got, err := NormalizeIdentity(c.in, "identities[0]")
		if c.want == "" {
			var e *Error
			if !errors.As(err, &e) || e.Field != "identities[0]" || !strings.Contains(e.Message, c.msg) {
				t.Errorf("%+v: %v; want an error on identities[0] saying %q", c.in, err, c.msg)
			}
			continue
		}
		if err != nil || got.Value != c.want {
			t.Errorf("%+v: %+v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// An openid's key carries its app: the same openid in two apps is two
// identities; keys map back.
func TestIdentityKeys(t *testing.T) {
	a := Identity{Kind: "openid", App: "wxA", Value: "o1"}
	b := Identity{Kind: "openid", App: "wxB", Value: "o1"}
	ka, va := a.Key()
	kb, vb := b.Key()
	if ka == kb && va == vb {
		t.Error("one openid in two apps has one key")
	}
	if IdentityOfKey(ka, va) != a || IdentityOfKey("phone", "+8613800138000") != (Identity{Kind: "phone", Value: "+8613800138000"}) {
		t.Error("IdentityOfKey is not Key's inverse")
	}
}

// An event keyed by identity is checked like one keyed by id: its moment,
// amount and type too.
func TestEventByIdentityIsCheckedWhole(t *testing.T) {
	id := &Identity{Kind: "phone", Value: "13800138000"}
	ok := Event{ID: "e1", Identity: id, Type: "order", At: time.Now().Add(-time.Hour), AmountFen: 100}
	if err := ValidateEvent(&ok); err != nil || ok.Identity.Value != "+8613800138000" {
		t.Fatalf("a good event by identity: %v (%+v)", err, ok.Identity)
	}
	for name, ev := range map[string]Event{
		"a moment years ahead":  {ID: "e2", Identity: id, Type: "order", At: time.Now().AddDate(70, 0, 0)},
		"before 1990":           {ID: "e3", Identity: id, Type: "order", At: time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)},
		"a negative amount":     {ID: "e4", Identity: id, Type: "custom", At: time.Now(), AmountFen: -500},
		"no type":               {ID: "e5", Identity: id, At: time.Now()},
		"an id and an identity": {ID: "e6", CustomerID: "c1", Identity: id, Type: "order", At: time.Now()},
	} {
		if err := ValidateEvent(&ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
