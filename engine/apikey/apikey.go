// Package apikey is koi's API keys and their roles, shared by the HTTP API
// (engine/httpapi) and the console (engine/console), which sign in with
// the same keys.
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
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

// Allows reports whether the key may act in one of roles: admin keys may
// act in every role.
func (k *Key) Allows(roles ...Role) bool {
	if k == nil {
		return false
	}
	if k.Role == RoleAdmin {
		return true
	}
	for _, r := range roles {
		if k.Role == r {
			return true
		}
	}
	return false
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

// Find returns the key whose secret this is, or nil. Every key is
// compared, in constant time, whichever matches: how long it takes says
// nothing about which key, or how much of one, was right.
func Find(keys []Key, secret string) *Key {
	sum := sha256.Sum256([]byte(secret))
	var found *Key
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].SHA256[:]) == 1 {
			found = &keys[i]
		}
	}
	return found
}
