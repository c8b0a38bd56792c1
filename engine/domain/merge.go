package domain

import "time"

// Merge records two customers found to be one person (DESIGN §11): a
// record named an identity of each, and the younger (by joined_at) was
// merged into the older. Merged stays an alias of Survivor.
type Merge struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Survivor string    `json:"survivor"`
	Merged   string    `json:"merged"`
	// Identity is what linked them: the identity the record gave one of
	// them that the other had.
	Identity Identity `json:"identity"`
	// Source is where the record came from: "api", "import FILE",
	// "wecom callback".
	Source string `json:"source,omitempty"`
	// Moved counts what the merged customer brought over, by kind:
	// events, fires, coupons, tasks, jobs, contacts, journeys, identities.
	Moved map[string]int64 `json:"moved"`
}

// CustomerBatch is customers to store in one transaction (Store.StoreCustomers).
type CustomerBatch struct {
	Customers []Customer
	// Now is when they are stored: the join time of one without, the
	// time of the merges they make.
	Now time.Time
	// Tiers are the configured tiers, lowest first: a merge keeps the
	// higher of the two customers' tiers (the survivor's when either is
	// not among them).
	Tiers []string
	// Source names where the records came from, for the merges they make.
	Source string
	// TagJobs, when set, gives the outbox jobs that carry a customer's
	// change of tags to the channels that show them (tag sync): the store
	// calls it in the batch's transaction, once per customer whose tags
	// the batch changed, with their tags before and after, and stores
	// what it returns with them. key is unique to the batch and customer;
	// force asks for the jobs even when no mapped tag changed (a merge
	// survivor may have taken over the other's contact).
	TagJobs func(key, customerID string, before, after []string, force bool) []NewJob
}

// StoredCustomers is what storing a CustomerBatch did.
type StoredCustomers struct {
	// Version is the pond version the batch committed.
	Version int64
	// IDs are the stored customers' ids in batch order: a record's own
	// id, or the survivor's when it was merged or named an alias.
	IDs []string
	// Merges are the merges the batch made, in order.
	Merges []Merge
	// Jobs counts the outbox jobs the batch enqueued (tag sync).
	Jobs int
	// Final are the customers the batch changed otherwise than by
	// storing a record as given (merge survivors, customers a record
	// added to), as they are after it: what the pond must hold.
	Final []Customer
}

// MergeFilter selects merges: of a customer (survivor or merged; empty
// for all), with ids below Before (0: from the newest), at most Limit.
type MergeFilter struct {
	CustomerID string
	Before     int64
	Limit      int
}
