package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/wire"
)

// Error codes of the API beyond the engine's (domain.EInvalid and friends).
const (
	eUnauthorized = "unauthorized"
	eForbidden    = "forbidden"
	eTooLarge     = "too_large"
	eNoRoute      = "no_route"
	eMethod       = "method_not_allowed"
)

// statusOf maps an error code to its HTTP status. It is the only place
// that does.
func statusOf(code string) int {
	switch code {
	case domain.EInvalid:
		return http.StatusBadRequest
	case domain.ENotFound, eNoRoute:
		return http.StatusNotFound
	case domain.EConflict:
		return http.StatusConflict
	case eUnauthorized:
		return http.StatusUnauthorized
	case eForbidden:
		return http.StatusForbidden
	case eTooLarge:
		return http.StatusRequestEntityTooLarge
	case eMethod:
		return http.StatusMethodNotAllowed
	case domain.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// apiError is the body of every error response:
// {"error": {"code", "message", "field"}}.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// toAPIError classifies err. Errors koi did not classify are internal;
// their text stays in the log, not in the response.
func toAPIError(err error) apiError {
	var ee *domain.Error
	var fe *wire.FieldError
	var he *echo.HTTPError
	var ae *apiErr
	switch {
	case errors.As(err, &ae):
		return ae.e
	case errors.As(err, &ee):
		return apiError{Code: ee.Code, Message: ee.Message, Field: ee.Field}
	case errors.As(err, &fe):
		return apiError{Code: domain.EInvalid, Message: fe.Msg, Field: fe.Field}
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusRequestEntityTooLarge:
			return apiError{Code: eTooLarge, Message: "the request body is larger than the server accepts"}
		case http.StatusNotFound:
			return apiError{Code: eNoRoute, Message: "no such endpoint"}
		case http.StatusMethodNotAllowed:
			return apiError{Code: eMethod, Message: "the endpoint does not take this method"}
		case http.StatusUnauthorized:
			return apiError{Code: eUnauthorized, Message: "an API key is required"}
		}
	}
	return apiError{Code: domain.EInternal, Message: "internal error"}
}

// handleError writes err as JSON with its status.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := toAPIError(err)
	status := statusOf(ae.Code)
	switch status {
	case http.StatusInternalServerError:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	case http.StatusServiceUnavailable:
		s.log.Warn("request refused: the database cannot take it now", "method", c.Request().Method, "path", c.Path(), "err", err)
		var ee *domain.Error
		if errors.As(err, &ee) && ee.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(ee.RetryAfter.Round(time.Second)/time.Second)))
		}
	}
	if err := c.JSON(status, map[string]apiError{"error": ae}); err != nil {
		s.log.Warn("writing an error response failed", "err", err)
	}
}

// fieldErr is an invalid-input error naming field.
func fieldErr(field, msg string) error {
	return &domain.Error{Code: domain.EInvalid, Field: field, Message: msg}
}
