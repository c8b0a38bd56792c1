// Package wecomtest is a fake WeCom API for tests, on a loopback port. It
// follows the documented customer-contact mass-message behaviour (客户联系 ›
// 消息推送): gettoken; add_msg_template creates a task per sender that
// stays unsent until the test confirms it as the guide (Confirm);
// get_groupmsg_task and get_groupmsg_send_result page through the tasks
// and each customer's status; remind_groupmsg_send (three a day per task)
// and cancel_groupmsg_send; and mark_tag (客户标签管理 › 编辑客户企业标签),
// which marks corp tags on a member's contact. Errors use WeCom's
// errcodes, and any API can be made to fail with InjectErrors.
package wecomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Send statuses of get_groupmsg_send_result.
const (
	StatusUnsent        = 0
	StatusSent          = 1
	StatusNotFriend     = 2
	StatusReceivedOther = 3
)

// Attachment is an attachment as the fake received it.
type Attachment struct {
	MsgType     string            `json:"msgtype"`
	Link        map[string]string `json:"link,omitempty"`
	MiniProgram map[string]string `json:"miniprogram,omitempty"`
	Image       map[string]string `json:"image,omitempty"`
}

// Task is one member's part of a mass message (企业群发): what a guide sees
// and confirms.
type Task struct {
	MsgID string
	// Sender is the member the task is for: the request's sender, or the
	// member WeCom chose (the first, by userid, who has the customer as a
	// contact) when it named none.
	Sender      string
	Text        string
	Attachments []Attachment
	// Customers are the external user ids of the task, with their status.
	Customers map[string]int
	SentAt    time.Time
	Created   time.Time
	Cancelled bool
	Reminders []time.Time
}

// Sent is a message as a customer received it.
type Sent struct {
	MsgID          string
	Sender         string
	ExternalUserID string
	Content        string
}

// Server is the fake. Set CorpID, Secret, TokenTTL, Members and Now before
// the first request; use the methods after.
type Server struct {
	*httptest.Server
	CorpID, Secret string
	// TokenTTL is the expires_in of tokens, in seconds (default 7200).
	TokenTTL int
	// Members maps each member's userid to the external user ids who have
	// them as a contact. A customer no member has lands in fail_list; one
	// not a contact of the task's sender fails when it is sent
	// (not_friend).
	Members map[string][]string
	// MonthlyLimit is how many mass messages a customer receives a month
	// (Beijing time); 0 is the month's days. Past it, a send fails for the
	// customer (status 3).
	MonthlyLimit int
	// Now is the fake's clock (time.Now if nil).
	Now func() time.Time
	// CorpTags are the corp tag ids (企业标签) mark_tag accepts; another
	// id is refused (40068).
	CorpTags []string

	mu       sync.Mutex
	tokens   map[string]bool // token → still valid
	fetches  int
	calls    map[string]int
	errors   map[string][]int
	tasks    []*Task
	received map[string][]time.Time // external user id → mass messages received
	nextID   int
	marks    map[[2]string][]string // (member, external user id) → corp tags marked
}

