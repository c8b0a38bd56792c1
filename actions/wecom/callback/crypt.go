// Package callback implements the receiving side of WeCom's (企业微信)
// callback protocol, as its "加解密方案说明" documents it: the signature of
// a callback (msg_signature), and the AES-256-CBC encryption of its body
// with the EncodingAESKey. It knows nothing of what koi does with the
// events: the server's callback endpoint decides that.
package callback

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MaxMessageBytes bounds a callback's encrypted body and the message in
// it: WeCom's events are a few hundred bytes, and a caller must not make
// koi decrypt megabytes.
const MaxMessageBytes = 64 << 10

// blockSize is the PKCS#7 block WeCom pads to: 32 bytes, not AES's 16.
const blockSize = 32

// Errors of a callback that must be refused. None carries the message's
// content, so that logging them leaks nothing.
var (
	ErrSignature = errors.New("wecom callback: bad msg_signature")
	ErrCorrupt   = errors.New("wecom callback: the message does not decrypt")
	ErrReceiver  = errors.New("wecom callback: the message is for another receiver")
	ErrTooLarge  = fmt.Errorf("wecom callback: the message is over %d bytes", MaxMessageBytes)
)

// Crypt signs, verifies, encrypts and decrypts the callbacks of one
// receiver (the corp id of a self-built app).
type Crypt struct {
	token     string
	key       []byte
	receiveID string
}

// New returns a Crypt for the callback's Token and EncodingAESKey (43
// characters of base64, as the admin console gives it) and the receiver
// id the messages must name (the corp id).
func New(token, encodingAESKey, receiveID string) (*Crypt, error) {
	if token == "" {
		return nil, errors.New("wecom callback: token is empty")
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wecom callback: the EncodingAESKey is %d characters; WeCom's are 43", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("wecom callback: the EncodingAESKey is not WeCom's base64 of 32 bytes")
	}
	if receiveID == "" {
		return nil, errors.New("wecom callback: the receiver (corp id) is empty")
	}
	return &Crypt{token: token, key: key, receiveID: receiveID}, nil
}

// Signature is msg_signature of a message: the SHA-1, in lower-case hex,
// of the token, timestamp, nonce and encrypted message sorted and joined.
func (c *Crypt) Signature(timestamp, nonce, encrypted string) string {
	parts := []string{c.token, timestamp, nonce, encrypted}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// verify checks a message's signature in constant time.
func (c *Crypt) verify(signature, timestamp, nonce, encrypted string) error {
	want := c.Signature(timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) != 1 {
		return ErrSignature
	}
	return nil
}

// VerifyURL answers WeCom's check of a callback URL (a GET with
// msg_signature, timestamp, nonce and echostr): the decrypted echostr, to
// be returned as the response body, as it is.
func (c *Crypt) VerifyURL(signature, timestamp, nonce, echostr string) ([]byte, error) {
	if err := c.verify(signature, timestamp, nonce, echostr); err != nil {
		return nil, err
	}
	return c.decrypt(echostr)
}

// envelope is a callback's POST body.
type envelope struct {
	ToUserName string `xml:"ToUserName"`
	Encrypt    string `xml:"Encrypt"`
	AgentID    string `xml:"AgentID"`
}

// Decrypt verifies and decrypts a callback's POST body (XML with an
// Encrypt element), with the msg_signature, timestamp and nonce of its
// URL, and returns the message (XML).
func (c *Crypt) Decrypt(signature, timestamp, nonce string, body []byte) ([]byte, error) {
	if len(body) > MaxMessageBytes {
		return nil, ErrTooLarge
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt == "" {
		return nil, ErrCorrupt
	}
	if err := c.verify(signature, timestamp, nonce, env.Encrypt); err != nil {
		return nil, err
	}
	return c.decrypt(env.Encrypt)
}

// decrypt opens an encrypted message: base64 of AES-256-CBC (IV: the
// key's first 16 bytes) over 16 random bytes, the message's length (4
// bytes, big-endian), the message and the receiver id, PKCS#7-padded to 32.
func (c *Crypt) decrypt(encrypted string) ([]byte, error) {
	if len(encrypted) > base64.StdEncoding.EncodedLen(MaxMessageBytes+blockSize+20+len(c.receiveID)) {
		return nil, ErrTooLarge
	}
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(raw) == 0 || len(raw)%blockSize != 0 {
		return nil, ErrCorrupt
	}
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, ErrCorrupt
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, ErrCorrupt
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, ErrCorrupt
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, ErrCorrupt
	}
	msg, receiver := plain[20:20+n], plain[20+n:]
	if subtle.ConstantTimeCompare(receiver, []byte(c.receiveID)) != 1 {
		return nil, ErrReceiver
	}
	return msg, nil
}

// Encrypt encrypts msg for the receiver, with 16 random bytes in front:
// what WeCom sends, and what a reply to it carries.
func (c *Crypt) Encrypt(msg []byte) (string, error) {
	prefix := make([]byte, 16)
	if _, err := rand.Read(prefix); err != nil {
		return "", err
	}
	return c.encrypt(prefix, msg)
}

func (c *Crypt) encrypt(prefix, msg []byte) (string, error) {
	if len(msg) > MaxMessageBytes {
		return "", ErrTooLarge
	}
	plain := make([]byte, 0, 20+len(msg)+len(c.receiveID)+blockSize)
	plain = append(plain, prefix...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.receiveID...)
	pad := blockSize - len(plain)%blockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return "", err
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, c.key[:aes.BlockSize]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Reply is an encrypted, signed passive reply to a callback, as XML.
func (c *Crypt) Reply(msg []byte, timestamp, nonce string) ([]byte, error) {
	enc, err := c.Encrypt(msg)
	if err != nil {
		return nil, err
	}
	return xml.Marshal(struct {
		XMLName      xml.Name `xml:"xml"`
		Encrypt      cdata    `xml:"Encrypt"`
		MsgSignature cdata    `xml:"MsgSignature"`
		TimeStamp    string   `xml:"TimeStamp"`
		Nonce        cdata    `xml:"Nonce"`
	}{Encrypt: cdata{enc}, MsgSignature: cdata{c.Signature(timestamp, nonce, enc)}, TimeStamp: timestamp, Nonce: cdata{nonce}})
}

// cdata is text written as CDATA, as WeCom's XML has it.
type cdata struct {
	Text string `xml:",cdata"`
}
