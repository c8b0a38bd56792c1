// Package message is the built-in `message` action: it renders a text
// template for the customer and hands it to a configured channel through
// the outbox. Its worker delivers the job with that channel.
package message

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name and its jobs' kind.
const Kind = "message"

var (
	_ actions.Action    = (*Message)(nil)
	_ actions.Messenger = (*Message)(nil)
)

// Message sends a templated text:
// `message: { channel: wecom, template: "{{.name}},送您{{.coupon.amount}}元券" }`.
//
// The template is Go's text/template over the customer's profile (`.name`,
// `.recency_days`, `.rfm.segment`, …) and the results of the rule's earlier
// actions by kind (`.coupon.code`, `.coupon.amount`). A name the data lacks
// is an error, found when the playbook loads: the template is tried on a
// sample profile then.
type Message struct {
	// Channel names a channel configured in koi.yaml.
	Channel string `yaml:"channel"`
	// Template is the text to send.
	Template string `yaml:"template"`

	tmpl *actions.Template
}

// New returns an undecoded message action for the registry.
func New() actions.Action { return &Message{} }

// Payload is what a message job carries: the text is rendered when the
// fire happens, so the customer gets what the playbook said then.
type Payload struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

// Validate checks the channel and compiles the template, trying it on the
// sample profile.
func (m *Message) Validate(lc actions.LoadContext) error {
	var errs actions.Errors
	switch {
	case strings.TrimSpace(m.Channel) == "":
		errs = append(errs, actions.Errorf("channel", "is required: name a channel configured in koi.yaml, like log"))
	case lc.Channels != nil && !slices.Contains(lc.Channels, m.Channel):
		errs = append(errs, actions.Errorf("channel", "unknown channel %q (configured: %s)", m.Channel, strings.Join(lc.Channels, ", ")))
	}
	if strings.TrimSpace(m.Template) == "" {
		return append(errs, actions.Errorf("template", "is required"))
	}
	t, err := actions.ParseTemplate("template", m.Template, lc)
	if err != nil {
		return append(errs, err)
	}
	m.tmpl = t
	return errs.Err()
}

// Channels is the one channel the message goes out on.
func (m *Message) Channels() []string { return []string{m.Channel} }

// Do renders the message and enqueues it.
func (m *Message) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	text, err := m.tmpl.Render(f)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := fx.Enqueue(actions.Job{Kind: Kind, Channel: m.Channel, Payload: Payload{Channel: m.Channel, Text: text}}); err != nil {
		return nil, err
	}
	return actions.Result{"channel": m.Channel, "text": text}, nil
}

// NewWorker returns the worker that sends message jobs with the configured
// channels.
func NewWorker(wc actions.WorkerContext) (actions.Worker, error) {
	return actions.WorkerFunc(func(ctx context.Context, d *actions.Delivery) error {
		var p Payload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			return actions.Permanentf("decode message job: %v", err)
		}
		ch, ok := wc.Channels[p.Channel]
		if !ok {
			return actions.Permanentf("channel %q is no longer configured", p.Channel)
		}
		return ch.Send(ctx, &actions.Message{Key: d.Key, Channel: p.Channel, Text: p.Text, Playbook: d.Playbook, Rule: d.Rule,
			FireID: d.FireID, CustomerID: d.CustomerID, To: d.Contact})
	}), nil
}
