// Package webhook posts JSON to a brand's own systems, signed with
// HMAC-SHA256: the `webhook` channel type sends messages that way, and the
// `webhook` action posts a fire and the customer's profile.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/koihq/koi/actions"
)

// Type is the channel type's name in koi.yaml, and Kind the action's.
const (
	Type = "webhook"
	Kind = "webhook"
)

var _ actions.Channel = (*Endpoint)(nil)

// Endpoint is a configured receiver:
//
//	channels:
//	  crm: { type: webhook, url: https://crm.example.com/koi, secret_env: KOI_CRM_SECRET, timeout: 5s }
type Endpoint struct {
	// URL receives the POSTs.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the signing secret.
	// Without one, requests are not signed.
	SecretEnv string `yaml:"secret_env"`
	// Timeout bounds one request (default 10s, and never more than the
	// dispatcher's own timeout).
	Timeout actions.Duration `yaml:"timeout"`

	secret []byte
	client *http.Client
	now    func() time.Time
}

// New returns an unconfigured endpoint for the registry.
func New() actions.Channel { return &Endpoint{} }

// Open checks the URL and reads the secret.
func (e *Endpoint) Open(oc actions.OpenContext) error {
	var errs actions.Errors
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, actions.Errorf("url", "want an http(s) URL, got %q", e.URL))
	}
	if e.SecretEnv != "" {
		getenv := oc.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		s := getenv(e.SecretEnv)
		if s == "" {
			errs = append(errs, actions.Errorf("secret_env", "environment variable %s is empty or unset", e.SecretEnv))
		}
		e.secret = []byte(s)
	}
	if e.Timeout < 0 {
		errs = append(errs, actions.Errorf("timeout", "must be positive"))
	}
	if e.Timeout == 0 {
		e.Timeout = actions.Duration(10 * time.Second)
	}
	e.client = oc.HTTPClient
	if e.client == nil {
		e.client = http.DefaultClient
	}
	e.now = time.Now
	return errs.Err()
}

// Send posts the message as JSON.
func (e *Endpoint) Send(ctx context.Context, m *actions.Message) error {
	return e.Post(ctx, m.Key, m)
}

// Post sends v as JSON with the idempotency key, and maps the response to
// the dispatcher's contract: 2xx delivered; 408, 429 and 5xx retried
// (after Retry-After, when given); any other status given up.
func (e *Endpoint) Post(ctx context.Context, key string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return actions.Permanentf("encode body: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout.Std())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return actions.Permanentf("build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "koi")
	req.Header.Set("Idempotency-Key", key)
	if e.secret != nil {
		req.Header.Set(SignatureHeader, Sign(e.secret, e.now(), body))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", e.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("post %s: %s: %s", e.URL, resp.Status, bytes.TrimSpace(snippet))
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			return actions.RetryAfter(time.Duration(s)*time.Second, err)
		}
		return err
	default:
		return actions.Permanentf("post %s: %s: %s", e.URL, resp.Status, bytes.TrimSpace(snippet))
	}
}
