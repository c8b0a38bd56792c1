// Package demo generates a deterministic synthetic pond: members, tiers,
// tags and two years of orders, refunds, shares, referrals and visits. koi
// demo, koi bench and the Go benchmarks all draw from it.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// Generator generates a deterministic synthetic pond: the same seed, size
// and anchor always give the same customers and events. Each customer draws
// from its own generator seeded by (Seed, index), so any slice of the pond
// can be generated independently, in parallel, with identical results.
type Generator struct {
	Seed uint64
	// Anchor is the pond's present: histories end here. It is truncated to
	// the day.
	Anchor time.Time
	// UniqueAttrs gives every customer an attrs value of its own
	// (attrs.member_no), as real ponds carry store, campaign and channel
	// ids: what a pond's memory must hold. The rest of the pond is the
	// same with or without it.
	UniqueAttrs bool
	// Identities gives customers the names other systems know them by
	// (DESIGN §11): a phone (unique, also their contact phone), a unionid
	// for half of them, a mini-program openid for a third, a member
	// number for members. koi demo sets it; the bench's pond is the same
	// without.
	Identities bool
}

// MiniProgramApp is the demo mini-program's app id: its openids are
// identities of this app.
const MiniProgramApp = "wxdemominiapp0001"

var (
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "林"}
	demoGiven    = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平", "婷"}
	demoCities   = []string{"上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "武汉"}
	demoJobs     = []string{"白领", "教师", "医生", "学生", "自由职业", "工程师", "宝妈"}
	demoTags     = []string{"小程序", "直播间", "门店", "母婴", "美妆", "学生党", "价格敏感"}
	demoCustom   = []string{"visit", "live_view", "message_reply"}
)

