// Package coupon is the built-in `coupon` action: it issues a coupon into
// koi's ledger in the same transaction as the fire.
package coupon

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name.
const Kind = "coupon"

var (
	_ actions.Action  = (*Coupon)(nil)
	_ actions.Sampler = (*Coupon)(nil)
)

// Coupon issues a coupon: `coupon: { amount: 20, min_spend: 100, expires_in: 7d }`.
type Coupon struct {
	// Amount is the coupon's face value in yuan.
	Amount float64 `yaml:"amount"`
	// MinSpend is the order amount in yuan the coupon requires (0: none, 无门槛).
	MinSpend float64 `yaml:"min_spend"`
	// ExpiresIn is how long the coupon stays valid after issue.
	ExpiresIn actions.Duration `yaml:"expires_in"`
}

// New returns an undecoded coupon action for the registry.
func New() actions.Action { return &Coupon{} }

// Validate checks amounts and expiry.
func (c *Coupon) Validate(actions.LoadContext) error {
	var errs actions.Errors
	if !(c.Amount > 0) || math.IsInf(c.Amount, 0) {
		errs = append(errs, actions.Errorf("amount", "must be a positive amount in yuan, got %v", c.Amount))
	} else if actions.YuanToFen(c.Amount) == 0 {
		errs = append(errs, actions.Errorf("amount", "%v yuan is less than one fen", c.Amount))
	}
	if c.MinSpend < 0 || math.IsNaN(c.MinSpend) || math.IsInf(c.MinSpend, 0) {
		errs = append(errs, actions.Errorf("min_spend", "must be zero or a positive amount in yuan, got %v", c.MinSpend))
	}
	if c.ExpiresIn <= 0 {
		errs = append(errs, actions.Errorf("expires_in", "is required and must be positive, like 7d"))
	}
	return errs.Err()
}

// Do writes the coupon. Its code derives from the fire's key and day, so
// a fire retried that day can never mint a second coupon under another
// code (the fire's key, unique, keeps any later retry from firing).
func (c *Coupon) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	cp := actions.Coupon{
		Code:        Code(f),
		CustomerID:  f.CustomerID,
		FireID:      f.FireID,
		AmountFen:   actions.YuanToFen(c.Amount),
		MinSpendFen: actions.YuanToFen(c.MinSpend),
		IssuedAt:    f.At,
		ExpiresAt:   f.At.Add(c.ExpiresIn.Std()),
	}
	if err := fx.IssueCoupon(cp); err != nil {
		return nil, fmt.Errorf("issue coupon: %w", err)
	}
	if f.ResultUnread {
		return nil, nil
	}
	return actions.Result{
		"code":       cp.Code,
		"amount":     c.Amount,
		"min_spend":  c.MinSpend,
		"expires_at": cp.ExpiresAt,
	}, nil
}

// SampleResult is a result shaped like Do's, for checking templates that
// quote the coupon.
func (c *Coupon) SampleResult() actions.Result {
	return actions.Result{"code": "KSAMPLE", "amount": c.Amount, "min_spend": c.MinSpend, "expires_at": time.Time{}.Add(c.ExpiresIn.Std())}
}

// codeEncoding is base32 over an alphabet in ASCII order (so codes sort
// as their bytes do) without the letters a customer would read as digits
// (I, O): what staff type at a till.
var codeEncoding = base32.NewEncoding("23456789ABCDEFGHJKLMNPQRSTUVWXYZ").WithPadding(base32.NoPadding)

// codeEpoch is day 0 of the day a code begins with.
var codeEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Code returns the coupon code of fire f's action number f.Index: "K",
// then in base32 the day f.At falls on (two bytes, days since 2020), a
// byte of the hash of f's playbook and rule, and 72 bits of the hash of
// the fire's key and the action's index.
//
// The leading bytes decide where a coupon lands in the coupons' index on
// code, and each page a write touches there is written to the log again
// at every commit. The day keeps a day's coupons together at the end of
// the index: codes of hash alone went all over it, and with a year of
// coupons (millions) each new one dirtied a page of its own (a batch of
// 50,000 into 300,000: 721 ms against 514 ms, and the gap grows with the
// history). The rule byte keeps each rule's coupons of the day together
// within it: a run writes one playbook at a time, in batches, and each
// batch of the day's coupons taken at random touched every page the day
// had so far; by rule, it touches the pages of its own playbook's rules.
// At a million customers that halved the log a run writes (koi bench: 11,731
// pages against 6,553).
//
// Codes stay a function of the fire's key and day alone, so a fire retried
// that day mints the same code, which the coupons' unique key refuses.
func Code(f *actions.Fire) string {
	// Built on the stack: a run issues tens of thousands of coupons, and
	// formatting allocated three times for each.
	var in [160]byte
	key := strconv.AppendInt(append(append(in[:0], f.Key...), '#'), int64(f.Index), 10)
	sum := sha256.Sum256(key)
	var b [12]byte
	d := max(0, min(int(f.At.Sub(codeEpoch).Hours()/24), 0xffff))
	b[0], b[1], b[2] = byte(d>>8), byte(d), ruleByte(f.Playbook, f.Rule)
	copy(b[3:], sum[:9])
	var out [21]byte
	out[0] = 'K'
	codeEncoding.Encode(out[1:], b[:])
	return string(out[:])
}

// ruleByte is a byte of the FNV-1a hash of a playbook's and rule's names.
func ruleByte(playbook, rule string) byte {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for _, s := range []string{playbook, "\x00", rule} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * prime
		}
	}
	return byte(h)
}
