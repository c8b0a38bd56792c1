package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/wire"
	"github.com/koihq/koi/rules"
)

// putCustomer creates or replaces the customer at /customers/:id and
// returns it as stored.
func (s *server) putCustomer(c echo.Context) error {
	var rec wire.Customer
	if err := decode(c, &rec); err != nil {
		return err
	}
	id := c.Param("id")
	switch {
	case rec.ID == "":
		rec.ID = id
	case rec.ID != id:
		return fieldErr("id", "differs from the id in the path ("+id+")")
	}
	cust, err := rec.ToCustomer(s.loc, s.engine.Tiers())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.engine.PutCustomers(ctx, []domain.Customer{cust}, s.now()); err != nil {
		return err
	}
	stored, err := s.engine.Customer(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stored)
}

// postCustomer stores a customer named by identities alone (or an id):
// whoever has one of them is added to (and those who have others merged
// with them), else a new customer is made. It returns the customer as
// stored.
func (s *server) postCustomer(c echo.Context) error {
	var rec wire.Customer
	if err := decode(c, &rec); err != nil {
		return err
	}
	if rec.ID == "" && len(rec.Identities) == 0 {
		return fieldErr("identities", "name the customer by at least one identity (or PUT /customers/{id})")
	}
	cust, err := rec.ToCustomer(s.loc, s.engine.Tiers())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := s.engine.StoreCustomers(ctx, []domain.Customer{cust}, s.now(), "api")
	if err != nil {
		return err
	}
	stored, err := s.engine.Customer(ctx, res.IDs[0])
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stored)
}

// getCustomer returns the stored customer, their profile now, their latest
// events, fires and coupons.
func (s *server) getCustomer(c echo.Context) error {
	v, err := s.engine.ViewCustomer(c.Request().Context(), c.Param("id"), s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// deleteCustomer deletes a customer and their data, on their request.
func (s *server) deleteCustomer(c echo.Context) error {
	if err := s.engine.DeleteCustomer(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// maxScan bounds the customers one list request looks at, so a filter that
// matches few customers answers in bounded time; `next` continues.
const maxScan = 200_000

// listCustomers lists customers' profiles now, filtered by segment,
// lifecycle, tag, tier and an expr `where`, a page at a time.
func (s *server) listCustomers(c echo.Context) error {
	q := c.QueryParams()
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	limit = domain.PageLimit(limit)
	from := 0
	if n := q.Get("next"); n != "" {
		if from, err = strconv.Atoi(n); err != nil || from < 0 {
			return fieldErr("next", "not a position from an earlier page's next")
		}
	}
	var where *rules.Condition
	if w := q.Get("where"); w != "" {
		if where, err = rules.CompileExpr(w, profile.ExprEnv()); err != nil {
			return fieldErr("where", err.Error())
		}
	}
	// The request's own context: a client that leaves stops the scan. The
	// budget bounds what one that stays can cost.
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.queryBudget)
	defer cancel()
	page, err := s.engine.FindCustomers(ctx, s.now(), engine.CustomerQuery{
		Segment: q.Get("segment"), Lifecycle: q.Get("lifecycle"), Tag: q.Get("tag"), Tier: q.Get("tier"),
		Where: where, From: from, Limit: limit, MaxScan: maxScan})
	switch {
	case errors.Is(err, context.DeadlineExceeded) && c.Request().Context().Err() == nil:
		return fieldErr("where", fmt.Sprintf("the listing ran out of its %s after looking at %d customers; narrow it with segment, tier or tag, or simplify the filter", s.queryBudget, page.Scanned))
	case err != nil:
		return err
	}
	resp := map[string]any{"customers": page.Customers}
	if page.Next >= 0 {
		resp["next"] = strconv.Itoa(page.Next)
	}
	return c.JSON(http.StatusOK, resp)
}

// queryInt reads an optional integer query parameter.
func queryInt(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fieldErr(name, "want a whole number ≥ 0, got "+strconv.Quote(v))
	}
	return n, nil
}
