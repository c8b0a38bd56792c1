package message

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/koihq/koi/actions"
)

// Byte limits of WeCom's attachment fields (创建企业群发), which are the
// shapes koi's attachments have.
const (
	maxLinkTitle  = 128
	maxLinkDesc   = 512
	maxURL        = 2048
	maxMiniTitle  = 64
	maxIdentifier = 256
)

// validateAttachments checks each attachment has exactly one kind and its
// fields within WeCom's limits; errors name attachments[i].kind.field.
func validateAttachments(as []actions.Attachment) actions.Errors {
	var errs actions.Errors
	for i, a := range as {
		at := fmt.Sprintf("attachments[%d]", i)
		kinds := 0
		for _, set := range []bool{a.Link != nil, a.MiniProgram != nil, a.Image != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			errs = append(errs, actions.Errorf(at, "want exactly one of link, miniprogram, image; got %d", kinds))
			continue
		}
		check := func(field, v string, required bool, limit int) {
			switch {
			case required && strings.TrimSpace(v) == "":
				errs = append(errs, actions.Errorf(at+"."+field, "is required"))
			case len(v) > limit:
				errs = append(errs, actions.Errorf(at+"."+field, "is %d bytes, at most %d", len(v), limit))
			}
		}
		checkURL := func(field, v string, required bool) {
			check(field, v, required, maxURL)
			if v == "" || len(v) > maxURL {
				return
			}
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, actions.Errorf(at+"."+field, "want an http(s) URL, got %q", v))
			}
		}
		switch {
		case a.Link != nil:
			check("link.title", a.Link.Title, true, maxLinkTitle)
			checkURL("link.url", a.Link.URL, true)
			check("link.desc", a.Link.Desc, false, maxLinkDesc)
			checkURL("link.picurl", a.Link.PicURL, false)
		case a.MiniProgram != nil:
			check("miniprogram.title", a.MiniProgram.Title, true, maxMiniTitle)
			check("miniprogram.appid", a.MiniProgram.AppID, true, maxIdentifier)
			check("miniprogram.page", a.MiniProgram.Page, true, maxURL)
			check("miniprogram.pic_media_id", a.MiniProgram.PicMediaID, true, maxIdentifier)
		case a.Image != nil:
			if (a.Image.MediaID == "") == (a.Image.PicURL == "") {
				errs = append(errs, actions.Errorf(at+".image", "want one of media_id (an uploaded picture) or pic_url"))
				continue
			}
			check("image.media_id", a.Image.MediaID, false, maxIdentifier)
			checkURL("image.pic_url", a.Image.PicURL, false)
		}
	}
	return errs
}
