// Package message is the built-in `message` action: it renders a text
// template for the customer and hands it to a configured channel through
// the outbox. Its worker delivers the job with that channel.
package message

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name and its jobs' kind.
const Kind = "message"

var _ actions.Action = (*Message)(nil)

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

	tmpl *template.Template
}

// New returns an undecoded message action for the registry.
func New() actions.Action { return &Message{} }

// Payload is what a message job carries: the text is rendered when the
// fire happens, so the customer gets what the playbook said then.
type Payload struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

// Validate checks the channel and compiles the template, then renders it
// against the sample profile so that a misspelt name fails now, not at
// 10 a.m. for a million customers.
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
	t, err := template.New(Kind).Option("missingkey=error").Parse(m.Template)
	if err != nil {
		return append(errs, templateError(m.Template, err))
	}
	m.tmpl = t
	if lc.Sample != nil {
		// attrs are free-form, so the sample has none: a template quoting
		// one is not checked here, and should say {{index .attrs "city"}},
		// which renders empty for a customer without it.
		if _, err := m.render(data(lc.Sample, lc.Earlier)); err != nil && !strings.Contains(err.Error(), "<.attrs.") {
			errs = append(errs, templateError(m.Template, err))
		}
	}
	return errs.Err()
}

// data is what the template sees: the profile, and earlier results by kind.
func data(profile map[string]any, results map[string]actions.Result) map[string]any {
	d := make(map[string]any, len(profile)+len(results))
	maps.Copy(d, profile)
	for kind, r := range results {
		d[kind] = map[string]any(r)
	}
	return d
}

func (m *Message) render(d map[string]any) (string, error) {
	var b strings.Builder
	if err := m.tmpl.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// templatePos finds "template: message:LINE:COL:" or "template: message:LINE:"
// in text/template's errors.
var templatePos = regexp.MustCompile(`^template: ` + Kind + `:(\d+)(?::(\d+))?: (.*)$`)

// templateError turns an error of template text into a FieldError
// pointing into it.
func templateError(text string, err error) error {
	msg := err.Error()
	fe := &actions.FieldError{Field: "template", Message: msg}
	if m := templatePos.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			// text/template counts bytes; editors count characters, and
			// a Chinese one is three bytes.
			col, _ := strconv.Atoi(m[2])
			if lines := strings.Split(text, "\n"); fe.Line <= len(lines) && col <= len(lines[fe.Line-1]) {
				col = utf8.RuneCountInString(lines[fe.Line-1][:col])
			}
			fe.Col = col
		}
		fe.Message = strings.TrimPrefix(m[3], `executing "`+Kind+`" at `)
	}
	return fe
}

// Do renders the message and enqueues it.
func (m *Message) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	text, err := m.render(data(f.Profile(), f.Results))
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
