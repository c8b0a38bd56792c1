// Package wecomtest is a fake WeCom API for tests: gettoken and
// externalcontact/add_msg_template, with the documented request and reply
// shapes and error codes, on a loopback port.
package wecomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
)

// Sent is a message the fake accepted.
type Sent struct {
	Sender         string
	ExternalUserID string
	Content        string
}

// Server is the fake. Set CorpID, Secret, TokenTTL and Contacts before
// the first request; use the methods after.
type Server struct {
	*httptest.Server
	CorpID, Secret string
	// TokenTTL is the expires_in of tokens, in seconds (default 7200).
	TokenTTL int
	// Contacts are the external user ids the corp has; a message to
	// another lands in fail_list.
	Contacts []string
	// Errors are errcodes the next add_msg_template calls return, one
	// each, before the fake accepts messages again.
	Errors []int

	mu      sync.Mutex
	tokens  map[string]bool // token → still valid
	fetches int
	sent    []Sent
}

// New starts a fake for corp corpID with secret.
func New(corpID, secret string) *Server {
	s := &Server{CorpID: corpID, Secret: secret, TokenTTL: 7200, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", s.gettoken)
	mux.HandleFunc("POST /cgi-bin/externalcontact/add_msg_template", s.addMsgTemplate)
	s.Server = httptest.NewServer(mux)
	return s
}

func reply(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	reply(w, map[string]any{"errcode": code, "errmsg": msg})
}

func (s *Server) gettoken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case q.Get("corpid") != s.CorpID:
		fail(w, 40013, "invalid corpid")
	case q.Get("corpsecret") != s.Secret:
		fail(w, 40001, "invalid credential")
	default:
		s.fetches++
		tok := fmt.Sprintf("token-%d", s.fetches)
		s.tokens[tok] = true
		reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": s.TokenTTL})
	}
}

func (s *Server) addMsgTemplate(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("access_token")
	var req struct {
		ChatType       string   `json:"chat_type"`
		ExternalUserID []string `json:"external_userid"`
		Sender         string   `json:"sender"`
		Text           struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	valid, known := s.tokens[tok]
	switch {
	case tok == "":
		fail(w, 41001, "access_token missing")
		return
	case !known:
		fail(w, 40014, "invalid access_token")
		return
	case !valid:
		fail(w, 42001, "access_token expired")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.ChatType != "" && req.ChatType != "single") ||
		len(req.ExternalUserID) == 0 || req.Text.Content == "" {
		fail(w, 40058, "invalid parameter: want chat_type single, external_userid and text.content")
		return
	}
	if len(s.Errors) > 0 {
		code := s.Errors[0]
		s.Errors = s.Errors[1:]
		fail(w, code, "injected")
		return
	}
	var failed []string
	for _, id := range req.ExternalUserID {
		if s.Contacts != nil && !slices.Contains(s.Contacts, id) {
			failed = append(failed, id)
			continue
		}
		s.sent = append(s.sent, Sent{Sender: req.Sender, ExternalUserID: id, Content: req.Text.Content})
	}
	reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "fail_list": failed, "msgid": fmt.Sprintf("msg%d", len(s.sent))})
}

// ExpireTokens makes every token issued so far expired: the next message
// gets errcode 42001.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = false
	}
}

// Fetches counts the tokens issued.
func (s *Server) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Sent returns the messages accepted so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// InjectErrors queues errcodes for the next add_msg_template calls.
func (s *Server) InjectErrors(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Errors = append(s.Errors, codes...)
}
