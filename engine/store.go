package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/report"
)

// KnownCustomers answers, for a store holding the write lock at pond
// version, whether each customer of ids exists, into exists; it returns
// false, answering nothing, when it cannot vouch for that version (its
// pond is behind: another process wrote). The engine answers from its
// pond, so ingest needs no lookup in the customers table per event: that
// lookup, random over a million customers, cost a third of the writer's
// time (koi bench).
type KnownCustomers func(version int64, ids []string, exists []bool) bool

// Store is koi's durable state. engine/sqlite implements it.
//
// The engine keeps the pond in memory. Every committed change to customers,
// events or coupons advances the store's pond version, and every write
// method returns the version its transaction committed: when that is the
// engine's version plus one, the engine applies the change to its pond;
// otherwise someone else wrote too, and the pond is reloaded before it is
// used again.
type Store interface {
	Queries
	// LoadPond reads every customer, event and issued coupon in bulk, and
	// sets the pond's Version to the version it reflects.
	LoadPond(ctx context.Context) (*profile.Pond, error)
	// PondVersion returns the current pond version.
	PondVersion(ctx context.Context) (int64, error)
	// StoreCustomers inserts or replaces customers in one transaction,
	// with their identities; a record naming another customer's identity
	// merges the two, and one whose id was merged updates the survivor
	// (DESIGN §11).
	StoreCustomers(ctx context.Context, b domain.CustomerBatch) (domain.StoredCustomers, error)
	// AddEvents stores events in one transaction, idempotently by id,
	// refusing those of unknown customers item by item. known, when not
	// nil, answers which customers exist (see KnownCustomers); the store
	// reads the customers itself when it is nil or cannot vouch.
	AddEvents(ctx context.Context, evs []domain.Event, known KnownCustomers) (domain.AddedEvents, error)
	// RecordPlaybookSave records a save of a playbook file made through koi.
	RecordPlaybookSave(ctx context.Context, s domain.PlaybookSave) error
	// PlaybookSaves returns a file's latest saves, newest first.
	PlaybookSaves(ctx context.Context, file string, limit int) ([]domain.PlaybookSave, error)
	// GetCustomer reads one stored customer; an Error with ENotFound when
	// there is none.
	GetCustomer(ctx context.Context, id string) (*domain.Customer, error)
	// FireMarks returns the latest fire of every (rule, customer) of a
	// playbook, and of every (group, customer) of the benefit groups
	// given: any fire recorded in the group, whichever playbook made it,
	// and any fire of a rule now in the group recorded before it joined.
	FireMarks(ctx context.Context, playbook string, groups evaluate.GroupRules) (*evaluate.Marks, error)
	// FireHistory hands every fire to fn, in no particular order, for the
	// engine's in-memory history: its rule, customer (valid during the
	// call only), number, time (unix ms), and its benefit group and number
	// in it ("" and 0 for none).
	FireHistory(ctx context.Context, fn func(ref evaluate.RuleRef, customerID []byte, seq int, at int64, group string, gseq int)) error
	// StartRun records a run as running and sets its ID.
	StartRun(ctx context.Context, r *Run) error
	// LastRunAt returns the moment the latest run of a playbook that
	// finished evaluated (done, held or failed; not one a crash cut
	// short; not an event-triggered one), and false when there is none.
	LastRunAt(ctx context.Context, playbook string) (time.Time, bool, error)
	// FinishRun records a run's outcome and counts.
	FinishRun(ctx context.Context, r *Run) error
	// HoldRun keeps a held run's would-be fires for a decision, until
	// expiresAt.
	HoldRun(ctx context.Context, runID int64, fires []domain.HeldFire, expiresAt time.Time) error
	// HeldFires returns up to limit of a held run's fires (all for 0).
	HeldFires(ctx context.Context, runID int64, limit int) ([]domain.HeldFire, error)
	// DecideRun moves a run from one of the statuses in from to status,
	// recording who decided and when; an Error with EConflict when the run
	// is in none of them. Unless status is RunRunning (an approval under
	// way), the held fires are dropped.
	DecideRun(ctx context.Context, runID int64, from []string, status, by string, at time.Time) error
	// OutcomeFires returns the fires and holdouts of a playbook (all when
	// playbook is empty), for reports, with the value of the orders that
	// redeemed their coupons.
	OutcomeFires(ctx context.Context, playbook string) ([]report.OutcomeFire, error)
	// MessageStates counts the messages of each rule's fires (of one
	// playbook, or all) by delivery state, from the contact history.
	MessageStates(ctx context.Context, playbook string) ([]report.MessageStateCount, error)
	// CustomerMessages returns up to limit of a customer's messages,
	// newest first, with what became of each.
	CustomerMessages(ctx context.Context, customerID string, limit int) ([]domain.MessageRecord, error)
	// ExpireHeldRuns marks held runs whose time ran out by now expired.
	ExpireHeldRuns(ctx context.Context, now time.Time) (int, error)
	// ExpireCoupons marks the open coupons that expired by now, and
	// returns how many.
	ExpireCoupons(ctx context.Context, now time.Time) (int, error)
	// SetOptOut opts a customer out of a channel (OptOutAll: every one),
	// or back in when out is false, and returns the customer's opt-outs
	// after.
	SetOptOut(ctx context.Context, customerID, channel string, out bool) (version int64, optOut []string, err error)
	// WriteFires runs fn in one transaction whose clock is now.
	WriteFires(ctx context.Context, now time.Time, fn func(tx FireTx) error) (version int64, err error)
	// DueJourneySteps returns up to limit states of customers in journey
	// whose next step is due by at, in order of due time and customer,
	// after the one `after` names (from the first for its zero value).
	DueJourneySteps(ctx context.Context, journey string, at time.Time, after domain.DueCursor, limit int) ([]domain.JourneyState, error)
	// CustomerJourneys returns the customer's latest entries into
	// journeys (at most 100), by journey and entry: the last of each
	// journey is where they are.
	CustomerJourneys(ctx context.Context, customerID string) ([]domain.JourneyState, error)
	// JourneyEntries returns every entry into journey, of every customer.
	JourneyEntries(ctx context.Context, journey string) ([]domain.JourneyState, error)
	// JourneyStates returns customers' states in journey (their latest
	// entry), by customer: of customerIDs, or of everyone when it is nil.
	JourneyStates(ctx context.Context, journey string, customerIDs []string) (map[string]domain.JourneyState, error)
	// CountDueJourneySteps counts the customers in journey whose next step
	// is due by at.
	CountDueJourneySteps(ctx context.Context, journey string, at time.Time) (int, error)
	// LinkIdentities gives the customer identities (normalised), all or
	// none: one another customer has merges the two, keeping the higher
	// of tiers, and records source as where the merge came from; tagJobs
	// (CustomerBatch.TagJobs) syncs the survivor's tags.
	LinkIdentities(ctx context.Context, customerID string, ids []domain.Identity, at time.Time, tiers []string, source string,
		tagJobs func(key, customerID string, before, after []string, force bool) []domain.NewJob) (domain.StoredCustomers, error)
	// CustomerFires returns a customer's fires, newest first.
	CustomerFires(ctx context.Context, customerID string) ([]domain.Fire, error)
	// LatestMergeID returns the id of the newest merge (0: none).
	LatestMergeID(ctx context.Context) (int64, error)
	// ResolveAlias returns the customer an id names: the survivor when it
	// was merged into another customer, else the id itself.
	ResolveAlias(ctx context.Context, id string) (string, error)
	// CustomerAliases returns the ids merged into the customer.
	CustomerAliases(ctx context.Context, customerID string) ([]string, error)
	// ListMerges returns merges, newest first.
	ListMerges(ctx context.Context, f domain.MergeFilter) ([]domain.Merge, error)
	// ResolveIdentities returns the customer of each identity
	// (normalised), "" for one nobody has.
	ResolveIdentities(ctx context.Context, ids []domain.Identity) ([]string, error)
	// CustomerIdentities returns the customer's identities.
	CustomerIdentities(ctx context.Context, customerID string) ([]domain.Identity, error)
	// JourneyWaiting reports whether a pass of journey waits for a
	// decision at at: a run of it held, or one being approved (running,
	// its held fires still there, decided less than ApprovalLease before
	// at).
	JourneyWaiting(ctx context.Context, journey string, at time.Time) (bool, error)
}

