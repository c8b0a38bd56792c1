package actions

import (
	"fmt"
	"regexp"
	"sort"
)

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// IsName reports whether s is a valid kind or name: snake_case, like
// set_tier or crm_hook.
func IsName(s string) bool { return kindPattern.MatchString(s) }

// Registry maps action kinds to constructors. It is an explicit value that
// the binary wires, not global state, so tests and custom binaries choose
// exactly which actions exist.
type Registry struct {
	kinds    map[string]func() Action
	workers  map[string]func(WorkerContext) (Worker, error)
	channels map[string]func() Channel
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		kinds:    map[string]func() Action{},
		workers:  map[string]func(WorkerContext) (Worker, error){},
		channels: map[string]func() Channel{},
	}
}

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

// AddWorker registers the worker for jobs of kind; the dispatcher builds
// it once, when it starts, with the opened channels. It panics on a
// malformed or duplicate kind.
func (r *Registry) AddWorker(kind string, newWorker func(WorkerContext) (Worker, error)) {
	register(r.workers, "worker", kind, newWorker)
}

// AddChannel registers a channel type, configured in koi.yaml as
// `channels: {NAME: {type: TYPE, ...}}`. It panics on a malformed or
// duplicate type.
func (r *Registry) AddChannel(typ string, newChannel func() Channel) {
	register(r.channels, "channel type", typ, newChannel)
}

func register[F any](m map[string]F, what, name string, f F) {
	if !kindPattern.MatchString(name) {
		panic(fmt.Sprintf("actions: %s %q is not snake_case", what, name))
	}
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("actions: %s %q registered twice", what, name))
	}
	m[name] = f
}

// HasWorker reports whether jobs of kind have a worker.
func (r *Registry) HasWorker(kind string) bool {
	_, ok := r.workers[kind]
	return ok
}

// NewChannel returns a fresh, unconfigured channel of type typ.
func (r *Registry) NewChannel(typ string) (Channel, bool) {
	f, ok := r.channels[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// ChannelTypes lists the registered channel types in order.
func (r *Registry) ChannelTypes() []string { return sortedKeys(r.channels) }

// Workers builds every registered worker.
func (r *Registry) Workers(wc WorkerContext) (map[string]Worker, error) {
	out := make(map[string]Worker, len(r.workers))
	for _, kind := range sortedKeys(r.workers) {
		w, err := r.workers[kind](wc)
		if err != nil {
			return nil, fmt.Errorf("worker %s: %w", kind, err)
		}
		out[kind] = w
	}
	return out, nil
}

// New returns a fresh, undecoded action of kind.
func (r *Registry) New(kind string) (Action, bool) {
	f, ok := r.kinds[kind]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Kinds lists the registered action kinds in order.
func (r *Registry) Kinds() []string { return sortedKeys(r.kinds) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
