package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/actions/wecom/callback"
	"github.com/koihq/koi/engine/domain"
)

// wecomIDPrefix begins the id of a customer koi makes for a new WeCom
// contact: "wecom:" and their external userid.
const wecomIDPrefix = "wecom:"

// callbackSkew is how far a callback's timestamp may be from now: WeCom
// sends (and retries) within seconds, and a message captured and sent
// again later is refused.
const callbackSkew = 5 * time.Minute

// WeCom's contact events as koi stores them (DESIGN §11).
const (
	EventWeComAdd  = "wecom_add"
	EventWeComEdit = "wecom_edit"
	EventWeComDel  = "wecom_del"
)

// wecomCallback serves WeCom's callbacks for the corp of its Crypt.
type wecomCallback struct {
	s     *server
	crypt *callback.Crypt
	// The endpoint takes requests without a key: refusals are logged at
	// most once per refusalLogEvery, with how many there were, so that
	// junk sent to it cannot flood the log.
	mu         sync.Mutex
	lastLogged time.Time
	refused    int
}

// refusalLogEvery is how often refused callbacks are logged at most.
const refusalLogEvery = 10 * time.Second

// refuse answers a callback that does not verify: 403, logged without
// its content.
func (w *wecomCallback) refuse(c echo.Context, err error) error {
	w.mu.Lock()
	w.refused++
	now := time.Now()
	if now.Sub(w.lastLogged) >= refusalLogEvery {
		w.s.log.Warn("wecom callback refused", "err", err, "remote", c.RealIP(), "refused_since_last_logged", w.refused)
		w.lastLogged, w.refused = now, 0
	}
	w.mu.Unlock()
	return c.String(http.StatusForbidden, "refused\n")
}

// fresh checks a callback's timestamp against now.
func (w *wecomCallback) fresh(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("wecom callback: the timestamp is not a number")
	}
	if d := w.s.now().Sub(time.Unix(sec, 0)); d > callbackSkew || d < -callbackSkew {
		return errors.New("wecom callback: the timestamp is not within 5 minutes of now (a replay?)")
	}
	return nil
}

