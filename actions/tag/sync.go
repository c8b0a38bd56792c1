package tag

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/koihq/koi/actions"
)

// NewSyncWorker returns the worker of actions.TagSyncKind jobs: it marks
// the channel's tags of the koi tags the customer has when the job is
// delivered, and unmarks the others, through their TagSyncer channels.
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
	// What the customer has now, not what the job's fire changed: jobs
	// of one customer may be delivered in any order (a retry comes after
	// a later job), and each must leave the channel with koi's tags.
	add, remove := TagState(ch.TagMap(), d.Contact.Tags)
	return ch.MarkTags(ctx, d.Contact, add, remove)
}

// TagState returns, for a channel's tag map, the channel's tags of the
// koi tags a customer has (to mark) and of those they do not (to unmark),
// each sorted.
func TagState(m map[string]string, tags []string) (add, remove []string) {
	for t, remote := range m {
		if slices.Contains(tags, t) {
			add = append(add, remote)
		} else {
			remove = append(remove, remote)
		}
	}
	slices.Sort(add)
	slices.Sort(remove)
	return add, remove
}
