// Package loyalty is a third-party koi plugin: the `award_points` action
// awards loyalty points in a brand's points system (积分), and the
// `loyalty` channel type is that system's API client.
//
//	# koi.yaml
//	channels:
//	  points: { type: loyalty, base_url: https://points.example.com, token_env: LOYALTY_TOKEN }
//
//	# a playbook
//	actions:
//	  - award_points: { points: 200, reason: "生日礼", via: points }
//	  - message: { channel: wecom, template: "生日快乐!送您{{.award_points.points}}积分" }
//
// The action decides at the fire (inside its transaction) and enqueues a
// job; the worker calls the points system later, with retries, sending
// the job's idempotency key so a retried call awards nothing twice.
package loyalty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
)

// Kind is the action's name in playbooks and its jobs' kind; Type is the
// channel type's name in koi.yaml.
const (
	Kind = "award_points"
	Type = "loyalty"
)

// Interface guards: the compiler checks the contract.
var (
	_ actions.Action  = (*AwardPoints)(nil)
	_ actions.Sampler = (*AwardPoints)(nil)
	_ actions.Channel = (*Client)(nil)
)

// Register adds the action, its worker and the channel type to r. A
// custom koi passes it to cli.Main next to builtin.Register.
func Register(r *actions.Registry) {
	r.Add(Kind, func() actions.Action { return &AwardPoints{} })
	r.AddWorker(Kind, NewWorker)
	r.AddChannel(Type, func() actions.Channel { return &Client{} })
}

// AwardPoints awards points: `award_points: { points: 200, reason: 生日礼, via: points }`.
type AwardPoints struct {
	// Points to award, 1 to 100,000.
	Points int `yaml:"points"`
	// Reason shows in the customer's points history.
	Reason string `yaml:"reason"`
	// Via names the loyalty channel configured in koi.yaml.
	Via string `yaml:"via"`
}

// Validate runs when the playbook loads; a *FieldError points at the key.
func (a *AwardPoints) Validate(lc actions.LoadContext) error {
	var errs actions.Errors
	if a.Points < 1 || a.Points > 100_000 {
		errs = append(errs, actions.Errorf("points", "want 1 to 100000 points, got %d", a.Points))
	}
	if strings.TrimSpace(a.Reason) == "" {
		errs = append(errs, actions.Errorf("reason", "is required: customers see it in their points history"))
	}
	switch {
	case a.Via == "":
		errs = append(errs, actions.Errorf("via", "is required: name a channel of type loyalty in koi.yaml"))
	case lc.Channels != nil && !slices.Contains(lc.Channels, a.Via):
		errs = append(errs, actions.Errorf("via", "unknown channel %q (configured: %s)", a.Via, strings.Join(lc.Channels, ", ")))
	}
	return errs.Err()
}

// Award is the job's payload: everything the worker needs, fixed when the
// fire happened.
type Award struct {
	Via        string `json:"via"`
	CustomerID string `json:"customer_id"`
	Points     int    `json:"points"`
	Reason     string `json:"reason"`
}

// Do runs in the fire's transaction: it only enqueues. If the fire rolls
// back, the job never existed.
func (a *AwardPoints) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	job := actions.Job{Kind: Kind, Payload: Award{Via: a.Via, CustomerID: f.CustomerID, Points: a.Points, Reason: a.Reason}}
	if err := fx.Enqueue(job); err != nil {
		return nil, err
	}
	return actions.Result{"points": a.Points, "reason": a.Reason}, nil
}

// SampleResult lets later templates quote {{.award_points.points}}.
func (a *AwardPoints) SampleResult() actions.Result {
	return actions.Result{"points": a.Points, "reason": a.Reason}
}

// NewWorker returns the worker that delivers award jobs through the
// configured loyalty channels.
func NewWorker(wc actions.WorkerContext) (actions.Worker, error) {
	return actions.WorkerFunc(func(ctx context.Context, d *actions.Delivery) error {
		var aw Award
		if err := json.Unmarshal(d.Payload, &aw); err != nil {
			return actions.Permanentf("decode award: %v", err)
		}
		c, ok := wc.Channels[aw.Via].(*Client)
		if !ok {
			return actions.Permanentf("channel %q is not a configured loyalty channel", aw.Via)
		}
		return c.Award(ctx, d.Key, aw)
	}), nil
}

// Client is the points system's API, configured as a channel.
type Client struct {
	// BaseURL is the points system's API root.
	BaseURL string `yaml:"base_url"`
	// TokenEnv names the environment variable holding its API token.
	TokenEnv string `yaml:"token_env"`

	token string
	http  *http.Client
}

// Open validates the configuration when koi starts delivering.
func (c *Client) Open(oc actions.OpenContext) error {
	var errs actions.Errors
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, actions.Errorf("base_url", "want an http(s) URL, got %q", c.BaseURL))
	}
	if c.TokenEnv == "" || oc.Getenv(c.TokenEnv) == "" {
		errs = append(errs, actions.Errorf("token_env", "name an environment variable holding the API token"))
	} else {
		c.token = oc.Getenv(c.TokenEnv)
	}
	c.http = oc.HTTPClient
	if c.http == nil {
		c.http = http.DefaultClient
	}
	return errs.Err()
}

// Send is the Channel method for messages: a points system sends none.
func (c *Client) Send(context.Context, *actions.Message) error {
	return actions.Permanentf("a loyalty channel sends no messages; use it with award_points")
}

// Award calls POST {base_url}/v1/members/{id}/points. 2xx and 409 (that
// key was awarded already) are done; 429 and 5xx are retried; any other
// status gives up.
func (c *Client) Award(ctx context.Context, key string, aw Award) error {
	body, _ := json.Marshal(map[string]any{"points": aw.Points, "reason": aw.Reason})
	u := strings.TrimRight(c.BaseURL, "/") + "/v1/members/" + url.PathEscape(aw.CustomerID) + "/points"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return actions.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err // retried with backoff
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	switch s := resp.StatusCode; {
	case s/100 == 2 || s == http.StatusConflict:
		return nil
	case s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("award points: %s", resp.Status)
	default:
		return actions.Permanentf("award points: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
}