// New starts a fake for corp corpID with secret.
func New(corpID, secret string) *Server {
	s := &Server{CorpID: corpID, Secret: secret, TokenTTL: 7200, tokens: map[string]bool{}, calls: map[string]int{},
		errors: map[string][]int{}, received: map[string][]time.Time{}, marks: map[[2]string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", s.gettoken)
	for api, h := range map[string]func(http.ResponseWriter, []byte){
		"add_msg_template":         s.addMsgTemplate,
		"get_groupmsg_task":        s.getTask,
		"get_groupmsg_send_result": s.getSendResult,
		"remind_groupmsg_send":     s.remind,
		"cancel_groupmsg_send":     s.cancel,
		"mark_tag":                 s.markTag,
	} {
		mux.HandleFunc("POST /cgi-bin/externalcontact/"+api, s.authed(api, h))
	}
	s.Server = httptest.NewServer(mux)
	return s
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func reply(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if _, ok := v["errcode"]; !ok {
		v["errcode"], v["errmsg"] = 0, "ok"
	}
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	reply(w, map[string]any{"errcode": code, "errmsg": msg})
}

func (s *Server) gettoken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["gettoken"]++
	if code := s.injected("gettoken"); code != 0 {
		fail(w, code, "injected")
		return
	}
	switch {
	case q.Get("corpid") != s.CorpID:
		fail(w, 40013, "invalid corpid")
	case q.Get("corpsecret") != s.Secret:
		fail(w, 40001, "invalid credential")
	default:
		s.fetches++
		tok := fmt.Sprintf("token-%d", s.fetches)
		s.tokens[tok] = true
		reply(w, map[string]any{"access_token": tok, "expires_in": s.TokenTTL})
	}
}

// authed checks the access token, reads the body, and calls h under the
// lock; an injected error answers first.
func (s *Server) authed(api string, h func(http.ResponseWriter, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		var body json.RawMessage
		decodeErr := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls[api]++
		valid, known := s.tokens[tok]
		switch {
		case tok == "":
			fail(w, 41001, "access_token missing")
		case !known:
			fail(w, 40014, "invalid access_token")
		case !valid:
			fail(w, 42001, "access_token expired")
		case decodeErr != nil:
			fail(w, 47001, "data format error")
		default:
			if code := s.injected(api); code != 0 {
				fail(w, code, "injected")
				return
			}
			h(w, body)
		}
	}
}

func (s *Server) injected(api string) int {
	if q := s.errors[api]; len(q) > 0 {
		s.errors[api] = q[1:]
		return q[0]
	}
	return 0
}

func (s *Server) isMember(userid string) bool {
	_, ok := s.Members[userid]
	return ok
}

func (s *Server) isContact(userid, ext string) bool {
	return slices.Contains(s.Members[userid], ext)
}

// chooser returns the member WeCom gives a customer's task to when the
// request names no sender: the first member, by userid, who has them.
func (s *Server) chooser(ext string) string {
	ids := make([]string, 0, len(s.Members))
	for id := range s.Members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if s.isContact(id, ext) {
			return id
		}
	}
	return ""
}

// markTag marks and unmarks corp tags on a member's external contact:
// the member must have the contact (84061), the tags must be corp tags
// (40068), and add_tag and remove_tag may not both be empty (40063).
func (s *Server) markTag(w http.ResponseWriter, body []byte) {
	var req struct {
		UserID         string   `json:"userid"`
		ExternalUserID string   `json:"external_userid"`
		AddTag         []string `json:"add_tag"`
		RemoveTag      []string `json:"remove_tag"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, 47001, "data format error")
		return
	}
	switch {
	case req.UserID == "" || req.ExternalUserID == "" || (len(req.AddTag) == 0 && len(req.RemoveTag) == 0):
		fail(w, 40063, "some parameters are empty")
		return
	case !s.isMember(req.UserID):
		fail(w, 60111, "userid not found")
		return
	case !s.isContact(req.UserID, req.ExternalUserID):
		fail(w, 84061, "not external contact")
		return
	}
	for _, t := range slices.Concat(req.AddTag, req.RemoveTag) {
		if !slices.Contains(s.CorpTags, t) {
			fail(w, 40068, "invalid tagid")
			return
		}
	}
	k := [2]string{req.UserID, req.ExternalUserID}
	tags := slices.DeleteFunc(slices.Clone(s.marks[k]), func(t string) bool { return slices.Contains(req.RemoveTag, t) })
	for _, t := range req.AddTag {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	s.marks[k] = tags
	reply(w, map[string]any{})
}

// Marked returns the corp tags marked on a member's contact, sorted.
func (s *Server) Marked(userid, ext string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.marks[[2]string{userid, ext}])
}

func (s *Server) addMsgTemplate(w http.ResponseWriter, body []byte) {
	var req struct {
		ChatType       string   `json:"chat_type"`
		ExternalUserID []string `json:"external_userid"`
		Sender         string   `json:"sender"`
		Text           *struct {
			Content string `json:"content"`
		} `json:"text"`
		Attachments []Attachment `json:"attachments"`
	}
	if err := json.Unmarshal(body, &req); err != nil || (req.ChatType != "" && req.ChatType != "single") {
		fail(w, 40058, "invalid parameter: chat_type must be single")
		return
	}
	content := ""
	if req.Text != nil {
		content = req.Text.Content
	}
	switch {
	case len(req.ExternalUserID) == 0:
		fail(w, 40063, "external_userid is empty")
		return
	case len(req.ExternalUserID) > 10000:
		fail(w, 40058, "more than 10000 external_userid")
		return
	case content == "" && len(req.Attachments) == 0:
		fail(w, 40063, "text and attachments are empty")
		return
	case len(content) > 4000:
		fail(w, 40058, "text.content longer than 4000 bytes")
		return
	case len(req.Attachments) > 9:
		fail(w, 40058, "more than 9 attachments")
		return
	case req.Sender != "" && !s.isMember(req.Sender):
		fail(w, 40003, "invalid userid: "+req.Sender)
		return
	}
	for _, a := range req.Attachments {
		var fields map[string]string
		switch a.MsgType {
		case "link":
			fields = a.Link
		case "miniprogram":
			fields = a.MiniProgram
		case "image":
			fields = a.Image
		}
		if len(fields) == 0 {
			fail(w, 40058, "invalid attachment: msgtype "+strconv.Quote(a.MsgType))
			return
		}
	}
	s.nextID++
	msgid := fmt.Sprintf("msgGAAA%04d", s.nextID)
	byMember := map[string]*Task{}
	failed := []string{}
	for _, ext := range req.ExternalUserID {
		member := req.Sender
		if member == "" {
			member = s.chooser(ext)
		}
		if member == "" || s.chooser(ext) == "" {
			failed = append(failed, ext)
			continue
		}
		t := byMember[member]
		if t == nil {
			t = &Task{MsgID: msgid, Sender: member, Text: content, Attachments: req.Attachments, Customers: map[string]int{}, Created: s.now()}
			byMember[member] = t
			s.tasks = append(s.tasks, t)
		}
		t.Customers[ext] = StatusUnsent
	}
	if len(byMember) == 0 {
		fail(w, 41048, "no customer to send to")
		return
	}
	reply(w, map[string]any{"fail_list": failed, "msgid": msgid})
}

// page returns items [from, from+limit) and the next cursor.
func page(cursor string, limit, n int) (from, to int, next string) {
	from, _ = strconv.Atoi(cursor)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	from = min(max(from, 0), n)
	to = min(from+limit, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next
}

type pageReq struct {
	MsgID  string `json:"msgid"`
	UserID string `json:"userid"`
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
}

func (s *Server) tasksOf(msgid string) []*Task {
	var out []*Task
	for _, t := range s.tasks {
		if t.MsgID == msgid {
			out = append(out, t)
		}
	}
	return out
}

// request decodes a request naming a msgid and returns it with the
// tasks of that msgid; false (answered with 40058) when there are none.
func (s *Server) request(w http.ResponseWriter, body []byte) (pageReq, []*Task, bool) {
	var req pageReq
	_ = json.Unmarshal(body, &req)
	ts := s.tasksOf(req.MsgID)
	if len(ts) == 0 {
		fail(w, 40058, "invalid msgid")
		return req, nil, false
	}
	return req, ts, true
}

func (s *Server) getTask(w http.ResponseWriter, body []byte) {
	req, ts, ok := s.request(w, body)
	if !ok {
		return
	}
	from, to, next := page(req.Cursor, req.Limit, len(ts))
	list := []map[string]any{}
	for _, t := range ts[from:to] {
		st := 0
		if !t.SentAt.IsZero() {
			st = 2
		}
		list = append(list, map[string]any{"userid": t.Sender, "status": st, "send_time": unix(t.SentAt)})
	}
	reply(w, map[string]any{"next_cursor": next, "task_list": list})
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *Server) getSendResult(w http.ResponseWriter, body []byte) {
	req, ts, ok := s.request(w, body)
	if !ok {
		return
	}
	var t *Task
	for _, x := range ts {
		if x.Sender == req.UserID {
			t = x
		}
	}
	list := []map[string]any{}
	next := ""
	if t != nil {
		exts := make([]string, 0, len(t.Customers))
		for ext := range t.Customers {
			exts = append(exts, ext)
		}
		slices.Sort(exts)
		var from, to int
		from, to, next = page(req.Cursor, req.Limit, len(exts))
		for _, ext := range exts[from:to] {
			st := t.Customers[ext]
			e := map[string]any{"external_userid": ext, "userid": t.Sender, "status": st}
			if st == StatusSent {
				e["send_time"] = t.SentAt.Unix()
			}
			list = append(list, e)
		}
	}
	reply(w, map[string]any{"next_cursor": next, "send_list": list})
}

func (s *Server) remind(w http.ResponseWriter, body []byte) {
	_, ts, ok := s.request(w, body)
	if !ok {
		return
	}
	now := s.now()
	for _, t := range ts {
		n := 0
		for _, at := range t.Reminders {
			if now.Sub(at) < 24*time.Hour {
				n++
			}
		}
		if n >= 3 {
			fail(w, 45009, "reminded three times in 24 hours")
			return
		}
	}
	for _, t := range ts {
		if t.SentAt.IsZero() && !t.Cancelled {
			t.Reminders = append(t.Reminders, now)
		}
	}
	reply(w, map[string]any{})
}

func (s *Server) cancel(w http.ResponseWriter, body []byte) {
	_, ts, ok := s.request(w, body)
	if !ok {
		return
	}
	for _, t := range ts {
		t.Cancelled = true
	}
	reply(w, map[string]any{})
}

// Confirm sends, as the guide userid, every task of theirs not sent or
// cancelled yet, and returns how many customers received a message. A
// customer no longer the guide's contact fails (not a friend), and so
// does one past the monthly limit (received other mass messages).
func (s *Server) Confirm(userid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	now := s.now()
	for _, t := range s.tasks {
		if t.Sender != userid || t.Cancelled || !t.SentAt.IsZero() {
			continue
		}
		t.SentAt = now
		for ext := range t.Customers {
			switch {
			case !s.isContact(userid, ext):
				t.Customers[ext] = StatusNotFriend
			case s.receivedThisMonth(ext, now) >= s.limit(now):
				t.Customers[ext] = StatusReceivedOther
			default:
				t.Customers[ext] = StatusSent
				s.received[ext] = append(s.received[ext], now)
				n++
			}
		}
	}
	return n
}

var beijing = time.FixedZone("CST", 8*3600)

func (s *Server) limit(now time.Time) int {
	if s.MonthlyLimit > 0 {
		return s.MonthlyLimit
	}
	t := now.In(beijing)
	return time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, beijing).Day()
}

func (s *Server) receivedThisMonth(ext string, now time.Time) int {
	t := now.In(beijing)
	n := 0
	for _, at := range s.received[ext] {
		a := at.In(beijing)
		if a.Year() == t.Year() && a.Month() == t.Month() {
			n++
		}
	}
	return n
}

// Tasks returns a copy of the tasks created so far, in order.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Task, len(s.tasks))
	for i, t := range s.tasks {
		out[i] = *t
		out[i].Customers = make(map[string]int, len(t.Customers))
		for k, v := range t.Customers {
			out[i].Customers[k] = v
		}
		out[i].Reminders = slices.Clone(t.Reminders)
	}
	return out
}

// Received returns the messages customers received, by confirmed tasks.
func (s *Server) Received() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Sent
	for _, t := range s.tasks {
		for ext, st := range t.Customers {
			if st == StatusSent {
				out = append(out, Sent{MsgID: t.MsgID, Sender: t.Sender, ExternalUserID: ext, Content: t.Text})
			}
		}
	}
	return out
}

// ExpireTokens makes every token issued so far expired: the next call
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

// Calls counts the calls of an API ("add_msg_template", "gettoken", …).
func (s *Server) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// InjectErrors queues errcodes for the next calls of api, one each,
// before it answers normally again.
func (s *Server) InjectErrors(api string, codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors[api] = append(s.errors[api], codes...)
}
