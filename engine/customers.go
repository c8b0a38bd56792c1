package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// CustomerQuery selects customers by their profiles now. Empty fields
// select everything.
type CustomerQuery struct {
	Segment, Lifecycle, Tag, Tier string
	// Text matches a customer whose id is it, or whose name contains it.
	Text string
	// Where is an expression over the profile, as conditions are.
	Where *rules.Condition
	// From is the pond position to start at: a page's Next.
	From int
	// Limit is the most customers a page holds; MaxScan the most it looks
	// at, so that a filter few match answers in bounded time.
	Limit, MaxScan int
}

// CustomerPage is one page of a customer search.
type CustomerPage struct {
	// Customers are the matching customers' profile values.
	Customers []map[string]any
	// Next is where the next page starts, or -1 when this is the last.
	Next int
	// Scanned counts the customers looked at.
	Scanned int
}

// FindCustomers returns a page of the customers q selects, in pond
// order. A Where that fails for a customer is an error naming the field
// "where" and the customer; when ctx ends the page found so far comes
// back with ctx's error.
func (e *Engine) FindCustomers(ctx context.Context, now time.Time, q CustomerQuery) (*CustomerPage, error) {
	page := &CustomerPage{Customers: []map[string]any{}, Next: -1}
	var m rules.Evaluator
	var filterErr error
	err := e.EachProfile(ctx, now, q.From, func(pos int, p *profile.Profile) bool {
		if len(page.Customers) == q.Limit || (q.MaxScan > 0 && page.Scanned == q.MaxScan) {
			page.Next = pos
			return false
		}
		page.Scanned++
		if (q.Segment != "" && p.RFM.Segment != q.Segment) || (q.Lifecycle != "" && p.Lifecycle != q.Lifecycle) ||
			(q.Tier != "" && p.Tier != q.Tier) || (q.Tag != "" && !p.HasTag(q.Tag)) ||
			(q.Text != "" && p.ID != q.Text && !strings.Contains(p.Name, q.Text)) {
			return true
		}
		if q.Where != nil {
			ok, err := q.Where.Eval(&m, p)
			if err != nil {
				// Not a customer who does not match: a filter that fails.
				filterErr = &domain.Error{Code: domain.EInvalid, Field: "where", Message: fmt.Sprintf("fails for customer %s: %v", p.ID, err)}
				return false
			}
			if !ok {
				return true
			}
		}
		page.Customers = append(page.Customers, p.Values())
		return true
	})
	if filterErr != nil {
		return nil, filterErr
	}
	return page, err
}
