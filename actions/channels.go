package actions

import (
	"context"
	"log/slog"
	"net/http"
)

// Message is a rendered message for one customer.
type Message struct {
	// Key is the idempotency key of the job carrying the message.
	Key string `json:"key"`
	// Channel is the configured channel's name.
	Channel string `json:"channel"`
	Text    string `json:"text"`
	// Attachments go with the text: a link, a mini-program card, an image.
	Attachments []Attachment `json:"attachments,omitempty"`
	Playbook    string       `json:"playbook"`
	Rule        string       `json:"rule"`
	FireID      int64        `json:"fire_id"`
	CustomerID  string       `json:"customer_id"`
	// To is the customer's contact at delivery time.
	To Contact `json:"to"`
	// Receipt is set by a channel that only hands the message over (a
	// WeCom task waits for the guide to send it): the channel's reference
	// for it, which its Tracker is given later. Empty means delivered.
	Receipt string `json:"-"`
}

// Channel sends messages to customers: WeCom, SMS, a brand's own system. A
// channel type is registered under a snake_case name; koi.yaml configures
// named channels of a type, decoding the channel's `yaml` fields strictly.
// Send follows Worker's error contract: Permanent, RetryAfter, or retry.
type Channel interface {
	// Open validates the configuration and prepares the channel. A
	// *FieldError names the offending key.
	Open(oc OpenContext) error
	// Send delivers one message, honouring ctx's deadline.
	Send(ctx context.Context, m *Message) error
}

// Addressed is a channel that reaches a customer through a contact field
// of theirs: "wecom_id", "phone" or "email". `koi check` warns when the
// database has customers and none of them has the field. A channel that
// reaches customers some other way (a webhook to the brand's CRM) does
// not implement it.
type Addressed interface {
	AddressField() string
}

// BatchSender is implemented by channels that send several messages in
// one call (WeCom: one task for many customers of one guide). It returns
// one error per message, in order, and sets Receipt on those it accepted
// without sending yet.
type BatchSender interface {
	SendBatch(ctx context.Context, ms []*Message) []error
}

// OpenContext is what a channel or worker may use when it is opened.
type OpenContext struct {
	// Name is the configured channel's name.
	Name string
	// Getenv reads the environment, where secrets live.
	Getenv func(string) string
	// Logger is koi's logger.
	Logger *slog.Logger
	// HTTPClient is the client to make requests with; it has no timeout of
	// its own, deliveries carry deadlines.
	HTTPClient *http.Client
	// Guides are the configured sales guides, so a channel can send on a
	// guide's behalf.
	Guides []Guide
}

// WorkerContext is what a worker constructor gets: the opened channels and
// the deployment's facilities.
type WorkerContext struct {
	OpenContext
	// Channels are the configured channels by name, opened.
	Channels map[string]Channel
}

// TagSyncKind is the kind of the jobs that keep a channel's tags of a
// customer in step with koi's (TagSyncer).
const TagSyncKind = "tag_sync"

// TagSyncer is a channel that shows koi's tags in its own system: WeCom
// marks corp tags (企业标签) on the contact, so that guides see them in
// their client. TagMap names, for each koi tag it syncs, the tag in the
// channel's system; when a fire adds or removes one of those tags, koi
// enqueues a TagSyncKind job in the fire's transaction, and its worker
// calls MarkTags with the remote tags to add and to remove.
type TagSyncer interface {
	Channel
	// TagMap maps koi tags to the channel's tag ids. It is read when
	// koi starts, from the decoded configuration (before Open).
	TagMap() map[string]string
	// MarkTags adds and removes the channel's tags on the customer's
	// contact, following Worker's error contract.
	MarkTags(ctx context.Context, to Contact, add, remove []string) error
}

// TagSyncPayload is a TagSyncKind job's payload: the channel's tag ids
// to add and to remove.
type TagSyncPayload struct {
	Channel string   `json:"channel"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
}
