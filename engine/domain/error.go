package domain

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Adapters map them to their own vocabulary (HTTP statuses,
// exit codes) in exactly one place each.
const (
	EInvalid  = "invalid"
	ENotFound = "not_found"
	EConflict = "conflict"
	EInternal = "internal"
	// EUnavailable: the work cannot be done now (a busy or full
	// database); the same request may succeed later.
	EUnavailable = "unavailable"
)

// Error is an error koi reports to its users, with a machine-readable code.
type Error struct {
	Code    string
	Message string
	// Field names the input at fault, when there is one.
	Field string
	// RetryAfter, for EUnavailable, is when trying again makes sense.
	RetryAfter time.Duration
	// Err is the underlying error, when there is one, for logs.
	Err error
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// ErrorCode returns the code of err, EInternal for errors koi did not classify.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
