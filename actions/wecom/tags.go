package wecom

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
)

// maxTagsPerCall bounds the tag ids of one mark_tag call, and so the
// koi tags a channel may map: a person has a few dozen corp tags at most.
const maxTagsPerCall = 100

// TagMap is the configured tags: koi tag → corp tag id.
func (c *Channel) TagMap() map[string]string { return c.Tags }

// checkTags checks the tag map: names and ids not blank, no corp tag
// for two koi tags (unmarking one would unmark the other), and not more
// than one call can carry.
func (c *Channel) checkTags() actions.Errors {
	var errs actions.Errors
	if len(c.Tags) > maxTagsPerCall {
		errs = append(errs, actions.Errorf("tags", "maps %d tags; at most %d", len(c.Tags), maxTagsPerCall))
	}
	seen := map[string]string{}
	for _, tag := range slices.Sorted(maps.Keys(c.Tags)) {
		id := c.Tags[tag]
		switch {
		case strings.TrimSpace(tag) == "":
			errs = append(errs, actions.Errorf("tags", "a koi tag must not be blank"))
		case strings.TrimSpace(id) == "":
			errs = append(errs, actions.Errorf("tags."+tag, "want the WeCom corp tag id (like etXXXXXXXX), got nothing"))
		case seen[id] != "":
			errs = append(errs, actions.Errorf("tags."+tag, "corp tag %s is %s's already: one corp tag per koi tag", id, seen[id]))
		default:
			seen[id] = tag
		}
	}
	return errs
}

// MarkTags marks corp tags add and unmarks remove on the customer's
// contact, as their guide's WeCom member (or the channel's sender).
// WeCom marks tags per member relationship: the member must have the
// customer as a contact.
func (c *Channel) MarkTags(ctx context.Context, to actions.Contact, add, remove []string) error {
	if to.WeComID == "" {
		return actions.Permanentf("customer %s has no wecom_id: no WeCom contact to tag", to.CustomerID)
	}
	user := c.sender(to)
	if user == "" {
		return actions.Permanentf("customer %s has no guide with a WeCom userid, and the channel no sender: no member to tag the contact as", to.CustomerID)
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	// Empty lists as [], not null.
	add, remove = append([]string{}, add...), append([]string{}, remove...)
	_, err := c.post(ctx, "mark_tag", map[string]any{"userid": user, "external_userid": to.WeComID, "add_tag": add, "remove_tag": remove})
	return err
}
