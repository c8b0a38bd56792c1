package actions

import (
	"fmt"
	"regexp"
	"sort"
)

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// Registry maps action kinds to constructors. It is an explicit value that
// the binary wires, not global state, so tests and custom binaries choose
// exactly which actions exist.
type Registry struct {
	kinds map[string]func() Action
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]func() Action{}} }

// Add registers a kind. It panics on a malformed or duplicate kind: both are
// programming errors in the binary's wiring, not runtime conditions.
func (r *Registry) Add(kind string, newAction func() Action) {
	if !kindPattern.MatchString(kind) {
		panic(fmt.Sprintf("actions: kind %q is not snake_case", kind))
	}
	if _, dup := r.kinds[kind]; dup {
		panic(fmt.Sprintf("actions: kind %q registered twice", kind))
	}
	if newAction == nil {
		panic(fmt.Sprintf("actions: kind %q has no constructor", kind))
	}
	r.kinds[kind] = newAction
}

// New returns a fresh, undecoded action of kind.
func (r *Registry) New(kind string) (Action, bool) {
	f, ok := r.kinds[kind]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Kinds lists the registered kinds in order.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
