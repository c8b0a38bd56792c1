package actions

import (
	"context"
	"time"
)

// States of a message a channel accepted and completes later (a WeCom
// task, which the guide must confirm before it goes out). They are the
// outbox's job states from the moment the channel accepts the message.
const (
	// StateTaskCreated: accepted, waiting for a person (the guide) to send
	// it. Not a contact yet.
	StateTaskCreated = "task_created"
	// StateSent: it reached the customer.
	StateSent = "sent"
	// StateNotFriend: not sent, the customer is not (any more) a contact
	// of the sender.
	StateNotFriend = "not_friend"
	// StateReceivedOther: not sent, the customer had received other mass
	// messages up to the provider's limit.
	StateReceivedOther = "skipped_received_other"
	// StateUnsent: not sent and it never will be: cancelled (by an
	// operator, or the customer opted out) or given up unconfirmed.
	StateUnsent = "unsent"
	// StateRequeue is no state of its own: the message was not sent and
	// must be handed over again (its task was cancelled for another
	// customer's sake); the job becomes pending.
	StateRequeue = "requeue"
)

// Tracker is implemented by a channel whose Send only hands a message over
// (it sets Message.Receipt). The dispatcher polls it every TrackEvery for
// what became of the messages it holds; the channel may remind whoever
// must act, and stops those whose Cancel is set.
type Tracker interface {
	// Track returns one result per message, in order. An error with nil
	// results leaves them all as they were, for the next poll; with
	// results, it says what could not be polled (those results say
	// StateTaskCreated) and the rest stand.
	Track(ctx context.Context, now time.Time, ms []*Tracked) ([]TrackResult, error)
	// TrackEvery is how often the dispatcher polls.
	TrackEvery() time.Duration
}

// Tracked is a message a channel accepted, as the dispatcher tracks it.
type Tracked struct {
	JobID   int64
	Receipt string
	// To is the customer's contact now.
	To Contact
	// Since is when the channel accepted the message.
	Since time.Time
	// Reminders counts the reminders sent so far, the last at RemindedAt.
	Reminders  int
	RemindedAt time.Time
	// Cancel, when set, says why the message must not go out any more:
	// an operator cancelled it, or the customer opted out or was deleted.
	Cancel string
}

// TrackResult is what became of a tracked message.
type TrackResult struct {
	// State is the message's state now: StateTaskCreated while it waits,
	// a final one (StateSent, StateNotFriend, StateReceivedOther,
	// StateUnsent), or StateRequeue.
	State string
	// At is when it was sent, for StateSent.
	At time.Time
	// Reminded says a reminder went out for it in this call.
	Reminded bool
	// Note says why, for the states that are failures.
	Note string
}

// Attachment is one attachment of a message; exactly one of its fields is
// set. The shapes are WeCom's (创建企业群发 attachments), which other
// channels may read as they can.
type Attachment struct {
	Link        *LinkAttachment        `yaml:"link" json:"link,omitempty"`
	MiniProgram *MiniProgramAttachment `yaml:"miniprogram" json:"miniprogram,omitempty"`
	Image       *ImageAttachment       `yaml:"image" json:"image,omitempty"`
}

// LinkAttachment is a link card.
type LinkAttachment struct {
	// Title is required, at most 128 bytes.
	Title string `yaml:"title" json:"title"`
	// URL is the page, http(s), at most 2048 bytes.
	URL string `yaml:"url" json:"url"`
	// Desc is optional, at most 512 bytes.
	Desc string `yaml:"desc" json:"desc,omitempty"`
	// PicURL is the card's picture, optional.
	PicURL string `yaml:"picurl" json:"picurl,omitempty"`
}

// MiniProgramAttachment is a mini-program card.
type MiniProgramAttachment struct {
	// Title is required, at most 64 bytes.
	Title string `yaml:"title" json:"title"`
	// AppID is the mini program's appid, which must be linked to the corp.
	AppID string `yaml:"appid" json:"appid"`
	// Page is the page path, like pages/index?from=koi (".html" ends it
	// in WeCom's docs; koi takes it as given).
	Page string `yaml:"page" json:"page"`
	// PicMediaID is the cover picture's media id (uploaded to WeCom).
	PicMediaID string `yaml:"pic_media_id" json:"pic_media_id"`
}

// ImageAttachment is a picture: an uploaded media id, or a picture URL.
type ImageAttachment struct {
	MediaID string `yaml:"media_id" json:"media_id,omitempty"`
	PicURL  string `yaml:"pic_url" json:"pic_url,omitempty"`
}

// MessageShape is what one message of a channel may carry. The message
// action checks a playbook's messages against it when the playbook loads.
type MessageShape struct {
	// MaxTextBytes bounds the text as rendered for the sample profile; 0
	// is no bound.
	MaxTextBytes int
	// MaxAttachments bounds the attachments; 0 means the channel takes
	// none.
	MaxAttachments int
	// Batches says identical messages (text and attachments) to customers
	// of one sender go out as one delivery (a WeCom task, one confirmation
	// for the guide); a personalised template makes one per customer.
	Batches bool
}

// Shaper is implemented by channel types that bound what a message
// carries. It is asked before the channel is opened (koi check has no
// secrets), so it reads only the configuration.
type Shaper interface {
	MessageShape() MessageShape
}

// CustomerLimiter is implemented by channels whose provider bounds how
// many messages one customer receives in a calendar period (WeCom: as
// many mass messages a month as the month has days). The contact policy
// suppresses a message past it (reason channel_limit) before it is sent.
type CustomerLimiter interface {
	// CustomerLimit returns the period [start, end) that holds t and how
	// many messages of the channel one customer may receive in it.
	CustomerLimit(t time.Time) (start, end time.Time, n int)
}
