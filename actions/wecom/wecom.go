// Package wecom is the `wecom` channel type: it messages customers through
// WeCom's (企业微信) customer-contact mass messages (企业群发), from their
// guide's account when they have one.
//
// WeCom does not send such a message when koi creates it: POST
// /cgi-bin/externalcontact/add_msg_template creates a task that the
// sender (the guide) must confirm in their WeCom client, and only then
// does it go out. So a delivered job here is a created task (state
// task_created, with the task's msgid as its receipt), and the channel
// tracks it (Track): get_groupmsg_send_result says, per customer, whether
// the guide sent it (sent), or it failed because the customer is not the
// guide's contact (not_friend) or had received their mass messages for
// the month (skipped_received_other). A guide who has not confirmed is
// reminded (remind_groupmsg_send) after remind_after; a task whose
// customer opted out or whose job an operator cancelled is stopped
// (cancel_groupmsg_send), and so is one left unconfirmed for
// expire_after. Identical messages of one run for customers of one guide
// go into one task (SendBatch), up to WeCom's 10,000 customers a task:
// one confirmation for the guide, not one per customer.
//
// The access token from GET /cgi-bin/gettoken is cached until shortly
// before it expires, and fetched again when WeCom says it is invalid or
// expired.
//
// The client is hand-written rather than taken from a Go WeCom SDK: the
// SDKs on the module proxy that cover add_msg_template
// (silenceper/wechat's work package and its forks) hard-code
// https://qyapi.weixin.qq.com in their URL constants, so they cannot be
// pointed at a test server or a proxy, and they bring a cache
// abstraction and dozens of APIs koi does not call. Six endpoints with
// their error codes are less code than adapting one.
package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
)

// Type is the channel type's name in koi.yaml.
const Type = "wecom"

// DefaultBaseURL is WeCom's API host.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// WeCom's documented limits (创建企业群发, 提醒成员群发).
const (
	// MaxCustomersPerTask is the most external_userids of one task.
	MaxCustomersPerTask = 10_000
	// MaxTextBytes bounds text.content.
	MaxTextBytes = 4000
	// MaxAttachments bounds attachments.
	MaxAttachments = 9
	// maxReminders is how many reminders WeCom takes for one task in 24
	// hours: koi sends no more in all.
	maxReminders = 3
)

var (
	_ actions.Channel         = (*Channel)(nil)
	_ actions.BatchSender     = (*Channel)(nil)
	_ actions.Tracker         = (*Channel)(nil)
	_ actions.Shaper          = (*Channel)(nil)
	_ actions.CustomerLimiter = (*Channel)(nil)
	_ actions.Addressed       = (*Channel)(nil)
	_ actions.TagSyncer       = (*Channel)(nil)
)

