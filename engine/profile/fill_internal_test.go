package profile

import (
	"reflect"
	"testing"
	"time"
)

// A profile buffer is refilled for every customer, field by field: a
// field fill forgets to set keeps the previous customer's value. Filling
// a customer with everything after one with nothing must give what a
// fresh buffer gives, and the customer with everything (in a journey)
// must leave no field of the profile at its zero value (so a field added
// to Profile but not to fill fails here).
func TestFillSetsEveryField(t *testing.T) {
	full := &PondCustomer{ID: "full", Name: "Full", Attrs: NewAttrList(map[string]any{"city": "上海"}), Member: true}
	full.SetTier("gold")
	full.SetGuide("g1")
	full.SetTags([]string{"vip"})
	full.SetOptOut([]string{"sms"})
	events := []compactEvent{newCompactEvent(10, 100, typOrder, 0)}
	contacts := []ContactMark{{}}
	fullRow := newRow(full, events, contacts)
	fullRow.spend, fullRow.spend30, fullRow.spend90, fullRow.spend365 = 100, 200, 300, 400
	fullRow.joinedDays = 5
	fullRow.orders, fullRow.orders30, fullRow.orders90, fullRow.orders365 = 4, 1, 2, 3
	fullRow.shares90, fullRow.referrals, fullRow.contacts7d, fullRow.openCoupons = 1, 2, 3, 4
	fullRow.recency, fullRow.lastContact, fullRow.couponExpiring, fullRow.couponIssued, fullRow.birthdayIn = 1, 2, 3, 4, 5
	fullRow.r, fullRow.f, fullRow.m, fullRow.segment, fullRow.lifecycle = 1, 2, 3, 1, stageRepeat
	fullRow.flags = hasRecency | hasLastContact | hasCoupon | hasBirthday | rfmScored
	emptyRow := newRow(&PondCustomer{ID: "empty"}, nil, nil)
	emptyRow.lifecycle = stageBasic

	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var types typeTable
	var slots [slotsPer]int
	var p Profile
	fullRow.fill(&p, now, &types, slots[:])
	p.Attrs, p.memo = map[string]any{"city": "上海"}, &countMemo{} // as Snapshot.Fill sets them
	p.SetEntry(time.UnixMilli(5))                                // as a journey sets them
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("the customer with everything has a zero %s: is it filled?", v.Type().Field(i).Name)
		}
	}

	emptyRow.fill(&p, now, &types, slots[:])
	var fresh Profile
	var freshSlots [slotsPer]int
	emptyRow.fill(&fresh, now, &types, freshSlots[:])
	if !reflect.DeepEqual(p, fresh) {
		t.Errorf("refilled for another customer:\n%+v\nfresh:\n%+v", p, fresh)
	}
}
