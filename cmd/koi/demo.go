package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/koihq/koi/engine"
)

// demoPond generates a deterministic synthetic pond: the same seed, size and
// anchor always give the same customers and events. Each customer draws from
// its own generator seeded by (seed, index), so any slice of the pond can be
// generated independently (and later in parallel) with identical results.
type demoPond struct {
	seed   uint64
	anchor time.Time
}

var (
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "林"}
	demoGiven    = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平", "婷"}
	demoCities   = []string{"上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "武汉"}
	demoJobs     = []string{"白领", "教师", "医生", "学生", "自由职业", "工程师", "宝妈"}
	demoTags     = []string{"小程序", "直播间", "门店", "母婴", "美妆", "学生党", "价格敏感"}
	demoCustom   = []string{"visit", "live_view", "message_reply"}
)

// customer returns customer i and its events.
func (d demoPond) customer(i int) (engine.Customer, []engine.Event) {
	r := rand.New(rand.NewPCG(d.seed, uint64(i)+1))
	day := 24 * time.Hour
	id := fmt.Sprintf("c%07d", i)
	c := engine.Customer{
		ID:       id,
		Name:     demoSurnames[r.IntN(len(demoSurnames))] + demoGiven[r.IntN(len(demoGiven))],
		Phone:    fmt.Sprintf("13%d%08d", r.IntN(10), r.IntN(100000000)),
		JoinedAt: d.anchor.Add(-time.Duration(r.IntN(3*365*24)) * time.Hour),
		Member:   r.Float64() < 0.65,
		Attrs: map[string]any{
			"city":       demoCities[r.IntN(len(demoCities))],
			"occupation": demoJobs[r.IntN(len(demoJobs))],
			"children":   r.IntN(3),
		},
	}
	if r.Float64() < 0.6 {
		c.WeComID = fmt.Sprintf("wm%012x", r.Uint64()&0xffffffffffff)
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
	if floor := d.anchor.Add(-730 * day); start.Before(floor) {
		start = floor
	}
	span := d.anchor.Sub(start)
	at := func(from time.Time, within time.Duration) time.Time {
		if within <= 0 {
			return from
		}
		return from.Add(time.Duration(r.Int64N(int64(within)))).Truncate(time.Second)
	}
	var evs []engine.Event
	next := func(typ string, t time.Time) *engine.Event {
		evs = append(evs, engine.Event{ID: fmt.Sprintf("e%07d-%03d", i, len(evs)), CustomerID: id, Type: typ, At: t})
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
			o := next(engine.EventOrder, at(start, orderSpan))
			o.AmountFen, o.OrderID = amount, fmt.Sprintf("o%07d-%02d", i, k)
			spend += amount
			if r.Float64() < 0.06 {
				refund := amount
				if r.Float64() < 0.5 {
					refund = amount / 2
				}
				rf := next(engine.EventRefund, o.At.Add(time.Duration(1+r.IntN(7))*day))
				rf.AmountFen, rf.OrderID = refund, o.OrderID
				spend -= refund
			}
		}
		if r.Float64() < 0.08 {
			for k := 1 + r.IntN(3); k > 0; k-- {
				next(engine.EventReferral, at(start, span))
			}
		}
	}
	for k := r.IntN(4); k > 0; k-- {
		next(engine.EventShare, at(start, span))
	}
	recent := d.anchor.Add(-60 * day)
	if recent.Before(start) {
		recent = start
	}
	for k := r.IntN(13); k > 0; k-- {
		next(demoCustom[r.IntN(len(demoCustom))], at(recent, d.anchor.Sub(recent)))
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
	return c, evs
}
