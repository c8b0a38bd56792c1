// Package logchannel is the `log` channel type: it writes each message to
// koi's log instead of sending it, for trying playbooks out.
package logchannel

import (
	"context"
	"log/slog"

	"github.com/koihq/koi/actions"
)

// Type is the channel type's name in koi.yaml.
const Type = "log"

var _ actions.Channel = (*Log)(nil)

// Log logs messages at info level. It has no settings.
type Log struct {
	name string
	log  *slog.Logger
}

// New returns an unconfigured log channel for the registry.
func New() actions.Channel { return &Log{} }

// Open keeps the logger.
func (l *Log) Open(oc actions.OpenContext) error {
	l.name, l.log = oc.Name, oc.Logger
	if l.log == nil {
		l.log = slog.Default()
	}
	return nil
}

// Send logs the message.
func (l *Log) Send(_ context.Context, m *actions.Message) error {
	l.log.Info("message", "channel", l.name, "customer", m.CustomerID, "playbook", m.Playbook, "rule", m.Rule, "key", m.Key, "text", m.Text)
	return nil
}
