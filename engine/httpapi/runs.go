package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// page reads a list's ?limit= and ?before=.
func page(c echo.Context) (limit int, before int64, err error) {
	if limit, err = queryInt(c, "limit"); err != nil {
		return 0, 0, err
	}
	b, err := queryInt(c, "before")
	return limit, int64(b), err
}

// listRuns lists runs, newest first: ?playbook=&status=&before=&limit=.
func (s *server) listRuns(c echo.Context) error {
	limit, before, err := page(c)
	if err != nil {
		return err
	}
	runs, err := s.engine.ListRuns(c.Request().Context(), domain.RunFilter{
		Playbook: c.QueryParam("playbook"), Status: c.QueryParam("status"), BeforeID: before, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": runs})
}

// getRun returns a run with its per-rule counts.
func (s *server) getRun(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return fieldErr("id", "a run id is a positive whole number")
	}
	run, err := s.engine.GetRun(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// listFires lists fires, newest first: ?run=&playbook=&rule=&customer=&before=&limit=.
func (s *server) listFires(c echo.Context) error {
	var f domain.FireFilter
	var err error
	if f.Limit, f.BeforeID, err = page(c); err != nil {
		return err
	}
	run, err := queryInt(c, "run")
	if err != nil {
		return err
	}
	f.RunID = int64(run)
	f.Playbook, f.Rule, f.CustomerID = c.QueryParam("playbook"), c.QueryParam("rule"), c.QueryParam("customer")
	fires, err := s.engine.ListFires(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"fires": fires})
}

// listMerges lists merges of customers, newest first: ?customer=&before=&limit=.
func (s *server) listMerges(c echo.Context) error {
	limit, before, err := page(c)
	if err != nil {
		return err
	}
	ms, err := s.engine.Merges(c.Request().Context(), domain.MergeFilter{CustomerID: c.QueryParam("customer"), Before: before, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"merges": ms})
}

// listCoupons lists coupons, newest first, with their status now:
// ?customer=&before=&limit=.
func (s *server) listCoupons(c echo.Context) error {
	limit, before, err := page(c)
	if err != nil {
		return err
	}
	cs, err := s.engine.ListCoupons(c.Request().Context(), domain.CouponFilter{CustomerID: c.QueryParam("customer"), BeforeSeq: before, Limit: limit}, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"coupons": cs})
}

// redeemCoupon redeems a coupon by code, optionally for an order. A coupon
// redeemed before, or expired, is a 409.
func (s *server) redeemCoupon(c echo.Context) error {
	var req struct {
		OrderID string `json:"order_id"`
	}
	if c.Request().ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			return err
		}
	}
	cp, err := s.engine.RedeemCoupon(c.Request().Context(), c.Param("code"), req.OrderID, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cp)
}

// segmentReport counts customers now by RFM segment, lifecycle stage and tier.
func (s *server) segmentReport(c echo.Context) error {
	now := s.now()
	segments, lifecycle, tiers := map[string]int{}, map[string]int{}, map[string]int{}
	total := 0
	err := s.engine.EachProfile(c.Request().Context(), now, 0, func(_ int, p *profile.Profile) bool {
		total++
		seg := p.RFM.Segment
		if seg == "" {
			seg = "unscored"
		}
		segments[seg]++
		lifecycle[p.Lifecycle]++
		tiers[p.Tier]++
		return true
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"at": now, "customers": total, "segments": segments, "lifecycle": lifecycle, "tiers": tiers})
}
