package profile

import (
	"slices"
	"strings"
)

// Attr is one of a customer's attrs.
type Attr struct {
	Key   string
	Value any
}

// AttrList is a customer's attrs as the pond keeps them: pairs sorted by
// key. A map per customer cost 300-odd bytes at four attrs; the pairs
// cost 32 bytes each, and their keys and common values are shared
// (AttrInterner). The pond never changes a list in place.
type AttrList []Attr

// NewAttrList returns the attrs of m as a list.
func NewAttrList(m map[string]any) AttrList {
	return new(AttrInterner).List(m)
}

// Get returns the value of key.
func (l AttrList) Get(key string) (any, bool) {
	for _, a := range l {
		if a.Key == key {
			return a.Value, true
		}
	}
	return nil, false
}

// Map returns the attrs as a map of their own, nil when there are none.
func (l AttrList) Map() map[string]any {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]any, len(l))
	for _, a := range l {
		m[a.Key] = a.Value
	}
	return m
}

// AttrInterner makes attr lists whose keys and string values share memory
// with the lists it made before: a million customers' "city" keys and
// their few dozen cities are stored once. It is bounded, so a pond of
// unique values costs no more than storing each; it is not safe for
// concurrent use (a loader keeps one per goroutine).
type AttrInterner struct {
	keys map[string]string
	vals map[string]any
}

// internLimit bounds the keys and values an AttrInterner keeps.
const internLimit = 100_000

// List returns the attrs of m as a list.
func (in *AttrInterner) List(m map[string]any) AttrList {
	if len(m) == 0 {
		return nil
	}
	if in.keys == nil {
		in.keys, in.vals = map[string]string{}, map[string]any{}
	}
	l := make(AttrList, 0, len(m))
	for k, v := range m {
		l = append(l, Attr{Key: in.key(k), Value: in.value(v)})
	}
	slices.SortFunc(l, func(a, b Attr) int { return strings.Compare(a.Key, b.Key) })
	return l
}

func (in *AttrInterner) key(k string) string {
	if s, ok := in.keys[k]; ok {
		return s
	}
	if len(in.keys) < internLimit {
		in.keys[k] = k
	}
	return k
}

// value shares the boxed value of a string seen before.
func (in *AttrInterner) value(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	if boxed, ok := in.vals[s]; ok {
		return boxed
	}
	if len(in.vals) < internLimit {
		in.vals[s] = v
	}
	return v
}
