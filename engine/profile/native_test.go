package profile_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// nativeCorpus covers every construct the native compiler handles, and a
// few it leaves to the VM, with operands that are nil, missing, mistyped
// or zero on some of the generated customers.
var nativeCorpus = []string{
	`member`, `!member`, `member == true`, `member != false`, `not member`,
	`recency_days > 45`, `recency_days <= 30`, `!(recency_days > 45)`, `45 < recency_days`,
	`recency_days == 30`, `recency_days != 30`, `recency_days == nil`, `recency_days != nil`, `nil == recency_days`,
	`recency_days > 44.5`, `44.5 >= recency_days`, `recency_days + 1 > 46`, `recency_days * 2 >= 90`, `recency_days - orders < 10`,
	`recency_days > coupon_expiring_days`, `recency_days == 30.0`, `recency_days in [1, 2, 30]`,
	`coupon_expiring_days <= 3`, `coupon_expiring_issued_days >= 1 && coupon_expiring_days <= 2`, `birthday_in_days == 0`, `birthday_in_days < 7 && member`,
	`attrs.city == "上海"`, `attrs.city != "北京"`, `attrs["city"] == "上海"`, `attrs.children >= 1`, `attrs.children > 1.5`,
	`attrs.children == 2`, `attrs.missing == nil`, `attrs.missing != nil`, `attrs.children + 1 > 2`, `attrs.city > 5`,
	`attrs.children < recency_days`, `attrs.vip == true`, `attrs.city == attrs.town`, `attrs?.city == "上海"`,
	`tier in ["gold", "vip"]`, `tier not in ["gold"]`, `orders in [0, 1]`, `spend in [100, 200]`, `"vip-care" in tags`, `"x" not in tags`,
	`has_tag("vip-care")`, `!has_tag("recall") && orders > 0`, `count("visit", "7d") >= 3`, `count("order", "90d") == orders_90d`,
	`count("visit", "30d") + count("share", "30d") > 2`, `has_tag(tier)`, `count("gold", "400d") > 0`,
	`spend / orders > 100`, `orders % 2 == 0`, `orders % (orders_30d) == 0`, `spend ** 2 > 1e6`, `aov - 10 < spend_30d`, `-orders < 0`, `+orders >= 0`,
	`spend_90d * 2 == spend_365d`, `orders_30d + orders_90d > 3`, `orders / 2 > 1`,
	`rfm.segment == "important_value" && rfm.r >= 4 || rfm.m == 5`, `rfm.segment == ""`, `rfm.f > rfm.m`, `rfm.r + rfm.f + rfm.m >= 12`,
	`lifecycle startsWith "re"`, `name contains "王"`, `id endsWith "7"`, `lifecycle in ["koc", "repeat"] and shares_90d >= 1`,
	`joined_days > 30 and orders == 0`, `tier > "gold"`, `tier + "x" == "goldx"`, `len(tags) > 1`, `guide == "" || guide == "g01"`,
	`referrals >= 1 ? orders > 1 : orders > 2`, `now.Year() == 2026`,
	// Comparisons with a literal, on either side, compiled to one closure.
	`1 <= orders_30d`, `3 > orders`, `orders >= 2 && orders < 5`, `orders_90d == 1`, `1 == orders_90d`, `orders != 0`,
	`spend_30d >= 200`, `200 <= spend_30d`, `spend > 199.5`, `spend_365d < 1900`, `spend == 0`, `0 == spend`, `aov == 150.5`,
	`orders > 1.5`, `1.5 < orders`, `orders == 2.0`, `2.0 == orders`, `spend_90d != 0.0`,
	`recency_days >= 150 && recency_days < 160`, `150 <= recency_days`, `recency_days < 30.5`, `30.5 > recency_days`,
	`recency_days == 30.0`, `30 == recency_days`, `30.0 == recency_days`, `recency_days != 31`,
	`tier == "gold"`, `"gold" == tier`, `tier != "normal"`, `tier < "normal"`, `"gold" <= tier`, `rfm.segment == "important_value"`,
	`"important_retain" == rfm.segment`, `rfm.r == 5 && rfm.m >= 4`, `5 > rfm.f`, `lifecycle == "member" && joined_days <= 7`,
	`count("visit", "30d") >= 5`, `2 <= count("share", "90d")`, `count("visit", "30d") <= 2`, `count("visit", "7d") < 1`, `count("visit", "30d") > 2`,
	`orders <= 2.5`, `orders < 2.5`, `orders >= 1.5`, `2 >= orders_90d`, `count("order", "90d") == 1`, `len(tags) == 0`, `-orders < -1`,
}

