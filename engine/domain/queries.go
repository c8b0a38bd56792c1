package domain

import "time"

// RunFilter selects runs. Zero fields select everything.
type RunFilter struct {
	Playbook string
	Status   string
	// BeforeID pages: only runs with a smaller id.
	BeforeID int64
	Limit    int
}

// FireFilter selects fires. Zero fields select everything.
type FireFilter struct {
	RunID      int64
	Playbook   string
	Rule       string
	CustomerID string
	BeforeID   int64
	Limit      int
}

// CouponFilter selects coupons.
type CouponFilter struct {
	CustomerID string
	// BeforeSeq pages: only coupons issued before the one with this seq.
	BeforeSeq int64
	Limit     int
}

// Coupon statuses, derived at the moment asked about.
const (
	CouponOpen     = "open"
	CouponRedeemed = "redeemed"
	CouponExpired  = "expired"
)

// Coupon is an issued coupon.
type Coupon struct {
	// Seq orders coupons by issue, for paging.
	Seq         int64     `json:"seq"`
	Code        string    `json:"code"`
	CustomerID  string    `json:"customer_id"`
	FireID      int64     `json:"fire_id,omitempty"`
	AmountFen   int64     `json:"-"`
	MinSpendFen int64     `json:"-"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Status is open, redeemed or expired, as of when it was read.
	Status string `json:"status"`
	// Amount and MinSpend are in yuan.
	Amount   float64 `json:"amount"`
	MinSpend float64 `json:"min_spend"`
	// OrderID is the order that redeemed the coupon, when known; RedeemedAt
	// when it was redeemed.
	OrderID    string     `json:"order_id,omitempty"`
	RedeemedAt *time.Time `json:"redeemed_at,omitempty"`
}

// PageLimit bounds a list's page size: default 100, at most 1000.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}