// Customer returns customer i and its events, sorted by time.
func (d Generator) Customer(i int) (domain.Customer, []domain.Event) {
	d.Anchor = d.Anchor.Truncate(24 * time.Hour)
	r := rand.New(rand.NewPCG(d.Seed, uint64(i)+1))
	day := 24 * time.Hour
	id := fmt.Sprintf("c%07d", i)
	c := domain.Customer{
		ID:       id,
		Name:     demoSurnames[r.IntN(len(demoSurnames))] + demoGiven[r.IntN(len(demoGiven))],
		Phone:    fmt.Sprintf("13%d%08d", r.IntN(10), r.IntN(100000000)),
		JoinedAt: d.Anchor.Add(-time.Duration(r.IntN(3*365*24)) * time.Hour),
		Member:   r.Float64() < 0.65,
		Attrs: map[string]any{
			"city":       demoCities[r.IntN(len(demoCities))],
			"occupation": demoJobs[r.IntN(len(demoJobs))],
			"children":   r.IntN(3),
		},
	}
	if d.UniqueAttrs {
		c.Attrs["member_no"] = fmt.Sprintf("M%08d", i)
	}
	if r.Float64() < 0.6 {
		c.WeComID = fmt.Sprintf("wm%012x", r.Uint64()&0xffffffffffff)
	}
	if d.Identities {
		d.identify(&c, i)
	}
	if r.Float64() < 0.7 {
		born := time.Date(1970+r.IntN(36), 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
		c.Birthday = born.Format("2006-01-02")
	}
	if r.Float64() < 0.3 {
		c.Guide = fmt.Sprintf("g%02d", 1+r.IntN(20))
	}
	for _, t := range demoTags {
		if r.Float64() < 0.15 {
			c.Tags = append(c.Tags, t)
		}
	}
	// Activity starts when the customer joined, at most two years back.
	start := c.JoinedAt
	if floor := d.Anchor.Add(-730 * day); start.Before(floor) {
		start = floor
	}
	span := d.Anchor.Sub(start)
	at := func(from time.Time, within time.Duration) time.Time {
		if within <= 0 {
			return from
		}
		return from.Add(time.Duration(r.Int64N(int64(within)))).Truncate(time.Second)
	}
	var evs []domain.Event
	next := func(typ string, t time.Time) *domain.Event {
		evs = append(evs, domain.Event{ID: fmt.Sprintf("e%07d-%03d", i, len(evs)), CustomerID: id, Type: typ, At: t})
		return &evs[len(evs)-1]
	}
	// 30% never buy; buyers follow a long tail, and a third of them lapse
	// (their orders stop well before the anchor) so recall rules have work.
	var spend int64
	if r.Float64() >= 0.3 {
		n := 1 + int(math.Floor(r.ExpFloat64()*2.5))
		// A few big spenders (大客户) buy often and big, so VIP rules have work.
		median := 5.3
		if r.Float64() < 0.03 {
			n += 6
			median = 7.0
		}
		orderSpan := span
		if r.Float64() < 0.33 {
			orderSpan = span * 2 / 3
		}
		for k := 0; k < n; k++ {
			amount := int64(math.Round(math.Exp(r.NormFloat64()*0.7+median))) * 100 // ~200 yuan median
			o := next(domain.EventOrder, at(start, orderSpan))
			o.AmountFen, o.OrderID = amount, fmt.Sprintf("o%07d-%02d", i, k)
			spend += amount
			if r.Float64() < 0.06 {
				refund := amount
				if r.Float64() < 0.5 {
					refund = amount / 2
				}
				rf := next(domain.EventRefund, o.At.Add(time.Duration(1+r.IntN(7))*day))
				rf.AmountFen, rf.OrderID = refund, o.OrderID
				spend -= refund
			}
		}
		if r.Float64() < 0.08 {
			for k := 1 + r.IntN(3); k > 0; k-- {
				next(domain.EventReferral, at(start, span))
			}
		}
	}
	for k := r.IntN(4); k > 0; k-- {
		next(domain.EventShare, at(start, span))
	}
	recent := d.Anchor.Add(-60 * day)
	if recent.Before(start) {
		recent = start
	}
	for k := r.IntN(13); k > 0; k-- {
		next(demoCustom[r.IntN(len(demoCustom))], at(recent, d.Anchor.Sub(recent)))
	}
	switch yuan := spend / 100; {
	case yuan >= 5000:
		c.Tier = "vip"
	case yuan >= 2000:
		c.Tier = "gold"
	case yuan >= 500:
		c.Tier = "silver"
	default:
		c.Tier = "normal"
	}
	slices.SortStableFunc(evs, func(a, b domain.Event) int { return a.At.Compare(b.At) })
	return c, evs
}

// identify gives customer i their identities, normalised (the store takes
// them as they are), from values of its own (not the customer's random
// stream, which stays the pond's with or without).
func (d Generator) identify(c *domain.Customer, i int) {
	c.Phone = demoPhone(i)
	c.Identities = []domain.Identity{{Kind: domain.IdentityPhone, Value: "+86" + c.Phone}}
	if i%2 == 0 {
		c.Identities = append(c.Identities, domain.Identity{Kind: domain.IdentityUnionID, Value: fmt.Sprintf("oUdemo%08d", i)})
	}
	if i%3 == 0 {
		c.Identities = append(c.Identities, domain.Identity{Kind: domain.IdentityOpenID, App: MiniProgramApp, Value: fmt.Sprintf("oMdemo%08d", i)})
	}
	if c.Member {
		c.Identities = append(c.Identities, domain.Identity{Kind: domain.IdentityMemberNo, Value: fmt.Sprintf("M%08d", i)})
	}
}

// demoPhone is customer i's phone: a mainland mobile number of its own.
func demoPhone(i int) string { return fmt.Sprintf("139%08d", i%100_000_000) }

// SignUp is a customer as the demo mini-program first knows them: a new
// customer of its own, by openid, with an order placed there; Link is
// the record its phone sync sends later, naming the phone of a customer
// already in the pond, which makes koi merge the two.
type SignUp struct {
	Customer domain.Customer
	Events   []domain.Event
	Link     domain.Customer
}

// SignUps returns count mini-program sign-ups of customers of a pond of
// n (spread over it), each joining and ordering in the last fortnight.
func (d Generator) SignUps(n, count int) []SignUp {
	d.Anchor = d.Anchor.Truncate(24 * time.Hour)
	out := make([]SignUp, 0, count)
	for k := range min(count, n) {
		i := (k*7919 + 13) % n
		r := rand.New(rand.NewPCG(d.Seed^0x5eed, uint64(k)+1))
		id := fmt.Sprintf("mp%06d", k)
		openid := domain.Identity{Kind: domain.IdentityOpenID, App: MiniProgramApp, Value: fmt.Sprintf("oMsign%06d", k)}
		joined := d.Anchor.Add(-time.Duration(24+r.IntN(13*24)) * time.Hour)
		c := domain.Customer{ID: id, JoinedAt: joined, Tags: []string{"小程序"}, Identities: []domain.Identity{openid}}
		order := domain.Event{ID: fmt.Sprintf("%s-o1", id), CustomerID: id, Type: domain.EventOrder,
			At: joined.Add(time.Duration(r.IntN(20)) * time.Hour), AmountFen: int64(99+r.IntN(200)) * 100, OrderID: fmt.Sprintf("mp-o%06d", k)}
		link := domain.Customer{ID: id, JoinedAt: joined, Tags: []string{"小程序"},
			Identities: []domain.Identity{openid, {Kind: domain.IdentityPhone, Value: "+86" + demoPhone(i)}}}
		out = append(out, SignUp{Customer: c, Events: []domain.Event{order}, Link: link})
	}
	return out
}

// Batch is a run of consecutive customers, [Lo, Hi), with their events.
type Batch struct {
	Lo, Hi    int
	Customers []domain.Customer
	Events    []domain.Event
}

// Generate makes customers [0, n) in batches of size on workers goroutines
// and calls fn with each batch in order. It stops at fn's first error.
func (d Generator) Generate(ctx context.Context, n, size, workers int, fn func(Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		lo, hi int
		out    chan Batch
	}
	jobs := make(chan job)
	// order holds the result channels in batch order; its buffer bounds how
	// far generation runs ahead of fn.
	order := make(chan chan Batch, 2*workers)
	go func() {
		defer close(jobs)
		defer close(order)
		for lo := 0; lo < n; lo += size {
			j := job{lo: lo, hi: min(lo+size, n), out: make(chan Batch, 1)}
			select {
			case order <- j.out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < max(workers, 1); w++ {
		go func() {
			for j := range jobs {
				j.out <- d.batch(j.lo, j.hi)
			}
		}()
	}
	for out := range order {
		select {
		case b := <-out:
			if err := fn(b); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func (d Generator) batch(lo, hi int) Batch {
	b := Batch{Lo: lo, Hi: hi, Customers: make([]domain.Customer, 0, hi-lo), Events: make([]domain.Event, 0, 11*(hi-lo))}
	for i := lo; i < hi; i++ {
		c, evs := d.Customer(i)
		b.Customers = append(b.Customers, c)
		b.Events = append(b.Events, evs...)
	}
	return b
}