// Channel is a configured WeCom corp:
//
//	channels:
//	  wecom: { type: wecom, corp_id: ww1234567890, secret_env: KOI_WECOM_SECRET }
type Channel struct {
	// BaseURL is WeCom's API host (default https://qyapi.weixin.qq.com);
	// point it at a proxy or a test server.
	BaseURL string `yaml:"base_url"`
	// CorpID is the corp's id (企业ID).
	CorpID string `yaml:"corp_id"`
	// SecretEnv names the environment variable holding the secret of the
	// customer-contact (客户联系) API or of an app allowed to call it.
	SecretEnv string `yaml:"secret_env"`
	// Sender is the WeCom userid to send from for customers without a
	// configured guide. Empty: WeCom gives the task to the member who last
	// chatted with the customer.
	Sender string `yaml:"sender"`
	// RemindAfter is how long a guide has to confirm a task before WeCom
	// is asked to remind them (default 4h; "0s" never reminds).
	RemindAfter *actions.Duration `yaml:"remind_after"`
	// Reminders is how many reminders a task gets at most, RemindAfter
	// apart (default 1, at most 3: WeCom's limit for a day).
	Reminders *int `yaml:"reminders"`
	// ExpireAfter is how long a task may wait unconfirmed: then koi stops
	// it (a birthday greeting a week late is worse than none) and records
	// its customers unsent (default 72h).
	ExpireAfter actions.Duration `yaml:"expire_after"`
	// PollEvery is how often koi asks WeCom what became of open tasks
	// (default 5m).
	PollEvery actions.Duration `yaml:"poll_every"`
	// MonthlyLimit is how many mass messages one customer may receive a
	// calendar month (Beijing time). Default 0: WeCom's documented limit,
	// as many as the month has days. koi suppresses a message past it
	// (reason channel_limit) rather than create a task WeCom would fail.
	MonthlyLimit int `yaml:"monthly_limit"`
	// Tags maps koi tags to WeCom corp tag ids (企业标签, from the admin
	// console or get_corp_tag_list): when a fire adds or removes one of
	// these tags, koi marks or unmarks the corp tag on the customer's
	// contact (mark_tag), as their guide's, so guides see it in WeCom.
	Tags map[string]string `yaml:"tags"`

	secret  string
	senders map[string]string // guide id → WeCom userid
	client  *http.Client
	now     func() time.Time
	log     interface{ Warn(string, ...any) }

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns an unconfigured channel for the registry.
func New() actions.Channel { return &Channel{} }

// beijing is WeCom's calendar for the monthly limit.
var beijing = time.FixedZone("CST", 8*3600)

// AddressField is the customer field WeCom reaches customers by: their
// external contact id.
func (c *Channel) AddressField() string { return "wecom_id" }

// MessageShape is WeCom's: text up to 4000 bytes, up to 9 attachments,
// and identical messages batched into one task per guide.
func (c *Channel) MessageShape() actions.MessageShape {
	return actions.MessageShape{MaxTextBytes: MaxTextBytes, MaxAttachments: MaxAttachments, Batches: true}
}

// CustomerLimit is the calendar month (Beijing time) holding t, and the
// mass messages a customer may receive in it.
func (c *Channel) CustomerLimit(t time.Time) (start, end time.Time, n int) {
	t = t.In(beijing)
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, beijing)
	end = start.AddDate(0, 1, 0)
	n = c.MonthlyLimit
	if n <= 0 {
		n = int(end.Sub(start).Hours() / 24)
	}
	return start, end, n
}

// TrackEvery is PollEvery.
func (c *Channel) TrackEvery() time.Duration { return time.Duration(c.PollEvery) }

// Open checks the configuration and reads the secret.
func (c *Channel) Open(oc actions.OpenContext) error {
	var errs actions.Errors
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, actions.Errorf("base_url", "want an http(s) URL, got %q", c.BaseURL))
	}
	if strings.TrimSpace(c.CorpID) == "" {
		errs = append(errs, actions.Errorf("corp_id", "is required: the corp's id (企业ID), from the admin console"))
	}
	if c.SecretEnv == "" {
		errs = append(errs, actions.Errorf("secret_env", "is required: the environment variable holding the customer-contact secret"))
	} else {
		if oc.Getenv != nil {
			c.secret = oc.Getenv(c.SecretEnv)
		}
		if c.secret == "" {
			errs = append(errs, actions.Errorf("secret_env", "environment variable %s is empty or unset", c.SecretEnv))
		}
	}
	errs = append(errs, c.defaults()...)
	errs = append(errs, c.checkTags()...)
	c.senders = make(map[string]string, len(oc.Guides))
	for _, g := range oc.Guides {
		c.senders[g.ID] = g.Sender()
	}
	c.client = oc.HTTPClient
	if c.client == nil {
		c.client = http.DefaultClient
	}
	if c.now == nil {
		c.now = time.Now
	}
	if oc.Logger != nil {
		c.log = oc.Logger
	}
	return errs.Err()
}

