package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions/webhook"
)

// A known answer, computed outside Go (Python's hmac module):
//
//	hmac.new(b"whsec_test", b"1767225600." + body, hashlib.sha256).hexdigest()
//
// so a change to what is signed (the dot, the order, the encoding) fails
// here instead of passing because signer and verifier changed together.
var (
	katSecret = []byte("whsec_test")
	katTime   = time.Unix(1767225600, 0)
	katBody   = []byte(`{"customer_id":"c1","text":"你好"}`)
	katHeader = "t=1767225600,v1=531e08157b30416aaa14b4f3f52c1f5b7c103da96ac76990b21e8ef68d975661"
)

func TestSignKnownAnswer(t *testing.T) {
	if got := webhook.Sign(katSecret, katTime, katBody); got != katHeader {
		t.Errorf("Sign = %s\nwant   %s", got, katHeader)
	}
}

func TestVerifyAcceptsTheKnownAnswer(t *testing.T) {
	for _, now := range []time.Time{katTime, katTime.Add(4 * time.Minute), katTime.Add(-4 * time.Minute)} {
		if err := webhook.Verify(katSecret, katHeader, katBody, now, 5*time.Minute); err != nil {
			t.Errorf("at %v: %v", now.Sub(katTime), err)
		}
	}
	// Spaces after the comma, as some senders write headers.
	if err := webhook.Verify(katSecret, strings.Replace(katHeader, ",", ", ", 1), katBody, katTime, 5*time.Minute); err != nil {
		t.Errorf("with a space: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	without := "t=1767225600,v1=48e78453dcc50dff984e48f64a05df92d0420b364952426502c9cc17c86732fc" // signed without the dot
	for name, c := range map[string]struct {
		secret, body []byte
		header       string
		now          time.Time
		want         string
	}{
		"a tampered body":          {katSecret, []byte(`{"customer_id":"c2","text":"你好"}`), katHeader, katTime, "does not match"},
		"a wrong secret":           {[]byte("whsec_other"), katBody, katHeader, katTime, "does not match"},
		"a stale timestamp":        {katSecret, katBody, katHeader, katTime.Add(5*time.Minute + time.Second), "away from now"},
		"a timestamp from ahead":   {katSecret, katBody, katHeader, katTime.Add(-6 * time.Minute), "away from now"},
		"a signature without dot":  {katSecret, katBody, without, katTime, "does not match"},
		"a changed time":           {katSecret, katBody, strings.Replace(katHeader, "t=1767225600", "t=1767225601", 1), katTime, "does not match"},
		"no v1":                    {katSecret, katBody, "t=1767225600", katTime, "want t=…,v1=…"},
		"no t":                     {katSecret, katBody, "v1=531e08157b30416aaa14b4f3f52c1f5b7c103da96ac76990b21e8ef68d975661", katTime, "want t=…,v1=…"},
		"a malformed time":         {katSecret, katBody, "t=soon,v1=531e08157b30416aaa14b4f3f52c1f5b7c103da96ac76990b21e8ef68d975661", katTime, "signature time"},
		"an empty header":          {katSecret, katBody, "", katTime, "want t=…,v1=…"},
		"a truncated signature":    {katSecret, katBody, katHeader[:len(katHeader)-2], katTime, "does not match"},
		"an upper-case signature":  {katSecret, katBody, katHeader[:16] + strings.ToUpper(katHeader[16:]), katTime, "does not match"},
		"another scheme's version": {katSecret, katBody, strings.Replace(katHeader, "v1=", "v0=", 1), katTime, "want t=…,v1=…"},
	} {
		err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Verify = %v, want an error saying %q", name, err, c.want)
		}
	}
}
