package actions

import "fmt"

// FieldError is a validation error of one parameter of an action.
type FieldError struct {
	// Field is the parameter's YAML key.
	Field   string
	Message string
	// Line (from 1) and Col (from 0) point into the parameter's value, for
	// errors inside it such as a template's; Line 0 means the whole value.
	Line, Col int
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errors collects several validation errors; the loader reports each one.
type Errors []error

func (es Errors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// Err returns nil when es is empty, so `return errs.Err()` reads naturally.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es Errors) Unwrap() []error { return es }
