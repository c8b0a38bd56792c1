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
	norm, err := domain.NormalizeIdentities(ids)
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
