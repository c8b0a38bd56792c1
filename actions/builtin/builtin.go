// Package builtin registers koi's built-in actions.
package builtin

import (
	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/coupon"
	"github.com/koihq/koi/actions/settier"
	"github.com/koihq/koi/actions/tag"
)

// Register adds every built-in action to r.
func Register(r *actions.Registry) {
	r.Add(coupon.Kind, coupon.New)
	r.Add(tag.Kind, tag.New)
	r.Add(settier.Kind, settier.New)
}

// Registry returns a new registry holding the built-ins.
func Registry() *actions.Registry {
	r := actions.NewRegistry()
	Register(r)
	return r
}
