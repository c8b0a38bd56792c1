package cli

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/koihq/koi/engine/domain"
)

// exportIDForms are the forms of an identity koi export --ids writes, for
// ad platforms' lookalike audiences (公域): hashes of phones and emails,
// and WeChat's and WeCom's own ids as they are.
var exportIDForms = []string{"phone_md5", "phone_sha256", "email_md5", "email_sha256", "unionid", "wecom_external_userid"}

// parseIDForms checks --ids.
func parseIDForms(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(exportIDForms, f) {
			return nil, fmt.Errorf("--ids: %q is not an id form (forms: %s)", f, strings.Join(exportIDForms, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// idForm returns an identity in form, or "" when it is not of that form's
// kind. A phone is hashed as ad platforms in China hash one: a mainland
// mobile number as its 11 digits, another as its E.164 digits without the +; an
// email in lower case (as koi stores it). Hashes are lower-case hex.
func idForm(form string, id domain.Identity) string {
	kind, hash, _ := strings.Cut(form, "_")
	switch {
	case form == "unionid" || form == "wecom_external_userid":
		if id.Kind == form {
			return id.Value
		}
		return ""
	case kind != id.Kind:
		return ""
	}
	v := id.Value
	if id.Kind == domain.IdentityPhone {
		v = strings.TrimPrefix(v, "+")
		if national, ok := strings.CutPrefix(v, "86"); ok && len(national) == 11 {
			v = national
		}
	}
	if hash == "md5" {
		sum := md5.Sum([]byte(v))
		return hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}