// FireTx is a write transaction for a batch of fires and their local
// effects. Nothing of it is visible until WriteFires commits.
type FireTx interface {
	// BaseVersion is the pond version the transaction started from. The
	// transaction holds the write lock, so nothing else changes the
	// database until it commits.
	BaseVersion() int64
	// InsertFires inserts fires, setting their IDs. inserted[i] is false
	// when a fire with the same (playbook, rule, customer, seq) exists:
	// another run got there first.
	InsertFires(fires []*domain.Fire) (inserted []bool, err error)
	// MergedSince returns the customers who are survivors of merges newer
	// than the merge id mark (as they are now, merged further or not).
	MergedSince(mark int64) (map[string]bool, error)
	// DeleteFires removes fires of this transaction whose actions failed.
	DeleteFires(ids []int64) error
	// EnterJourneys records customers' entries into journeys, numbered
	// from 1; an entry is not recorded (false) when the customer is in the
	// journey now or that entry was recorded already (a racing process).
	// A customer appears at most once per call.
	EnterJourneys(sts []domain.JourneyState) ([]bool, error)
	// AdvanceJourneys moves customers' entries into journeys from the step
	// each is at to its next step or its end; a move is not made (false)
	// when the stored state is no longer at that step of that entry. A
	// customer appears at most once per call.
	AdvanceJourneys(moves []domain.JourneyMove) ([]bool, error)
	// GuideLoads reads how many open tasks each guide has (guides with
	// none are absent) and which guide was most recently given a task.
	GuideLoads() (open map[string]int, last string, err error)
	// CustomerStates reads the stored tier, tags and guide of customers; a
	// customer that does not exist (any more) is missing from the map.
	CustomerStates(ids []string) (map[string]domain.CustomerState, error)
	// ApplyEffects writes the coupons, tags, tiers, guides, tasks and jobs
	// of the batch. The customers they name exist: staging found each in
	// this transaction (stage.Effects), so the store need not look them
	// up again per row.
	ApplyEffects(e *domain.BatchEffects) error
}
