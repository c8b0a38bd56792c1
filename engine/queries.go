package engine

import (
	"context"

	"github.com/koihq/koi/engine/domain"
)

// The store's read side, for the API and tools: lists with filters, newest
// first, paged by the id of the last item seen.

// Queries is the read side of the store.
type Queries interface {
	GetRun(ctx context.Context, id int64) (*Run, error)
	ListRuns(ctx context.Context, f domain.RunFilter) ([]*Run, error)
	ListFires(ctx context.Context, f domain.FireFilter) ([]domain.Fire, error)
	ListCoupons(ctx context.Context, f domain.CouponFilter) ([]domain.Coupon, error)
	GetCoupon(ctx context.Context, code string) (*domain.Coupon, error)
	// DeleteCustomer deletes a customer and everything about them: events,
	// coupons, fires. Runs' aggregate counts stay. It returns the pond
	// version it committed.
	DeleteCustomer(ctx context.Context, id string) (int64, error)
}
