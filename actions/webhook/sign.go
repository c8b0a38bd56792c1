package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a request's body. Keyed with
// the secret whsec_test, the body {"customer_id":"c1","text":"你好"} sent at
// 2026-01-01 00:00 UTC is signed
//
//	X-Koi-Signature: t=1767225600,v1=531e08157b30416aaa14b4f3f52c1f5b7c103da96ac76990b21e8ef68d975661
//
// t is the unix time of signing; v1 is the hex HMAC-SHA256, keyed with the
// shared secret, of the decimal t, a dot, and the raw body. A receiver
// recomputes it over the body it read, compares in constant time, and
// refuses a t more than a few minutes old, so a captured request cannot be
// replayed later. Verify does exactly that.
const SignatureHeader = "X-Koi-Signature"

// Sign returns the signature header's value for body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Verify checks a signature header's value against body, accepting a
// signing time at most tolerance away from now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return fmt.Errorf("signature header %q: want t=…,v1=…", header)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("signature time %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature is %v away from now, more than %v", d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return fmt.Errorf("signature does not match the body")
	}
	return nil
}