// verify answers WeCom's check of the callback URL: the decrypted echostr.
func (w *wecomCallback) verify(c echo.Context) error {
	q := c.QueryParams()
	if err := w.fresh(q.Get("timestamp")); err != nil {
		return w.refuse(c, err)
	}
	msg, err := w.crypt.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
	if err != nil {
		return w.refuse(c, err)
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", msg)
}

// receive takes a callback: a contact added, edited or deleted becomes
// the customer (found by their external userid, or new) and an event;
// other events are acknowledged and left alone. A retried callback is
// the same event (its id is derived from it): stored once.
func (w *wecomCallback) receive(c echo.Context) error {
	q := c.QueryParams()
	if err := w.fresh(q.Get("timestamp")); err != nil {
		return w.refuse(c, err)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, callback.MaxMessageBytes+1))
	if err != nil {
		return err
	}
	msg, err := w.crypt.Decrypt(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	if err != nil {
		return w.refuse(c, err)
	}
	ev, err := callback.ParseEvent(msg)
	if err != nil {
		return w.refuse(c, err)
	}
	if ev.Event == callback.EventContactType && ev.ExternalUserID != "" {
		err := w.contact(c, ev)
		var de *domain.Error
		switch {
		case errors.As(err, &de) && de.Code == domain.EInvalid:
			// WeCom's own message that koi cannot keep: answered, so that
			// WeCom does not send it again and again, and logged.
			w.s.log.Warn("wecom callback not kept", "change", ev.ChangeType, "err", err)
		case err != nil:
			return err // a store failure: WeCom sends it again
		}
	}
	return c.String(http.StatusOK, "success")
}

// contact records a change_external_contact event.
func (w *wecomCallback) contact(c echo.Context, ev *callback.Event) error {
	var typ string
	switch ev.ChangeType {
	case callback.ChangeAdd:
		// (add_half_external_contact: the member has not confirmed yet;
		// the add that follows is the contact.)
		typ = EventWeComAdd
	case callback.ChangeEdit:
		typ = EventWeComEdit
	case callback.ChangeDel, callback.ChangeDelFollow:
		typ = EventWeComDel
	default:
		return nil // a transfer's failure, say: nothing koi keeps
	}
	// A new contact's customer id is "wecom:" and the external userid.
	if len(ev.ExternalUserID) > domain.MaxCustomerIDLen-len(wecomIDPrefix) || len(ev.UserID) > domain.MaxIdentityLen || len(ev.State) > domain.MaxIdentityLen {
		return &domain.Error{Code: domain.EInvalid, Field: "ExternalUserID", Message: "an id longer than koi keeps"}
	}
	ctx := c.Request().Context()
	// The contact changed when WeCom says, unless that is far from now
	// (a clock gone wrong): then now, so that the event is one koi keeps.
	at, now := ev.Created, w.s.now()
	if d := now.Sub(at); d > callbackSkew || d < -callbackSkew {
		at = now
	}
	id := domain.Identity{Kind: domain.IdentityWeComExtID, Value: ev.ExternalUserID}
	customer, err := w.s.engine.ResolveIdentity(ctx, id)
	var de *domain.Error
	switch {
	case errors.As(err, &de) && de.Code == domain.ENotFound:
		if typ != EventWeComAdd {
			// An edit or a deletion of a contact koi does not know (or
			// one deleted from koi, which stays deleted).
			return nil
		}
		customer = wecomIDPrefix + ev.ExternalUserID
		if existing, err := w.s.engine.Customer(ctx, customer); err == nil {
			// A customer of that id, without the identity yet: theirs now.
			if customer, err = w.s.engine.LinkIdentities(ctx, existing.ID, []domain.Identity{id}, now, callbackSource); err != nil {
				return err
			}
			if err := w.linkGuide(c, customer, ev.UserID); err != nil {
				return err
			}
			break
		} else if !errors.As(err, &de) || de.Code != domain.ENotFound {
			return err
		}
		// A new contact: a customer named by the external userid, reached
		// through WeCom by it, with the member who added them as guide.
		cust := domain.Customer{ID: customer, WeComID: ev.ExternalUserID, JoinedAt: at, Guide: w.guideOf(ev.UserID),
			Identities: []domain.Identity{id}}
		if _, err := w.s.engine.StoreCustomers(ctx, []domain.Customer{cust}, now, callbackSource); err != nil {
			return err
		}
	case err != nil:
		return err
	case typ == EventWeComAdd:
		// A known customer added a member: the identity is theirs (it may
		// have been their wecom_id only), and they get that guide if they
		// have none.
		if customer, err = w.s.engine.LinkIdentities(ctx, customer, []domain.Identity{id}, now, callbackSource); err != nil {
			return err
		}
		if err := w.linkGuide(c, customer, ev.UserID); err != nil {
			return err
		}
	}
	sum := sha256.Sum256([]byte(ev.ChangeType + "\x00" + ev.ExternalUserID + "\x00" + ev.UserID + "\x00" + strconv.FormatInt(ev.Created.Unix(), 10)))
	attrs := map[string]any{"wecom_user": ev.UserID}
	if ev.State != "" {
		attrs["state"] = ev.State
	}
	event := domain.Event{ID: "wecom:" + hex.EncodeToString(sum[:12]), CustomerID: customer, Type: typ, At: at, Attrs: attrs}
	if err := domain.ValidateEvent(&event); err != nil {
		return err
	}
	res, err := w.s.engine.AddEvents(ctx, []domain.Event{event})
	if err != nil {
		return err
	}
	return res.ItemErrs[0]
}

// guideOf is the configured guide whose WeCom userid is user ("" if none).
func (w *wecomCallback) guideOf(user string) string {
	if user == "" {
		return ""
	}
	for _, g := range w.s.guides {
		if g.WeComUser == user || (g.WeComUser == "" && g.ID == user) {
			return g.ID
		}
	}
	return ""
}

// linkGuide gives a known customer the guide of the member who added them,
// when they have none.
func (w *wecomCallback) linkGuide(c echo.Context, customer, user string) error {
	guide := w.guideOf(user)
	if guide == "" {
		return nil
	}
	ctx := c.Request().Context()
	cust, err := w.s.engine.Customer(ctx, customer)
	if err != nil || cust.Guide != "" {
		return err
	}
	cust.Guide, cust.Identities = guide, nil
	_, err = w.s.engine.StoreCustomers(ctx, []domain.Customer{*cust}, w.s.now(), callbackSource)
	return err
}

// callbackSource is where merges a callback makes say they came from.
const callbackSource = "wecom callback"
