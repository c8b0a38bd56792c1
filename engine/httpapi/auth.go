package httpapi

import (
	"fmt"
	"strings"

	"github.com/koihq/koi/engine/apikey"
	"github.com/labstack/echo/v4"
)

const keyContext = "koi.key"

// authenticate finds the key a request presents, as `Authorization:
// Bearer KEY` or `X-API-Key: KEY`. Every configured key is compared, in
// constant time, whichever matches.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret := c.Request().Header.Get("X-API-Key")
		if auth := c.Request().Header.Get("Authorization"); secret == "" && auth != "" {
			scheme, rest, _ := strings.Cut(auth, " ")
			if strings.EqualFold(scheme, "Bearer") {
				secret = strings.TrimSpace(rest)
			}
		}
		if secret == "" {
			return &apiErr{apiError{Code: eUnauthorized, Message: "an API key is required (Authorization: Bearer KEY)"}}
		}
		found := apikey.Find(s.keys, secret)
		if found == nil {
			return &apiErr{apiError{Code: eUnauthorized, Message: "unknown API key"}}
		}
		c.Set(keyContext, found)
		return next(c)
	}
}

// allow admits keys of the given roles, and admin keys.
func allow(roles ...apikey.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k, _ := c.Get(keyContext).(*apikey.Key)
			if k.Allows(roles...) {
				return next(c)
			}
			role := apikey.Role("none")
			if k != nil {
				role = k.Role
			}
			return &apiErr{apiError{Code: eForbidden, Message: fmt.Sprintf("a %s key may not do this (needs %v)", role, roles)}}
		}
	}
}

// apiErr carries an API error that is not an engine one.
type apiErr struct{ e apiError }

func (e *apiErr) Error() string { return e.e.Message }
