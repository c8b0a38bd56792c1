package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"
)

// Role is what an API key may do.
type Role string

// Roles. admin may do everything; marketer works with playbooks, runs and
// reports and reads customers; ingest writes customers and events only.
const (
	RoleAdmin    Role = "admin"
	RoleMarketer Role = "marketer"
	RoleIngest   Role = "ingest"
)

// Key is an API key as the server knows it: by the SHA-256 of its secret,
// so the configuration never holds the secret itself.
type Key struct {
	Name   string
	Role   Role
	SHA256 [32]byte
}

// HashKey returns the SHA-256 of a key's secret in hex, the form the
// configuration stores.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ParseKeyHash reads a key hash written by HashKey.
func ParseKeyHash(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(out) {
		return out, fmt.Errorf("want 64 hex digits (the SHA-256 of the key, as `koi key` prints it)")
	}
	copy(out[:], b)
	return out, nil
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleMarketer, RoleIngest:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (admin, marketer or ingest)", s)
}

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
		sum := sha256.Sum256([]byte(secret))
		var found *Key
		for i := range s.keys {
			if subtle.ConstantTimeCompare(sum[:], s.keys[i].SHA256[:]) == 1 {
				found = &s.keys[i]
			}
		}
		if found == nil {
			return &apiErr{apiError{Code: eUnauthorized, Message: "unknown API key"}}
		}
		c.Set(keyContext, found)
		return next(c)
	}
}

// allow admits keys of the given roles, and admin keys.
func allow(roles ...Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k, _ := c.Get(keyContext).(*Key)
			if k != nil && k.Role == RoleAdmin {
				return next(c)
			}
			for _, r := range roles {
				if k != nil && k.Role == r {
					return next(c)
				}
			}
			role := Role("none")
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
