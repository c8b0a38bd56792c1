package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/wire"
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
	cust, err := rec.ToCustomer(s.loc)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.engine.PutCustomers(ctx, []engine.Customer{cust}, s.now()); err != nil {
		return err
	}
	stored, err := s.engine.Customer(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stored)
}

// getCustomer returns the stored customer.
func (s *server) getCustomer(c echo.Context) error {
	cust, err := s.engine.Customer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cust)
}