func TestNativeMatchesVM(t *testing.T) {
	pond := randomPond(400, 7)
	snap := profile.ComputeSnapshot(pond, now, profile.ProfileConfig{})
	var m rules.Evaluator
	native := 0
	for _, src := range nativeCorpus {
		c, err := rules.CompileExpr(src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if c.Native() {
			native++
		}
		trues := 0
		for i := range snap.Len() {
			p := snap.Profile(i)
			got, gotErr := c.Eval(&m, p)
			want, wantErr := c.EvalVM(&m, p)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s on %s (native %v): got %v, %v; the VM says %v, %v", src, p.ID, c.Native(), got, gotErr, want, wantErr)
			}
			// As an evaluation fills it: without the attrs map when the
			// condition does not need it.
			q := snap.Fill(i, &profile.ProfileBuf{WithoutAttrs: !c.NeedsMap("attrs")})
			if got, gotErr := c.Eval(&m, q); got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s on %s, attrs map filled %v: got %v, %v; the VM says %v, %v", src, p.ID, c.NeedsMap("attrs"), got, gotErr, want, wantErr)
			}
			if got {
				trues++
			}
		}
		t.Logf("%-70s native=%-5v true for %d of %d", src, c.Native(), trues, snap.Len())
	}
	// The point of the exercise: the common constructs do run natively.
	if native < len(nativeCorpus)*3/4 {
		t.Errorf("only %d of %d corpus conditions compiled natively", native, len(nativeCorpus))
	}
}

