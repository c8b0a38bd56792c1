package sqlite

import (
	"errors"
	"time"

	"github.com/koihq/koi/engine/domain"
	"modernc.org/sqlite"
)

// Primary SQLite result codes that mean the database cannot take a write
// now, not that the request was wrong.
const (
	codeBusy     = 5
	codeLocked   = 6
	codeReadOnly = 8
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14
)

// unavailable turns SQLite's "cannot write now" errors into an engine
// error with code EUnavailable, which the API answers with 503 and a
// Retry-After rather than a bare 500: a lock held too long by another
// process, a full disk, a file that became read-only. Other errors pass.
func unavailable(err error) error {
	var se *sqlite.Error
	var ee *domain.Error
	if err == nil || !errors.As(err, &se) || errors.As(err, &ee) {
		return err // not SQLite's, or classified already
	}
	e := &domain.Error{Code: domain.EUnavailable, Err: err}
	switch se.Code() & 0xff {
	case codeBusy, codeLocked:
		e.Message, e.RetryAfter = "the database is busy: another writer held its lock too long; try again", time.Second
	case codeFull:
		e.Message, e.RetryAfter = "the database cannot grow: the disk is full", 30*time.Second
	case codeReadOnly, codeCantOpen:
		e.Message, e.RetryAfter = "the database cannot be written: its file is read-only or gone", 30*time.Second
	case codeIOErr:
		e.Message, e.RetryAfter = "the database's disk failed a read or write", 30*time.Second
	default:
		return err
	}
	return e
}

// unavailableOn classifies the error a write method returns, deferred:
// a full disk shows in any statement of a transaction, not only at BEGIN
// and COMMIT.
func unavailableOn(err *error) { *err = unavailable(*err) }

// isBusy reports whether err is SQLite's lock held by another connection.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == codeBusy || c == codeLocked
}
