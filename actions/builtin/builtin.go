// Package builtin registers koi's built-in actions.
package builtin

import (
	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/assignguide"
	"github.com/koihq/koi/actions/coupon"
	"github.com/koihq/koi/actions/logchannel"
	"github.com/koihq/koi/actions/message"
	"github.com/koihq/koi/actions/settier"
	"github.com/koihq/koi/actions/tag"
	"github.com/koihq/koi/actions/webhook"
	"github.com/koihq/koi/actions/wecom"
)

// Register adds every built-in action, worker and channel type to r.
func Register(r *actions.Registry) {
	r.Add(coupon.Kind, coupon.New)
	r.Add(tag.Kind, tag.New)
	r.AddWorker(actions.TagSyncKind, tag.NewSyncWorker)
	r.Add(settier.Kind, settier.New)
	r.Add(assignguide.Kind, assignguide.New)
	r.Add(message.Kind, message.New)
	r.AddWorker(message.Kind, message.NewWorker)
	r.Add(webhook.Kind, webhook.NewAction)
	r.AddWorker(webhook.Kind, webhook.NewWorker)
	r.AddChannel(logchannel.Type, logchannel.New)
	r.AddChannel(webhook.Type, webhook.New)
	r.AddChannel(wecom.Type, wecom.New)
}

// Registry returns a new registry holding the built-ins.
func Registry() *actions.Registry {
	r := actions.NewRegistry()
	Register(r)
	return r
}
