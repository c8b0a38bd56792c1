package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// ListRuns returns runs, newest first.
func (e *Engine) ListRuns(ctx context.Context, f domain.RunFilter) ([]*Run, error) {
	return e.store.ListRuns(ctx, f)
}

// ListFires returns fires, newest first; a merged id in the filter stands
// for its survivor.
func (e *Engine) ListFires(ctx context.Context, f domain.FireFilter) ([]domain.Fire, error) {
	if f.CustomerID != "" {
		var err error
		if f.CustomerID, err = e.store.ResolveAlias(ctx, f.CustomerID); err != nil {
			return nil, err
		}
	}
	return e.store.ListFires(ctx, f)
}

// ListCoupons returns coupons, newest first, with their status at now.
func (e *Engine) ListCoupons(ctx context.Context, f domain.CouponFilter, now time.Time) ([]domain.Coupon, error) {
	if f.CustomerID != "" {
		var err error
		if f.CustomerID, err = e.store.ResolveAlias(ctx, f.CustomerID); err != nil {
			return nil, err
		}
	}
	cs, err := e.store.ListCoupons(ctx, f)
	if err != nil {
		return nil, err
	}
	return cs, e.couponStatus(ctx, cs, now)
}

// couponStatus fills in coupons' status at now, from the redemptions the
// pond holds, and their yuan amounts.
func (e *Engine) couponStatus(ctx context.Context, cs []domain.Coupon, now time.Time) error {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return err
	}
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	for k := range cs {
		c := &cs[k]
		c.Amount, c.MinSpend = float64(c.AmountFen)/100, float64(c.MinSpendFen)/100
		i, ok := pond.Lookup(c.CustomerID)
		switch {
		case ok && pond.Redeemed(i, c.Code, now):
			c.Status = domain.CouponRedeemed
		case !now.Before(c.ExpiresAt):
			c.Status = domain.CouponExpired
		default:
			c.Status = domain.CouponOpen
		}
	}
	return nil
}

// RedeemCoupon redeems a coupon at at, for an order when orderID is set:
// it records a coupon_redeem event, which is what profiles count. A
// coupon already redeemed, or expired, is a conflict.
func (e *Engine) RedeemCoupon(ctx context.Context, code, orderID string, at time.Time) (*domain.Coupon, error) {
	stored, err := e.store.GetCoupon(ctx, code)
	if err != nil {
		return nil, err
	}
	cs := []domain.Coupon{*stored}
	if err := e.couponStatus(ctx, cs, at); err != nil {
		return nil, err
	}
	c := &cs[0]
	switch c.Status {
	case domain.CouponRedeemed:
		return c, &domain.Error{Code: domain.EConflict, Field: "code", Message: fmt.Sprintf("coupon %s is already redeemed", code)}
	case domain.CouponExpired:
		return c, &domain.Error{Code: domain.EConflict, Field: "code", Message: fmt.Sprintf("coupon %s expired at %s", code, c.ExpiresAt.Format(time.RFC3339))}
	}
	// One id per coupon: two redemptions racing store one event, and the
	// loser is told it lost.
	ev := domain.Event{ID: "coupon_redeem:" + code, CustomerID: c.CustomerID, Type: domain.EventCouponRedeem, At: at, Code: code, OrderID: orderID}
	res, err := e.AddEvents(ctx, []domain.Event{ev})
	if err != nil {
		return nil, err
	}
	if err := res.ItemErrs[0]; err != nil {
		return nil, err
	}
	if !res.Inserted[0] {
		return c, &domain.Error{Code: domain.EConflict, Field: "code", Message: fmt.Sprintf("coupon %s is already redeemed", code)}
	}
	c.Status = domain.CouponRedeemed
	return c, nil
}

// CustomerView is a customer with what koi knows of them.
type CustomerView struct {
	Customer *domain.Customer       `json:"customer"`
	Profile  map[string]any         `json:"profile"`
	Events   []profile.EventSummary `json:"recent_events"`
	Fires    []domain.Fire          `json:"fires"`
	Coupons  []domain.Coupon        `json:"coupons"`
	// Messages are the latest messages to the customer, with what became
	// of each (a WeCom task waiting for the guide, sent, not_friend, …).
	Messages []domain.MessageRecord `json:"messages"`
	// Journeys are the customer's entries into journeys, by journey and
	// entry: the last of each journey is where they are in it.
	Journeys []domain.JourneyState `json:"journeys"`
	// Merges are the merges that made the customer who they are (the
	// latest 100): which ids, when, and the identity that linked them.
	Merges []domain.Merge `json:"merges"`
}

// ViewCustomer returns a customer's stored fields, profile at now, latest
// events, fires, coupons, messages and journeys.
func (e *Engine) ViewCustomer(ctx context.Context, id string, now time.Time) (*CustomerView, error) {
	cust, err := e.Customer(ctx, id)
	if err != nil {
		return nil, err
	}
	id = cust.ID // a merged id shows its survivor
	p, err := e.Profile(ctx, id, now)
	if err != nil {
		return nil, err
	}
	v := &CustomerView{Customer: cust, Profile: p.Values()}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	e.pondMu.RLock()
	if i, ok := pond.Lookup(id); ok {
		v.Events = pond.RecentEvents(i, 50)
	}
	e.pondMu.RUnlock()
	if v.Fires, err = e.store.ListFires(ctx, domain.FireFilter{CustomerID: id, Limit: 100}); err != nil {
		return nil, err
	}
	if v.Messages, err = e.store.CustomerMessages(ctx, id, 100); err != nil {
		return nil, err
	}
	if v.Coupons, err = e.ListCoupons(ctx, domain.CouponFilter{CustomerID: id, Limit: 100}, now); err != nil {
		return nil, err
	}
	if v.Journeys, err = e.store.CustomerJourneys(ctx, id); err != nil {
		return nil, err
	}
	if v.Journeys == nil {
		v.Journeys = []domain.JourneyState{}
	}
	if v.Merges, err = e.store.ListMerges(ctx, domain.MergeFilter{CustomerID: id, Limit: 100}); err != nil {
		return nil, err
	}
	return v, nil
}

// DeleteCustomer deletes a customer and everything about them.
func (e *Engine) DeleteCustomer(ctx context.Context, id string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	// A merged id deletes its survivor: the same person.
	id, err := e.store.ResolveAlias(ctx, id)
	if err != nil {
		return err
	}
	version, err := e.store.DeleteCustomer(ctx, id)
	if err != nil {
		return err
	}
	e.applyToPond(version, func(p *profile.Pond) { p.RemoveCustomer(id) })
	return nil
}