// defaults fills in and checks the tracking settings.
func (c *Channel) defaults() actions.Errors {
	var errs actions.Errors
	if c.RemindAfter == nil {
		d := actions.Duration(4 * time.Hour)
		c.RemindAfter = &d
	} else if *c.RemindAfter < 0 {
		errs = append(errs, actions.Errorf("remind_after", "must not be negative"))
	}
	if c.Reminders == nil {
		n := 1
		c.Reminders = &n
	} else if *c.Reminders < 0 || *c.Reminders > maxReminders {
		errs = append(errs, actions.Errorf("reminders", "want 0 to %d (WeCom takes %d reminders a day for one task), got %d", maxReminders, maxReminders, *c.Reminders))
	}
	if c.ExpireAfter == 0 {
		c.ExpireAfter = actions.Duration(72 * time.Hour)
	} else if c.ExpireAfter < 0 {
		errs = append(errs, actions.Errorf("expire_after", "must not be negative"))
	}
	if c.PollEvery == 0 {
		c.PollEvery = actions.Duration(5 * time.Minute)
	} else if c.PollEvery < actions.Duration(time.Second) {
		errs = append(errs, actions.Errorf("poll_every", "want at least 1s, got %s", c.PollEvery))
	}
	if c.MonthlyLimit < 0 {
		errs = append(errs, actions.Errorf("monthly_limit", "must not be negative"))
	}
	return errs
}

// sender returns the WeCom userid a customer's message goes out from.
func (c *Channel) sender(to actions.Contact) string {
	if s, ok := c.senders[to.Guide]; ok {
		return s
	}
	return c.Sender
}

// Send creates a task for one message; see SendBatch.
func (c *Channel) Send(ctx context.Context, m *actions.Message) error {
	return c.SendBatch(ctx, []*actions.Message{m})[0]
}

// call makes one request and decodes WeCom's reply; transport failures
// and 5xx are retried, other HTTP failures are given up.
func (c *Channel) call(ctx context.Context, method, path string, q url.Values, body []byte) (*reply, error) {
	u := c.BaseURL + path + "?" + q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, actions.Permanentf("build request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// The URL carries the secret or the token: name the path only.
		return nil, fmt.Errorf("wecom %s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	// A send result page of 1,000 customers is about 150 KB.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("wecom %s: read reply: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("wecom %s: %s", path, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, err
		}
		return nil, actions.Permanent(err)
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("wecom %s: reply is not JSON: %.80q", path, raw)
	}
	return &r, nil
}

// post calls a JSON API with the access token, fetching a new token and
// trying once more when WeCom rejects the cached one. A reply with an
// errcode is returned as an error (classify).
func (c *Channel) post(ctx context.Context, api string, req any) (*reply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, actions.Permanentf("encode %s: %v", api, err)
	}
	for try := 0; ; try++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		r, err := c.call(ctx, http.MethodPost, "/cgi-bin/externalcontact/"+api, url.Values{"access_token": {token}}, body)
		if err != nil {
			return nil, err
		}
		if tokenRejected(r.ErrCode) && try == 0 {
			c.forget(token) // expired early, or revoked: fetch a new one and try once more
			continue
		}
		if r.ErrCode != 0 {
			return nil, classify(api, r)
		}
		return r, nil
	}
}

// accessToken returns the cached token, fetching one when there is none
// or it is about to expire. Concurrent senders wait for one fetch.
func (c *Channel) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	r, err := c.call(ctx, http.MethodGet, "/cgi-bin/gettoken", url.Values{"corpid": {c.CorpID}, "corpsecret": {c.secret}}, nil)
	if err != nil {
		return "", err
	}
	if r.ErrCode != 0 || r.AccessToken == "" {
		return "", classify("gettoken", r)
	}
	ttl := time.Duration(r.ExpiresIn) * time.Second
	// Renew five minutes early (or at half-life for short tokens), so
	// that a token never expires between reading it and WeCom checking it.
	margin := min(5*time.Minute, ttl/2)
	c.token, c.expires = r.AccessToken, c.now().Add(ttl-margin)
	return c.token, nil
}

// forget drops token if it is still the cached one.
func (c *Channel) forget(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// unwrapURL drops *url.Error's URL, which holds the secret or token.
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
