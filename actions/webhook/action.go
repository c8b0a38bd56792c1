package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/koihq/koi/actions"
)

var _ actions.Action = (*Action)(nil)

// Action posts the fire and the customer's profile to a configured
// webhook endpoint, for a brand's own systems: `webhook: { endpoint: crm }`.
// The URL and secret live in koi.yaml, never in a playbook.
type Action struct {
	// Endpoint names a channel of type webhook in koi.yaml.
	Endpoint string `yaml:"endpoint"`
}

// NewAction returns an undecoded webhook action for the registry.
func NewAction() actions.Action { return &Action{} }

// Body is what the webhook action posts.
type Body struct {
	Key        string                    `json:"key"`
	Playbook   string                    `json:"playbook"`
	Rule       string                    `json:"rule"`
	FireID     int64                     `json:"fire_id"`
	RunID      int64                     `json:"run_id"`
	CustomerID string                    `json:"customer_id"`
	At         time.Time                 `json:"at"`
	Profile    map[string]any            `json:"profile"`
	Results    map[string]actions.Result `json:"results,omitempty"`
}

// payload is the job: the endpoint's name and the body.
type payload struct {
	Endpoint string `json:"endpoint"`
	Body     Body   `json:"body"`
}

// Validate requires an endpoint, known when the deployment is.
func (a *Action) Validate(lc actions.LoadContext) error {
	switch {
	case strings.TrimSpace(a.Endpoint) == "":
		return actions.Errorf("endpoint", "is required: name a webhook channel configured in koi.yaml")
	case lc.Channels != nil && !slices.Contains(lc.Channels, a.Endpoint):
		return actions.Errorf("endpoint", "unknown endpoint %q (configured channels: %s)", a.Endpoint, strings.Join(lc.Channels, ", "))
	}
	return nil
}

// Do enqueues the post. The profile is taken now, as the rule saw it.
func (a *Action) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	key := fmt.Sprintf("%s#%d", f.Key, f.Index)
	// The job goes out on the endpoint's channel: its rate applies, and
	// a customer who opted out of every channel ("*"), or of this
	// endpoint by name, is not posted about. It is no message to the
	// customer, so contact caps and quiet hours do not count it.
	err := fx.Enqueue(actions.Job{Kind: Kind, Channel: a.Endpoint, NotContact: true, Payload: payload{Endpoint: a.Endpoint, Body: Body{
		Key: key, Playbook: f.Playbook, Rule: f.Rule, FireID: f.FireID, RunID: f.RunID, CustomerID: f.CustomerID,
		At: f.At, Profile: f.Profile(), Results: f.Results,
	}}})
	if err != nil {
		return nil, err
	}
	return actions.Result{"endpoint": a.Endpoint}, nil
}

// NewWorker returns the worker that posts webhook action jobs.
func NewWorker(wc actions.WorkerContext) (actions.Worker, error) {
	return actions.WorkerFunc(func(ctx context.Context, d *actions.Delivery) error {
		var p struct {
			Endpoint string          `json:"endpoint"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			return actions.Permanentf("decode webhook job: %v", err)
		}
		ch, ok := wc.Channels[p.Endpoint]
		if !ok {
			return actions.Permanentf("endpoint %q is no longer configured", p.Endpoint)
		}
		ep, ok := ch.(*Endpoint)
		if !ok {
			return actions.Permanentf("channel %q is not of type webhook", p.Endpoint)
		}
		return ep.Post(ctx, d.Key, p.Body)
	}), nil
}
