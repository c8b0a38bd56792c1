package tag

import (
	"context"
	"encoding/json"

	"github.com/koihq/koi/actions"
)

// NewSyncWorker returns the worker of actions.TagSyncKind jobs: it marks
// and unmarks tags on customers' contacts through their TagSyncer
// channels.
func NewSyncWorker(wc actions.WorkerContext) (actions.Worker, error) {
	return syncWorker{channels: wc.Channels}, nil
}

type syncWorker struct {
	channels map[string]actions.Channel
}

var _ actions.Worker = syncWorker{}

// Deliver marks one job's tags.
func (w syncWorker) Deliver(ctx context.Context, d *actions.Delivery) error {
	var p actions.TagSyncPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return actions.Permanentf("decode tag sync job: %v", err)
	}
	ch, ok := w.channels[p.Channel].(actions.TagSyncer)
	if !ok {
		return actions.Permanentf("channel %q is no longer configured, or syncs no tags", p.Channel)
	}
	return ch.MarkTags(ctx, d.Contact, p.Add, p.Remove)
}
