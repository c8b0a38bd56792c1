package callback

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
)

// A vector made outside Go, with OpenSSL (aes-256-cbc -nopad over the
// documented layout: 16 bytes "0123456789abcdef", the length, the message,
// the receiver id, PKCS#7 to 32) and SHA-1 of the sorted parts.
const (
	vectorKey     = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	vectorToken   = "QDG6eK"
	vectorTime    = "1409659813"
	vectorNonce   = "1372623149"
	vectorMsg     = `<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><Event><![CDATA[change_external_contact]]></Event></xml>`
	vectorEncrypt = "sKqRbbiSUnDhFHOvPjtUMTErFhMsdKR6b4mBQvRUjl1fvangEzgCbv5UCA7X6NTqYqegn1CNjV0QvF5VhA6g4Ygbij3FGM6VjdLY2SOTP7yw3sz1h7jWBboaMpJo8BR0rYaNTkNi/B2ip8ijNI/TM4zlrNfPjiVPMij84OQO9CA47vNPlNlvTxm6avhSeIzUMnGfcsamRZh/S8tD22vCQQ=="
	vectorSig     = "5a6c6c52451e3d71ea1e300ddebfaa63e2a2d6ed"
)

func vectorCrypt(t *testing.T, receiver string) *Crypt {
	t.Helper()
	c, err := New(vectorToken, vectorKey, receiver)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The implementation agrees with OpenSSL both ways: it signs and encrypts
// the vector's message to the vector, and opens the vector.
func TestTheDocumentedFormat(t *testing.T) {
	c := vectorCrypt(t, "wwcorp")
	if got := c.Signature(vectorTime, vectorNonce, vectorEncrypt); got != vectorSig {
		t.Errorf("signature %s, want %s", got, vectorSig)
	}
	enc, err := c.encrypt([]byte("0123456789abcdef"), []byte(vectorMsg))
	if err != nil || enc != vectorEncrypt {
		t.Errorf("encrypt = %s, %v; want the vector", enc, err)
	}
	msg, err := c.VerifyURL(vectorSig, vectorTime, vectorNonce, vectorEncrypt)
	if err != nil || string(msg) != vectorMsg {
		t.Fatalf("VerifyURL = %q, %v", msg, err)
	}
	body := []byte(`<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><Encrypt><![CDATA[` + vectorEncrypt + `]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>`)
	if msg, err := c.Decrypt(vectorSig, vectorTime, vectorNonce, body); err != nil || string(msg) != vectorMsg {
		t.Fatalf("Decrypt = %q, %v", msg, err)
	}
}

// What does not come from WeCom, for this receiver, intact, is refused,
// and the error says nothing of the content.
func TestRefusals(t *testing.T) {
	c := vectorCrypt(t, "wwcorp")
	flip := func(s string, i int) string {
		raw, _ := base64.StdEncoding.DecodeString(s)
		raw[i] ^= 1
		return base64.StdEncoding.EncodeToString(raw)
	}
	tampered := flip(vectorEncrypt, len(vectorEncrypt)/2)
	for _, tc := range []struct {
		name                string
		sig, ts, nonce, enc string
		crypt               *Crypt
		want                error
	}{
		{"a forged signature", strings.Repeat("0", 40), vectorTime, vectorNonce, vectorEncrypt, c, ErrSignature},
		{"a timestamp other than the one signed", vectorSig, "1409659814", vectorNonce, vectorEncrypt, c, ErrSignature},
		{"another token", vectorSig, vectorTime, vectorNonce, vectorEncrypt, mustNew(t, "other", vectorKey, "wwcorp"), ErrSignature},
		{"a tampered body, signed anew", c.Signature(vectorTime, vectorNonce, tampered), vectorTime, vectorNonce, tampered, c, nil},
		{"the last block tampered (padding)", c.Signature(vectorTime, vectorNonce, flip(vectorEncrypt, 150)), vectorTime, vectorNonce, flip(vectorEncrypt, 150), c, ErrCorrupt},
		// A flipped bit in the block before the last garbles that block and
		// one padding byte: the padding check, not the receiver's, says so.
		{"a padding byte tampered", c.Signature(vectorTime, vectorNonce, flip(vectorEncrypt, 140)), vectorTime, vectorNonce, flip(vectorEncrypt, 140), c, ErrCorrupt},
		{"not base64", c.Signature(vectorTime, vectorNonce, "@@@"), vectorTime, vectorNonce, "@@@", c, ErrCorrupt},
		{"another receiver", vectorSig, vectorTime, vectorNonce, vectorEncrypt, vectorCrypt(t, "wwother"), ErrReceiver},
	} {
		msg, err := tc.crypt.VerifyURL(tc.sig, tc.ts, tc.nonce, tc.enc)
		if tc.want == nil {
			// CBC without a MAC: a flipped bit garbles a block; what is
			// garbled must not come out as the message.
			if err == nil && string(msg) == vectorMsg {
				t.Errorf("%s: decrypted to the original message", tc.name)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "change_external_contact") {
			t.Errorf("%s: the error shows the content: %v", tc.name, err)
		}
	}
	big := bytes.Repeat([]byte("x"), MaxMessageBytes+1)
	if _, err := c.Decrypt(vectorSig, vectorTime, vectorNonce, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an oversized body: %v", err)
	}
	if _, err := c.Decrypt(vectorSig, vectorTime, vectorNonce, []byte("<xml>")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a body without Encrypt: %v", err)
	}
	for _, bad := range []string{"", "short", vectorKey[:42] + "!"} {
		if _, err := New(vectorToken, bad, "wwcorp"); err == nil {
			t.Errorf("New accepted the EncodingAESKey %q", bad)
		}
	}
}

func mustNew(t *testing.T, token, key, receiver string) *Crypt {
	t.Helper()
	c, err := New(token, key, receiver)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A reply is what WeCom expects: signed and encrypted, and it opens.
func TestReplyRoundTrip(t *testing.T) {
	c := vectorCrypt(t, "wwcorp")
	out, err := c.Reply([]byte("success"), vectorTime, vectorNonce)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Encrypt, MsgSignature, TimeStamp, Nonce string
	}
	if err := xml.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	msg, err := c.VerifyURL(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt)
	if err != nil || string(msg) != "success" {
		t.Fatalf("the reply opens to %q, %v", msg, err)
	}
	a, _ := c.Encrypt([]byte("x"))
	b, _ := c.Encrypt([]byte("x"))
	if a == b {
		t.Error("two encryptions of one message are equal: the 16 bytes in front are not random")
	}
}

// An add_external_contact event, as WeCom's documentation shows it.
func TestParseEvent(t *testing.T) {
	ev, err := ParseEvent([]byte(`<xml>
<ToUserName><![CDATA[wwcorp]]></ToUserName>
<FromUserName><![CDATA[sys]]></FromUserName>
<CreateTime>1403610513</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[change_external_contact]]></Event>
<ChangeType><![CDATA[add_external_contact]]></ChangeType>
<UserID><![CDATA[zhangsan]]></UserID>
<ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID>
<State><![CDATA[teststate]]></State>
<WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>
</xml>`))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{CorpID: "wwcorp", Created: time.Unix(1403610513, 0), MsgType: "event", Event: EventContactType, ChangeType: ChangeAdd,
		UserID: "zhangsan", ExternalUserID: "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA", State: "teststate", WelcomeCode: "WELCOMECODE"}
	if *ev != want {
		t.Errorf("event %+v, want %+v", *ev, want)
	}
	if _, err := ParseEvent([]byte("not xml <")); err == nil {
		t.Error("a message that is not XML parsed")
	}
}

// FuzzOpen feeds arbitrary bodies and echostrs to a receiver: never a
// panic, and nothing opens that was not sealed for it.
func FuzzOpen(f *testing.F) {
	f.Add(vectorEncrypt, []byte(`<xml><Encrypt><![CDATA[`+vectorEncrypt+`]]></Encrypt></xml>`))
	f.Add("AAAA", []byte("<xml><Encrypt>AAAA</Encrypt></xml>"))
	f.Add("", []byte(""))
	c, err := New(vectorToken, vectorKey, "wwcorp")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, echostr string, body []byte) {
		// Signed as WeCom would, so the decryption itself is what runs.
		msg, err := c.VerifyURL(c.Signature("1", "2", echostr), "1", "2", echostr)
		if err == nil && echostr != vectorEncrypt && string(msg) == vectorMsg {
			t.Errorf("%q opened to the vector's message", echostr)
		}
		if msg, err := c.Decrypt("0", "1", "2", body); err == nil {
			t.Errorf("an unsigned body opened: %q", msg)
		}
		_, _ = ParseEvent(body)
	})
}
