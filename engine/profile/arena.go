package profile

import "unsafe"

// arena carves the strings and attr pairs of a pond being loaded out of a
// few large allocations. Every small object on the heap costs each garbage
// collection a visit: a million customers with an id, a name and an attr
// value of their own made four million of them, and each collection (one
// every 200 MB allocated, with koi's GOGC) took 0.2 s of CPU from the run,
// the journey pass or the ingest it interrupted. Carved, they are a few
// hundred chunks.
//
// The bytes of a carved string are never written again (the arena only
// appends past them), so the strings are as immutable as any. A chunk
// lives while any string or list carved from it does: a customer whose
// name changes keeps its old name's chunk alive with its neighbours', a
// few bytes each, until the pond is replaced. Not safe for concurrent
// use: a loader keeps one per goroutine.
type arena struct {
	bytes []byte
	attrs []Attr
}

// Chunk sizes: large enough that a million customers make a few hundred
// chunks, small enough that the last, partly used one of each loader
// wastes little.
const (
	arenaBytesChunk = 64 << 10
	arenaAttrsChunk = 4 << 10
)

// str returns a string equal to b, which may alias a buffer the caller
// reuses.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaBytesChunk/4 {
		return string(b) // a long one would waste the rest of a chunk
	}
	if cap(a.bytes)-len(a.bytes) < len(b) {
		a.bytes = make([]byte, 0, arenaBytesChunk)
	}
	start := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return unsafe.String(&a.bytes[start], len(b))
}

// attrList returns an empty list with room for n pairs, capped so that
// appending past n reallocates instead of writing over the next list.
func (a *arena) attrList(n int) []Attr {
	if n > arenaAttrsChunk/4 {
		return make([]Attr, 0, n)
	}
	if cap(a.attrs)-len(a.attrs) < n {
		a.attrs = make([]Attr, 0, arenaAttrsChunk)
	}
	l := a.attrs[len(a.attrs) : len(a.attrs) : len(a.attrs)+n]
	a.attrs = a.attrs[:len(a.attrs)+n]
	return l
}
