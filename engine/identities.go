package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// LinkIdentities normalises ids and gives them to the customer, all or
// none, and returns who the customer is after. An identity another
// customer has merges the two (DESIGN §11); source says where the link
// came from, for the merge's record.
func (e *Engine) LinkIdentities(ctx context.Context, customerID string, ids []domain.Identity, now time.Time, source string) (string, error) {
	norm, err := domain.NormalizeIdentities(ids)
	if err != nil {
		return "", err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	res, err := e.store.LinkIdentities(ctx, customerID, norm, now, e.cfg.Tiers, source, e.tagJobs())
	if err != nil {
		return "", err
	}
	if res.Jobs > 0 && e.cfg.JobsQueued != nil {
		e.cfg.JobsQueued(res.Jobs)
	}
	e.afterStore(ctx, res, []string{customerID}, nil)
	return res.IDs[0], nil
}

// Merges returns merges, newest first.
func (e *Engine) Merges(ctx context.Context, f domain.MergeFilter) ([]domain.Merge, error) {
	return e.store.ListMerges(ctx, f)
}

// ResolveIdentity returns the customer an identity names.
func (e *Engine) ResolveIdentity(ctx context.Context, id domain.Identity) (string, error) {
	norm, err := domain.NormalizeIdentity(id, "identity")
	if err != nil {
		return "", err
	}
	owners, err := e.store.ResolveIdentities(ctx, []domain.Identity{norm})
	if err != nil {
		return "", err
	}
	if owners[0] == "" {
		return "", &domain.Error{Code: domain.ENotFound, Field: "identity", Message: fmt.Sprintf("no customer has %s %s", norm.Kind, norm.Value)}
	}
	return owners[0], nil
}

// CustomerIdentities returns the customer's identities.
func (e *Engine) CustomerIdentities(ctx context.Context, customerID string) ([]domain.Identity, error) {
	return e.store.CustomerIdentities(ctx, customerID)
}
