// Package wecom is the `wecom` channel type: it sends a customer a text
// through WeCom's (企业微信) external-contact message API, from their
// guide's account when they have one.
//
// A message is created with POST /cgi-bin/externalcontact/add_msg_template
// (chat_type single, one external_userid, the guide as sender); WeCom then
// puts it in the guide's client to send. The access token from
// GET /cgi-bin/gettoken is cached until shortly before it expires, and
// fetched again when WeCom says it is invalid or expired.
//
// The client is hand-written rather than taken from a Go WeCom SDK: the
// SDKs on the module proxy that cover add_msg_template
// (silenceper/wechat's work package and its forks) hard-code
// https://qyapi.weixin.qq.com in their URL constants, so they cannot be
// pointed at a test server or a proxy, and they bring a cache
// abstraction and dozens of APIs koi does not call. Two endpoints with
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

var _ actions.Channel = (*Channel)(nil)

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
	// configured guide. Empty: WeCom offers the message to every member
	// who has the customer as a contact.
	Sender string `yaml:"sender"`

	secret  string
	senders map[string]string // guide id → WeCom userid
	client  *http.Client
	now     func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns an unconfigured channel for the registry.
func New() actions.Channel { return &Channel{} }

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
	return errs.Err()
}

// textMessage is add_msg_template's request for one customer.
type textMessage struct {
	ChatType       string   `json:"chat_type"`
	ExternalUserID []string `json:"external_userid"`
	Sender         string   `json:"sender,omitempty"`
	Text           struct {
		Content string `json:"content"`
	} `json:"text"`
}

// reply is the part of WeCom's replies koi reads.
type reply struct {
	ErrCode     int      `json:"errcode"`
	ErrMsg      string   `json:"errmsg"`
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	FailList    []string `json:"fail_list"`
	MsgID       string   `json:"msgid"`
}

// Send creates the message for the customer's guide to send.
func (c *Channel) Send(ctx context.Context, m *actions.Message) error {
	if m.To.WeComID == "" {
		return actions.Permanentf("customer %s has no WeCom external user id (wecom_id)", m.To.CustomerID)
	}
	msg := textMessage{ChatType: "single", ExternalUserID: []string{m.To.WeComID}, Sender: c.Sender}
	if s, ok := c.senders[m.To.Guide]; ok {
		msg.Sender = s
	}
	msg.Text.Content = m.Text
	body, err := json.Marshal(msg)
	if err != nil {
		return actions.Permanentf("encode message: %v", err)
	}
	for try := 0; ; try++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		r, err := c.call(ctx, http.MethodPost, "/cgi-bin/externalcontact/add_msg_template", url.Values{"access_token": {token}}, body)
		if err != nil {
			return err
		}
		if tokenRejected(r.ErrCode) && try == 0 {
			c.forget(token) // expired early, or revoked: fetch a new one and try once more
			continue
		}
		if r.ErrCode != 0 {
			return classify("add_msg_template", r)
		}
		if len(r.FailList) > 0 {
			return actions.Permanentf("add_msg_template: WeCom refused %s (fail_list): not a contact of sender %q, or over the monthly limit", m.To.WeComID, msg.Sender)
		}
		return nil
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
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
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

// unwrapURL drops *url.Error's URL, which holds the secret or token.
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