// EvalEach, one guard for many conditions, answers what each condition's
// own Eval answers, when a condition among them fails (a native closure
// panics and the VM gives the error), runs only on the VM, or is nil.
func TestEvalEachMatchesEval(t *testing.T) {
	snap := profile.ComputeSnapshot(randomPond(300, 5), now, profile.ProfileConfig{})
	conds := []*rules.Condition{nil}
	for _, src := range nativeCorpus {
		c, err := rules.CompileExpr(src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		conds = append(conds, c)
	}
	var m rules.Evaluator
	ok, errs := make([]bool, len(conds)), make([]error, len(conds))
	failed := 0
	for i := range snap.Len() {
		p := snap.Profile(i)
		// A window of the corpus at a time, so that some windows fail
		// and others do not.
		for lo := 0; lo < len(conds); lo += 7 {
			window := conds[lo:min(lo+7, len(conds))]
			rules.EvalEach(&m, window, p, ok, errs)
			for k, c := range window {
				want, wantErr, src := true, error(nil), "nil"
				if c != nil {
					want, wantErr = c.Eval(&m, p)
					src = c.Source
				}
				if ok[k] != want || fmt.Sprint(errs[k]) != fmt.Sprint(wantErr) {
					t.Fatalf("%s on %s: EvalEach says %v, %v; Eval %v, %v", src, p.ID, ok[k], errs[k], want, wantErr)
				}
				if wantErr != nil {
					failed++
				}
			}
		}
	}
	if failed == 0 {
		t.Fatal("no condition failed: the guard went untested")
	}
}

// Conditions that read attrs key by key (attrs.city, attrs["city"]) run
// natively without the map, so an evaluation makes none per customer;
// those that read the map whole, or run on the VM, need it.
func TestAttrsKeyByKeyNeedNoMap(t *testing.T) {
	for src, want := range map[string]bool{
		`attrs.city == "上海"`:                          false,
		`attrs["city"] == "上海" && attrs.children > 1`: false,
		`member`:          false,
		`"city" in attrs`: true,
		`len(attrs) > 0`:  true,
		`attrs.city == "上海" && len(attrs) > 1`: true,
		`attrs?.city == "上海"`:                  true,
		`any(tags, # == attrs.city)`:           true,
	} {
		c, err := rules.CompileExpr(src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := c.NeedsMap("attrs"); got != want {
			t.Errorf("%s: NeedsMap(attrs) = %v, want %v (native %v)", src, got, want, c.Native())
		}
	}
}

// FuzzNativeMatchesVM is the differential test as a fuzz target: any
// expression that compiles to native closures must agree with expr's VM,
// result and error, on customers whose fields hit the edges. The corpus
// above seeds it; `go test -fuzz FuzzNativeMatchesVM ./engine/profile`
// searches further.
func FuzzNativeMatchesVM(f *testing.F) {
	for _, src := range nativeCorpus {
		f.Add(src)
	}
	snap := profile.ComputeSnapshot(randomPond(200, 11), now, profile.ProfileConfig{})
	env := profile.ExprEnv()
	f.Fuzz(func(t *testing.T, src string) {
		c, err := rules.CompileExpr(src, env)
		if err != nil || !c.Native() {
			return // nothing native to compare
		}
		var m rules.Evaluator
		for i := range snap.Len() {
			p := snap.Profile(i)
			got, gotErr := c.Eval(&m, p)
			want, wantErr := c.EvalVM(&m, p)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s on %s: native %v, %v; the VM says %v, %v", src, p.ID, got, gotErr, want, wantErr)
			}
		}
	})
}

// TestNativeCoversPlaybookConditions pins that every condition of the
// shipped examples runs natively, so a change that silently sends them
// back to the VM (and makes runs ten times slower) fails here.
func TestNativeCoversExampleConditions(t *testing.T) {
	pbs, err := rules.LoadPaths([]string{"../../examples/playbooks"}, rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Tiers: []string{"normal", "silver", "gold", "vip"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, pb := range pbs {
		if pb.Audience != nil && !pb.Audience.Native() {
			t.Errorf("%s: audience %q runs on the VM", pb.Name, pb.Audience.Source)
		}
		for _, r := range pb.Rules {
			if !r.When.Native() {
				t.Errorf("%s/%s: %q runs on the VM", pb.Name, r.ID, r.When.Source)
			}
		}
	}
}

// randomPond makes customers whose fields hit the edges: never ordered,
// fully refunded, attrs missing or of the wrong type.
func randomPond(n int, seed uint64) *profile.Pond {
	r := rand.New(rand.NewPCG(seed, 1))
	p := profile.NewPond()
	tiers := []string{"normal", "silver", "gold", "vip"}
	tagPool := []string{"vip-care", "recall", "gold", "母婴"}
	cities := []any{"上海", "北京", 3.0, nil, true}
	ev := 0
	for i := 0; i < n; i++ {
		c := domain.Customer{
			ID: fmt.Sprintf("c%d", i), Name: []string{"王伟", "李娜", ""}[r.IntN(3)],
			Tier: tiers[r.IntN(len(tiers))], Member: r.IntN(2) == 0,
			JoinedAt: now.Add(-time.Duration(r.IntN(800)) * day), Guide: []string{"", "g01", "g02"}[r.IntN(3)],
		}
		if r.IntN(4) > 0 {
			c.Attrs = map[string]any{}
			if v := cities[r.IntN(len(cities))]; v != nil {
				c.Attrs["city"] = v
			}
			if r.IntN(3) > 0 {
				c.Attrs["children"] = []any{0.0, 1.0, 2.0, "two", 2.5}[r.IntN(5)]
			}
			if r.IntN(3) == 0 {
				c.Attrs["vip"] = r.IntN(2) == 0
			}
			if r.IntN(3) == 0 {
				c.Attrs["town"] = c.Attrs["city"]
			}
		}
		if r.IntN(3) == 0 {
			c.Birthday = fmt.Sprintf("%02d-%02d", 1+r.IntN(12), 1+r.IntN(28))
		}
		for _, tg := range tagPool {
			if r.IntN(3) == 0 {
				c.Tags = append(c.Tags, tg)
			}
		}
		idx := p.PutCustomer(c)
		if r.IntN(4) == 0 {
			issued := now.Add(-time.Duration(r.IntN(20)) * day)
			p.AddCoupon(idx, domain.IssuedCoupon{Code: fmt.Sprintf("K%d", i), IssuedAt: issued, ExpiresAt: issued.Add(time.Duration(1+r.IntN(30)) * day)})
		}
		for k := r.IntN(8); k > 0; k-- {
			ev++
			e := domain.Event{ID: fmt.Sprintf("e%d", ev), CustomerID: c.ID, At: now.Add(-time.Duration(r.IntN(400*24)) * time.Hour)}
			switch r.IntN(5) {
			case 0, 1:
				e.Type, e.AmountFen, e.OrderID = domain.EventOrder, int64(1+r.IntN(50000)), fmt.Sprintf("o%d", ev)
			case 2:
				e.Type, e.AmountFen, e.OrderID = domain.EventRefund, int64(r.IntN(50000)), fmt.Sprintf("o%d", ev-1)
			case 3:
				e.Type = domain.EventShare
			default:
				e.Type = []string{"visit", "referral", "gold"}[r.IntN(3)]
				if e.Type == "visit" {
					e.At = now.Add(-time.Duration(r.IntN(10*24)) * time.Hour)
				}
			}
			p.AddEvent(e)
		}
	}
	return p
}
