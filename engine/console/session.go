package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/koihq/koi/engine/apikey"
)

// session is one signed-in browser.
type session struct {
	key     apikey.Key
	csrf    string
	expires time.Time
}

// sessions holds the signed-in browsers in memory: a restart signs
// everyone out, which is what a key-based sign-in wants (no secret to
// keep on disk). At most max are kept; a sign-in beyond that pushes out
// the session closest to expiring, so no caller can grow the table.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions {
	return &sessions{m: map[string]*session{}, max: max}
}

// create starts a session for key until expires and returns its token.
func (s *sessions) create(key apikey.Key, now, expires time.Time) (token string, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, old := range s.m {
		if !now.Before(old.expires) {
			delete(s.m, t)
		}
	}
	for len(s.m) >= s.max {
		var oldest string
		for t, old := range s.m {
			if oldest == "" || old.expires.Before(s.m[oldest].expires) {
				oldest = t
			}
		}
		delete(s.m, oldest)
	}
	token = randomToken()
	sess = &session{key: key, csrf: randomToken(), expires: expires}
	s.m[token] = sess
	return token, sess
}

// get returns the live session of token, or nil.
func (s *sessions) get(token string, now time.Time) *session {
	if token == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[token]
	if sess == nil {
		return nil
	}
	if !now.Before(sess.expires) {
		delete(s.m, token)
		return nil
	}
	return sess
}

// end ends the session of token.
func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, token)
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
