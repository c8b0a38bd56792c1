// Package message is the built-in `message` action: it renders a text
// template for the customer and hands it to a configured channel through
// the outbox. Its worker delivers the job with that channel.
package message

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name and its jobs' kind.
const Kind = "message"

var (
	_ actions.Action      = (*Message)(nil)
	_ actions.Messenger   = (*Message)(nil)
	_ actions.Warner      = (*Message)(nil)
	_ actions.Batched     = (*Message)(nil)
	_ actions.BatchWorker = worker{}
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
	// Attachments go with the text, each one of link, miniprogram or
	// image: `attachments: [{ link: { title: 会员日, url: "https://…" } }]`.
	Attachments []actions.Attachment `yaml:"attachments"`

	tmpl     *actions.Template
	batches  bool
	warnings []string
}

// New returns an undecoded message action for the registry.
func New() actions.Action { return &Message{} }

// Payload is what a message job carries: the text is rendered when the
// fire happens, so the customer gets what the playbook said then.
type Payload struct {
	Channel     string               `json:"channel"`
	Text        string               `json:"text"`
	Attachments []actions.Attachment `json:"attachments,omitempty"`
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
	errs = append(errs, validateAttachments(m.Attachments)...)
	if strings.TrimSpace(m.Template) == "" {
		return append(errs, actions.Errorf("template", "is required"))
	}
	t, err := actions.ParseTemplate("template", m.Template, lc)
	if err != nil {
		return append(errs, err)
	}
	m.tmpl = t
	shape, shaped := lc.Shapes[m.Channel]
	if !shaped {
		return errs.Err()
	}
	if n := len(m.Attachments); n > shape.MaxAttachments {
		if shape.MaxAttachments == 0 {
			errs = append(errs, actions.Errorf("attachments", "channel %s sends no attachments", m.Channel))
		} else {
			errs = append(errs, actions.Errorf("attachments", "%d attachments, channel %s takes at most %d", n, m.Channel, shape.MaxAttachments))
		}
	}
	if shape.MaxTextBytes > 0 {
		text, err := t.RenderSample(lc)
		if err == nil && len(text) > shape.MaxTextBytes {
			errs = append(errs, actions.Errorf("template", "renders to %d bytes for the sample customer, channel %s takes at most %d (a Chinese character is 3 bytes)",
				len(text), m.Channel, shape.MaxTextBytes))
		}
	}
	m.batches = shape.Batches
	if shape.Batches && t.Personal() {
		m.warnings = append(m.warnings, fmt.Sprintf("the message on %s is personalised ({{...}} in its template): each customer becomes a task of their own, "+
			"one confirmation for their guide per customer; a text the same for everyone goes out as one task per guide (koi preview counts the tasks per guide)", m.Channel))
	}
	return errs.Err()
}

// Warnings says when a message on a batching channel (WeCom) is
// personalised, which costs the guides one confirmation per customer.
func (m *Message) Warnings() []string { return m.warnings }

// Batching says the message's channel when it batches there, and whether
// its text differs per customer.
func (m *Message) Batching() (string, bool) {
	if !m.batches {
		return "", false
	}
	return m.Channel, m.tmpl.Personal()
}

// Channels is the one channel the message goes out on.
func (m *Message) Channels() []string { return []string{m.Channel} }

// Do renders the message and enqueues it.
func (m *Message) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	text, err := m.tmpl.Render(f)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	p := Payload{Channel: m.Channel, Text: text, Attachments: m.Attachments}
	job := actions.Job{Kind: Kind, Channel: m.Channel, Payload: p}
	if m.batches {
		job.Batch = batchKey(p)
	}
	if err := fx.Enqueue(job); err != nil {
		return nil, err
	}
	return actions.Result{"channel": m.Channel, "text": text}, nil
}

// batchKey is the same for messages with the same channel, text and
// attachments: the dispatcher delivers those together when they are due
// together, and the channel makes one task per sender of them.
func batchKey(p Payload) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return p.Channel + ":" + hex.EncodeToString(sum[:12])
}

// NewWorker returns the worker that sends message jobs with the configured
// channels.
func NewWorker(wc actions.WorkerContext) (actions.Worker, error) {
	return worker{channels: wc.Channels}, nil
}

type worker struct {
	channels map[string]actions.Channel
}

// Deliver sends one message job.
func (w worker) Deliver(ctx context.Context, d *actions.Delivery) error {
	return w.DeliverBatch(ctx, []*actions.Delivery{d})[0]
}

// DeliverBatch sends message jobs of one batch: in one call when their
// channel is a BatchSender, else one by one.
func (w worker) DeliverBatch(ctx context.Context, ds []*actions.Delivery) []error {
	errs := make([]error, len(ds))
	byChannel := map[string][]int{}
	msgs := make([]*actions.Message, len(ds))
	for i, d := range ds {
		var p Payload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			errs[i] = actions.Permanentf("decode message job: %v", err)
			continue
		}
		if _, ok := w.channels[p.Channel]; !ok {
			errs[i] = actions.Permanentf("channel %q is no longer configured", p.Channel)
			continue
		}
		msgs[i] = &actions.Message{Key: d.Key, Channel: p.Channel, Text: p.Text, Attachments: p.Attachments, Playbook: d.Playbook, Rule: d.Rule,
			FireID: d.FireID, CustomerID: d.CustomerID, To: d.Contact}
		byChannel[p.Channel] = append(byChannel[p.Channel], i)
	}
	for name, idx := range byChannel {
		ch := w.channels[name]
		if bs, ok := ch.(actions.BatchSender); ok && len(idx) > 1 {
			batch := make([]*actions.Message, len(idx))
			for k, i := range idx {
				batch[k] = msgs[i]
			}
			for k, err := range bs.SendBatch(ctx, batch) {
				errs[idx[k]] = err
			}
		} else {
			for _, i := range idx {
				errs[i] = ch.Send(ctx, msgs[i])
			}
		}
		for _, i := range idx {
			if errs[i] == nil {
				ds[i].Receipt = msgs[i].Receipt
			}
		}
	}
	return errs
}
