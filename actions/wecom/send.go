package wecom

import (
	"context"
	"encoding/json"

	"github.com/koihq/koi/actions"
)

// template is add_msg_template's request: a text and its attachments for
// customers, from one sender.
type template struct {
	ChatType       string       `json:"chat_type"`
	ExternalUserID []string     `json:"external_userid"`
	Sender         string       `json:"sender,omitempty"`
	Text           *text        `json:"text,omitempty"`
	Attachments    []attachment `json:"attachments,omitempty"`
}

type text struct {
	Content string `json:"content"`
}

// attachment is WeCom's attachment: msgtype names the one field set.
type attachment struct {
	MsgType     string                         `json:"msgtype"`
	Image       *actions.ImageAttachment       `json:"image,omitempty"`
	Link        *actions.LinkAttachment        `json:"link,omitempty"`
	MiniProgram *actions.MiniProgramAttachment `json:"miniprogram,omitempty"`
}

func wireAttachments(as []actions.Attachment) []attachment {
	out := make([]attachment, 0, len(as))
	for _, a := range as {
		switch {
		case a.Link != nil:
			out = append(out, attachment{MsgType: "link", Link: a.Link})
		case a.MiniProgram != nil:
			out = append(out, attachment{MsgType: "miniprogram", MiniProgram: a.MiniProgram})
		case a.Image != nil:
			out = append(out, attachment{MsgType: "image", Image: a.Image})
		}
	}
	return out
}

// reply is the part of WeCom's replies koi reads.
type reply struct {
	ErrCode     int      `json:"errcode"`
	ErrMsg      string   `json:"errmsg"`
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	FailList    []string `json:"fail_list"`
	MsgID       string   `json:"msgid"`
	NextCursor  string   `json:"next_cursor"`
	SendList    []struct {
		ExternalUserID string `json:"external_userid"`
		UserID         string `json:"userid"`
		Status         int    `json:"status"`
		SendTime       int64  `json:"send_time"`
	} `json:"send_list"`
	TaskList []struct {
		UserID string `json:"userid"`
		Status int    `json:"status"`
	} `json:"task_list"`
}

// receipt is what koi keeps of a task to track one customer's message in
// it: the task, its sender ("" when WeCom chose one), and the external
// user id the message went to.
type receipt struct {
	MsgID  string `json:"msgid"`
	Sender string `json:"sender,omitempty"`
	To     string `json:"to"`
}

func (r receipt) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// SendBatch creates one task per sender for the messages, which carry the
// same text and attachments when they come from one batch (the message
// action's batch key); messages that differ go into tasks of their own.
// A task holds up to 10,000 customers. Each message accepted gets the
// task as its Receipt; one WeCom refused (fail_list: not a contact of the
// corp, or no longer reachable) fails for good.
func (c *Channel) SendBatch(ctx context.Context, ms []*actions.Message) []error {
	errs := make([]error, len(ms))
	type key struct{ sender, text, attachments string }
	groups := map[key][]int{}
	var order []key
	for i, m := range ms {
		if m.To.WeComID == "" {
			errs[i] = actions.Permanentf("customer %s has no WeCom external user id (wecom_id)", m.To.CustomerID)
			continue
		}
		att, _ := json.Marshal(m.Attachments)
		k := key{c.sender(m.To), m.Text, string(att)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var throttled error
	for _, k := range order {
		idx := groups[k]
		for len(idx) > 0 {
			n := min(len(idx), MaxCustomersPerTask)
			if throttled != nil {
				// WeCom blocks the API: the other tasks wait with this one.
				for _, i := range idx[:n] {
					errs[i] = throttled
				}
			} else if err := c.createTask(ctx, ms, idx[:n], errs); actions.IsThrottled(err) {
				throttled = err
			}
			idx = idx[n:]
		}
	}
	return errs
}

// createTask creates one task for messages idx of ms, which share sender,
// text and attachments, and records each one's outcome in errs. It
// returns the error of the call, if it failed.
func (c *Channel) createTask(ctx context.Context, ms []*actions.Message, idx []int, errs []error) error {
	first := ms[idx[0]]
	req := template{ChatType: "single", Sender: c.sender(first.To), Attachments: wireAttachments(first.Attachments)}
	if first.Text != "" {
		req.Text = &text{Content: first.Text}
	}
	if len(first.Text) > MaxTextBytes {
		for _, i := range idx {
			errs[i] = actions.Permanentf("the text is %d bytes, WeCom takes at most %d", len(first.Text), MaxTextBytes)
		}
		return nil
	}
	seen := make(map[string]bool, len(idx))
	for _, i := range idx {
		if id := ms[i].To.WeComID; !seen[id] {
			seen[id] = true
			req.ExternalUserID = append(req.ExternalUserID, id)
		}
	}
	r, err := c.post(ctx, "add_msg_template", req)
	if err != nil {
		for _, i := range idx {
			errs[i] = err
		}
		return err
	}
	failed := make(map[string]bool, len(r.FailList))
	for _, id := range r.FailList {
		failed[id] = true
	}
	for _, i := range idx {
		m := ms[i]
		if failed[m.To.WeComID] {
			errs[i] = actions.Permanentf("add_msg_template: WeCom refused %s (fail_list): not a customer of the corp, or not reachable by sender %q", m.To.WeComID, req.Sender)
			continue
		}
		m.Receipt = receipt{MsgID: r.MsgID, Sender: req.Sender, To: m.To.WeComID}.String()
	}
	return nil
}
