package console

import (
	"net/http"
	"regexp"
	"time"

	"github.com/koihq/koi/engine/apikey"
)

// signinPage shows the sign-in form. The form carries a token that must
// come back in a cookie of its own (SameSite=Strict): another site cannot
// sign a browser in under its key.
func (s *server) signinPage(w http.ResponseWriter, r *http.Request) {
	v := &view{Lang: lang(r), Path: "/signin", Title: "signin.title", now: s.cfg.Now(), loc: s.cfg.Location}
	s.signinForm(w, r, v, http.StatusOK)
}

func (s *server) signinForm(w http.ResponseWriter, r *http.Request, v *view, status int) {
	// The browser's token is kept while it has one: a second sign-in page
	// (another tab, the browser fetching an icon that redirects here) must
	// not void the form of the first.
	if c, err := r.Cookie(signinCookie); err == nil && tokenShape.MatchString(c.Value) {
		v.CSRF = c.Value
	} else {
		v.CSRF = randomToken()
	}
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: v.CSRF, Path: "/signin", MaxAge: 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "signin", v)
}

// signin exchanges a marketer or admin key for a session cookie.
func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	v := &view{Lang: lang(r), Path: "/signin", Title: "signin.title", now: s.cfg.Now(), loc: s.cfg.Location}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, _ := r.Cookie(signinCookie)
	if err := r.ParseForm(); err != nil || c == nil || !sameToken(r.PostForm.Get("csrf"), c.Value) {
		v.Error = translate(v.Lang, "signin.expired")
		s.signinForm(w, r, v, http.StatusForbidden)
		return
	}
	// Counted only once the form is the browser's own: posts refused
	// anyway must not use up everyone's attempts.
	if !s.signins.Allow() {
		v.Error = translate(v.Lang, "signin.slow")
		s.signinForm(w, r, v, http.StatusTooManyRequests)
		return
	}
	key := apikey.Find(s.cfg.Keys, r.PostForm.Get("key"))
	switch {
	case key == nil:
		v.Error = translate(v.Lang, "signin.bad")
		s.signinForm(w, r, v, http.StatusUnauthorized)
		return
	case !key.Allows(apikey.RoleMarketer):
		v.Error = translate(v.Lang, "signin.ingest")
		s.signinForm(w, r, v, http.StatusForbidden)
		return
	}
	now := s.cfg.Now()
	expires := now.Add(s.cfg.SessionTTL)
	token, _ := s.sessions.create(*key, now, expires)
	// Max-Age, not Expires: the browser counts it on its own clock, so a
	// server clock that is off does not end or stretch the session there.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: "/signin", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signout ends the session.
func (s *server) signout(w http.ResponseWriter, r *http.Request, v *view) {
	s.sessions.end(v.token)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// tokenShape is what randomToken makes: 32 bytes, URL-safe base64.
var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
