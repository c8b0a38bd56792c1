package evaluate

import (
	"hash/fnv"

	"github.com/koihq/koi/rules"
)

// VariantOf returns the index of the variant of rule r a customer is
// assigned, by the variants' weights; -1 when the rule has none. Like the
// holdout it depends only on names, never on time or order, so a customer
// gets the same variant across runs, restarts and edits that keep the
// variants' ids and weights. The rule's id is hashed in, so a customer's
// variants of different rules are independent.
func VariantOf(playbook string, r *rules.Rule, customerID string) int {
	if len(r.Variants) == 0 {
		return -1
	}
	total := 0
	for _, v := range r.Variants {
		total += v.Weight
	}
	h := fnv.New64a()
	h.Write([]byte(playbook))
	h.Write([]byte{0})
	h.Write([]byte(r.ID))
	h.Write([]byte{0})
	h.Write([]byte(customerID))
	pick := int(h.Sum64() % uint64(total))
	for k, v := range r.Variants {
		if pick < v.Weight {
			return k
		}
		pick -= v.Weight
	}
	return len(r.Variants) - 1
}
