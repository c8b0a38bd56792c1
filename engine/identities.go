package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// LinkIdentities normalises ids and gives them to the customer, all or
// none. An identity another customer has is a conflict naming both (koi
// does not merge customers yet: DESIGN §11, issue 26).
func (e *Engine) LinkIdentities(ctx context.Context, customerID string, ids []domain.Identity, now time.Time) error {
	norm, err := normalizeIdentities(ids)
	if err != nil {
		return err
	}
	return e.store.LinkIdentities(ctx, customerID, norm, now)
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

// normalizeIdentities checks and normalises a record's identities; a
// record naming one identity twice (138 0013 8000 and +8613800138000) names
// it once.
func normalizeIdentities(ids []domain.Identity) ([]domain.Identity, error) {
	if len(ids) > domain.MaxIdentities {
		return nil, &domain.Error{Code: domain.EInvalid, Field: "identities", Message: fmt.Sprintf("%d identities; at most %d", len(ids), domain.MaxIdentities)}
	}
	out := make([]domain.Identity, 0, len(ids))
	seen := map[domain.Identity]bool{}
	for i, id := range ids {
		n, err := domain.NormalizeIdentity(id, fmt.Sprintf("identities[%d]", i))
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}
