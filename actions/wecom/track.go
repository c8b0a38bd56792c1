package wecom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/koihq/koi/actions"
)

// Statuses of get_groupmsg_send_result's send_list.
const (
	statusUnsent        = 0 // 未发送
	statusSent          = 1 // 已发送
	statusNotFriend     = 2 // 因客户不是好友导致发送失败
	statusReceivedOther = 3 // 因客户已经收到其他群发消息导致发送失败
)

// sendResult is one customer's status in a task.
type sendResult struct {
	status int
	at     time.Time
}

// Track polls each task the messages belong to, once per task:
//
//   - a task whose message must be cancelled (an operator cancelled it,
//     the customer opted out or was deleted), or that waited unconfirmed
//     past expire_after, is stopped with cancel_groupmsg_send; its
//     customers still unsent are then unsent, except the others of a task
//     stopped for one customer's sake, which are handed over again to go
//     into a new task;
//   - otherwise get_groupmsg_send_result says each customer's status;
//   - a task still unsent after remind_after (and remind_after since the
//     last reminder) gets remind_groupmsg_send, up to reminders times.
//
// A task WeCom could not be asked about stays as it was; the error says
// which, and the other tasks' results stand.
func (c *Channel) Track(ctx context.Context, now time.Time, ms []*actions.Tracked) ([]actions.TrackResult, error) {
	out := make([]actions.TrackResult, len(ms))
	type task struct {
		msgid, sender string
		idx           []int
	}
	tasks := map[string]*task{}
	var order []*task
	rcpts := make([]receipt, len(ms))
	for i, m := range ms {
		out[i].State = actions.StateTaskCreated
		if err := json.Unmarshal([]byte(m.Receipt), &rcpts[i]); err != nil || rcpts[i].MsgID == "" {
			out[i] = actions.TrackResult{State: actions.StateUnsent, Note: fmt.Sprintf("wecom: unreadable receipt %.60q", m.Receipt)}
			continue
		}
		k := rcpts[i].MsgID + "\x00" + rcpts[i].Sender
		t := tasks[k]
		if t == nil {
			t = &task{msgid: rcpts[i].MsgID, sender: rcpts[i].Sender}
			tasks[k] = t
			order = append(order, t)
		}
		t.idx = append(t.idx, i)
	}
	var errs []error
	for _, t := range order {
		if err := c.trackTask(ctx, now, t.msgid, t.sender, t.idx, ms, rcpts, out); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", t.msgid, err))
			for _, i := range t.idx {
				out[i] = actions.TrackResult{State: actions.StateTaskCreated}
			}
		}
	}
	return out, errors.Join(errs...)
}

// trackTask settles the messages idx of one task.
func (c *Channel) trackTask(ctx context.Context, now time.Time, msgid, sender string, idx []int, ms []*actions.Tracked, rcpts []receipt, out []actions.TrackResult) error {
	since, reminded, reminders := now, time.Time{}, 0
	cancel := ""
	for _, i := range idx {
		m := ms[i]
		if m.Since.Before(since) {
			since = m.Since
		}
		if m.RemindedAt.After(reminded) {
			reminded = m.RemindedAt
		}
		reminders = max(reminders, m.Reminders)
		if cancel == "" && m.Cancel != "" {
			cancel = m.Cancel
		}
	}
	expired := c.ExpireAfter > 0 && now.Sub(since) >= time.Duration(c.ExpireAfter)
	if cancel != "" || expired {
		if _, err := c.post(ctx, "cancel_groupmsg_send", map[string]string{"msgid": msgid}); err != nil {
			return err
		}
	}
	results, err := c.sendResults(ctx, msgid, sender)
	if err != nil {
		return err
	}
	open := 0
	for _, i := range idx {
		r, ok := results[rcpts[i].To]
		switch {
		case ok && r.status == statusSent:
			out[i] = actions.TrackResult{State: actions.StateSent, At: r.at}
		case ok && r.status == statusNotFriend:
			out[i] = actions.TrackResult{State: actions.StateNotFriend, Note: "wecom: not sent, the customer is not a contact of " + senderName(sender)}
		case ok && r.status == statusReceivedOther:
			out[i] = actions.TrackResult{State: actions.StateReceivedOther, Note: "wecom: not sent, the customer had received their mass messages for the month"}
		case ms[i].Cancel != "":
			out[i] = actions.TrackResult{State: actions.StateUnsent, Note: "wecom task stopped: " + ms[i].Cancel}
		case expired:
			out[i] = actions.TrackResult{State: actions.StateUnsent,
				Note: fmt.Sprintf("wecom task stopped: %s did not send it within %s", senderName(sender), c.ExpireAfter)}
		case cancel != "":
			// Stopped for another customer of the task: this one goes
			// into a new task.
			out[i] = actions.TrackResult{State: actions.StateRequeue, Note: "wecom task stopped for another customer (" + cancel + "); handed over again"}
		default:
			open++
		}
	}
	last := since
	if reminded.After(last) {
		last = reminded
	}
	due := last.Add(time.Duration(*c.RemindAfter))
	if open == 0 || *c.RemindAfter <= 0 || reminders >= *c.Reminders || now.Before(due) {
		return nil
	}
	if _, err := c.post(ctx, "remind_groupmsg_send", map[string]string{"msgid": msgid}); err != nil {
		// A reminder that failed is no reason to leave the results
		// unrecorded; it is tried again at the next poll.
		if c.log != nil {
			c.log.Warn("wecom: reminding the guide failed", "msgid", msgid, "err", err)
		}
		return nil
	}
	for _, i := range idx {
		if out[i].State == actions.StateTaskCreated {
			out[i].Reminded = true
		}
	}
	return nil
}

func senderName(sender string) string {
	if sender == "" {
		return "the member WeCom chose"
	}
	return "sender " + sender
}

// sendResults reads every customer's status in a task: from its sender,
// or, when WeCom chose the senders, from each member its task list names.
func (c *Channel) sendResults(ctx context.Context, msgid, sender string) (map[string]sendResult, error) {
	senders := []string{sender}
	if sender == "" {
		senders = senders[:0]
		err := c.pages(ctx, "get_groupmsg_task", map[string]any{"msgid": msgid, "limit": 1000}, func(r *reply) {
			for _, t := range r.TaskList {
				senders = append(senders, t.UserID)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := map[string]sendResult{}
	for _, s := range senders {
		err := c.pages(ctx, "get_groupmsg_send_result", map[string]any{"msgid": msgid, "userid": s, "limit": 1000}, func(r *reply) {
			for _, x := range r.SendList {
				res := sendResult{status: x.Status}
				if x.SendTime > 0 {
					res.at = time.Unix(x.SendTime, 0)
				}
				out[x.ExternalUserID] = res
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxPages bounds the pages of one listing: 10,000 customers a task at
// 1,000 a page, with room to spare. A server that keeps answering with a
// cursor must not keep koi polling one task for ever.
const maxPages = 100

// pages calls a paged API (cursor, next_cursor) until the last page.
func (c *Channel) pages(ctx context.Context, api string, req map[string]any, each func(*reply)) error {
	cursor := ""
	for range maxPages {
		req["cursor"] = cursor
		r, err := c.post(ctx, api, req)
		if err != nil {
			return err
		}
		each(r)
		if r.NextCursor == "" || r.NextCursor == cursor {
			return nil
		}
		cursor = r.NextCursor
	}
	return fmt.Errorf("wecom %s: more than %d pages", api, maxPages)
}
