package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// Identity kinds: the names a customer is known by in other systems
// (DESIGN §11). A value is unique per kind: one phone is one customer.
const (
	IdentityPhone      = "phone"
	IdentityUnionID    = "unionid"
	IdentityOpenID     = "openid" // per WeChat app: Identity.App names it
	IdentityWeComExtID = "wecom_external_userid"
	IdentityMemberNo   = "member_no"
	IdentityEmail      = "email"
)

// IdentityKinds lists the kinds, in the order documentation shows them.
var IdentityKinds = []string{IdentityPhone, IdentityUnionID, IdentityOpenID, IdentityWeComExtID, IdentityMemberNo, IdentityEmail}

// MaxIdentityLen bounds an identity's value (and an openid's app id);
// MaxIdentities the identities of one record: a person has a handful (a
// phone, an email, an openid per app).
const (
	MaxIdentityLen = 128
	MaxIdentities  = 32
)

// DefaultPhoneRegion is the region a phone number without a country code
// is read in: koi's customers are mostly in mainland China.
const DefaultPhoneRegion = "CN"

// Identity is one name of a customer in another system.
type Identity struct {
	Kind string `json:"kind"`
	// App is the WeChat app id of an openid (an openid is only unique
	// within its app); empty for the other kinds.
	App   string `json:"app,omitempty"`
	Value string `json:"value"`
}

// Key is the identity as stored and compared: its kind (with the app of
// an openid) and its normalised value. Normalise first.
func (id Identity) Key() (kind, value string) {
	if id.Kind == IdentityOpenID {
		return IdentityOpenID + ":" + id.App, id.Value
	}
	return id.Kind, id.Value
}

// IdentityOfKey is the identity stored under kind and value (Key's
// inverse).
func IdentityOfKey(kind, value string) Identity {
	if app, ok := strings.CutPrefix(kind, IdentityOpenID+":"); ok {
		return Identity{Kind: IdentityOpenID, App: app, Value: value}
	}
	return Identity{Kind: kind, Value: value}
}

// NormalizeIdentity checks an identity and returns it in the one form koi
// stores and compares: a phone in E.164 (read in DefaultPhoneRegion when
// it has no country code: 138 0013 8000 and +86 13800138000 are one
// phone), an email in lower case; the other kinds as given, trimmed. field
// names the input in errors.
func NormalizeIdentity(id Identity, field string) (Identity, error) {
	bad := func(format string, args ...any) (Identity, error) {
		return Identity{}, &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if !slices.Contains(IdentityKinds, id.Kind) {
		return bad("kind %q: want one of %s", id.Kind, strings.Join(IdentityKinds, ", "))
	}
	id.Value = strings.TrimSpace(id.Value)
	switch {
	case id.Value == "":
		return bad("%s: the value is empty", id.Kind)
	case len(id.Value) > MaxIdentityLen:
		return bad("%s: the value is %d bytes long; at most %d", id.Kind, len(id.Value), MaxIdentityLen)
	case strings.IndexFunc(id.Value, unicode.IsControl) >= 0:
		return bad("%s: the value has control characters", id.Kind)
	}
	if id.Kind == IdentityOpenID {
		id.App = strings.TrimSpace(id.App)
		if id.App == "" || len(id.App) > MaxIdentityLen || strings.ContainsAny(id.App, ": \t") {
			return bad("openid: app names the WeChat app the openid belongs to (its app id, like wx1234567890abcdef)")
		}
	} else if id.App != "" {
		return bad("%s: app is only for an openid", id.Kind)
	}
	switch id.Kind {
	case IdentityPhone:
		n, err := phonenumbers.Parse(id.Value, DefaultPhoneRegion)
		if err != nil || !phonenumbers.IsValidNumber(n) {
			return bad("phone %q is not a phone number (a mainland number like 138 0013 8000, or one with its country code like +852 5123 4567)", id.Value)
		}
		id.Value = phonenumbers.Format(n, phonenumbers.E164)
	case IdentityEmail:
		a, err := mail.ParseAddress(id.Value)
		if err != nil || a.Address != id.Value {
			return bad("email %q is not an address like name@example.com", id.Value)
		}
		id.Value = strings.ToLower(id.Value)
	}
	return id, nil
}

// NormalizeIdentities checks and normalises a record's identities (the
// field identities): at most MaxIdentities, each as NormalizeIdentity has
// it, one named twice (138 0013 8000 and +8613800138000) kept once.
func NormalizeIdentities(ids []Identity) ([]Identity, error) {
	if len(ids) > MaxIdentities {
		return nil, &Error{Code: EInvalid, Field: "identities", Message: fmt.Sprintf("%d identities; at most %d", len(ids), MaxIdentities)}
	}
	seen := make(map[Identity]bool, len(ids))
	out := ids[:0:0]
	for k, id := range ids {
		n, err := NormalizeIdentity(id, fmt.Sprintf("identities[%d]", k))
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// CustomerIDFor is the id of a new customer a record names only by its
// identity id (normalised): the kind and the value, as WeCom callbacks
// make "wecom:EXTERNAL_USERID"; a phone or an email hashed (an id is shown
// in logs, exports and URLs; a phone number should not be), and so is a
// value too long for an id.
func CustomerIDFor(id Identity) string {
	prefix := map[string]string{IdentityWeComExtID: "wecom:", IdentityMemberNo: "member:", IdentityUnionID: "unionid:",
		IdentityOpenID: "openid:" + id.App + ":", IdentityPhone: "phone:", IdentityEmail: "email:"}[id.Kind]
	if id.Kind == IdentityPhone || id.Kind == IdentityEmail || len(prefix)+len(id.Value) > MaxCustomerIDLen {
		sum := sha256.Sum256([]byte(id.Kind + "\x00" + id.App + "\x00" + id.Value))
		if len(prefix)+20 > MaxCustomerIDLen {
			prefix = id.Kind + ":" // an app id too long to show
		}
		return prefix + hex.EncodeToString(sum[:10])
	}
	return prefix + id.Value
}
