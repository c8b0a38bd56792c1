package domain

import "time"

// HeldFire is one fire (or holdout) a held run would write when approved.
type HeldFire struct {
	Rule       string `json:"rule"`
	CustomerID string `json:"customer_id"`
	Seq        int    `json:"seq"`
	// GroupSeq is the fire's number in its rule's benefit group (0 when
	// the rule has none).
	GroupSeq int    `json:"group_seq,omitempty"`
	Holdout  bool   `json:"holdout,omitempty"`
	Variant  string `json:"variant,omitempty"`
	// DeliverAt, when set, is when the fire's messages are due (quiet
	// hours, a deferred cap).
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
}

// PlaybookSave is one save of a playbook file made through koi (the
// console's editor): which content, by whom, when.
type PlaybookSave struct {
	// File is the file's base name in the playbooks directory.
	File string `json:"file"`
	// Hash is the content hash of the playbook saved (rules.Playbook.Hash).
	Hash string    `json:"hash"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}
