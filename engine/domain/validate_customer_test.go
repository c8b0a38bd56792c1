package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// What real customer records hold is taken; what is not a phone, an email
// or a date is refused, naming the field.
func TestValidateCustomerFields(t *testing.T) {
	tiers := []string{"normal", "gold", "vip"}
	for _, c := range []domain.Customer{
		{ID: "a", Phone: "+86 138-0013-8000"},
		{ID: "b", Phone: "１３８００１３８０００"},
		{ID: "c", Phone: "(021) 6234 5678 转801"},
		{ID: "d", Phone: "021\u00a062345678 ext. 12"},
		{ID: "e", Email: " li.lei@example.com "},
		{ID: "f", Birthday: "02-29"},
		{ID: "g", Birthday: "2000-02-29"},
		{ID: "h", Name: strings.Repeat("名", 85), Tags: []string{strings.Repeat("标", 42)}},
	} {
		if err := domain.ValidateCustomer(&c, tiers); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
		if c.Tier != "normal" {
			t.Errorf("%s: tier %q, want the lowest", c.ID, c.Tier)
		}
	}
	for field, c := range map[string]domain.Customer{
		"tier":     {ID: "x", Tier: "diamond"},
		"phone":    {ID: "x", Phone: "call me"},
		"email":    {ID: "x", Email: "li lei@example"},
		"birthday": {ID: "x", Birthday: "2001-02-29"},
		"id":       {ID: strings.Repeat("x", 129)},
		"tags":     {ID: "x", Tags: []string{strings.Repeat("t", 129)}},
	} {
		err := domain.ValidateCustomer(&c, tiers)
		var e *domain.Error
		if err == nil || !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want an error naming %s", field, err, field)
		}
	}
}
