package callback

import (
	"encoding/xml"
	"errors"
	"time"
)

// Change types of a change_external_contact event that koi acts on.
const (
	ChangeAdd        = "add_external_contact"
	ChangeEdit       = "edit_external_contact"
	ChangeDel        = "del_external_contact"
	ChangeDelFollow  = "del_follow_user"
	ChangeAddHalf    = "add_half_external_contact"
	EventContactType = "change_external_contact"
)

// Event is a decrypted callback message: the fields of WeCom's events that
// koi reads, change_external_contact's above all.
type Event struct {
	// CorpID is ToUserName: the corp the event is for.
	CorpID  string
	Created time.Time
	MsgType string
	// Event is the event's type (change_external_contact); ChangeType
	// what changed (add_external_contact, …).
	Event      string
	ChangeType string
	// UserID is the member (a guide) whose contact changed; ExternalUserID
	// the customer; State the channel of a 「联系我」 code they added by.
	UserID         string
	ExternalUserID string
	State          string
	WelcomeCode    string
}

type eventXML struct {
	ToUserName     string `xml:"ToUserName"`
	CreateTime     int64  `xml:"CreateTime"`
	MsgType        string `xml:"MsgType"`
	Event          string `xml:"Event"`
	ChangeType     string `xml:"ChangeType"`
	UserID         string `xml:"UserID"`
	ExternalUserID string `xml:"ExternalUserID"`
	State          string `xml:"State"`
	WelcomeCode    string `xml:"WelcomeCode"`
}

// ParseEvent reads a decrypted message.
func ParseEvent(msg []byte) (*Event, error) {
	if len(msg) > MaxMessageBytes {
		return nil, ErrTooLarge
	}
	var x eventXML
	if err := xml.Unmarshal(msg, &x); err != nil {
		return nil, errors.New("wecom callback: the message is not WeCom's XML")
	}
	return &Event{CorpID: x.ToUserName, Created: time.Unix(x.CreateTime, 0), MsgType: x.MsgType, Event: x.Event,
		ChangeType: x.ChangeType, UserID: x.UserID, ExternalUserID: x.ExternalUserID, State: x.State, WelcomeCode: x.WelcomeCode}, nil
}
