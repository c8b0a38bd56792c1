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
	// strs and nums are the slots of boxed values (box).
	strs []string
	nums []float64
}

// Chunk sizes: large enough that a million customers make a few hundred
// chunks, small enough that the last, partly used one of each loader
// wastes little.
const (
	arenaBytesChunk = 64 << 10
	arenaAttrsChunk = 4 << 10
	arenaBoxChunk   = 4 << 10
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

// boxString returns s as an interface value. Converting a string to an
// interface allocates a 16-byte header of its own: a pond whose customers
// each have an attr value of their own (a member number, a store) held a
// million of them, which every collection marked one by one. The header
// goes in a slot of a large chunk instead; nothing writes the slot again.
func (a *arena) boxString(s string) any {
	if len(a.strs) == cap(a.strs) {
		a.strs = make([]string, 0, arenaBoxChunk)
	}
	a.strs = append(a.strs, s)
	return boxAt(&a.strs[len(a.strs)-1])
}

// boxNumber is boxString for a number that is not one of smallNumbers.
func (a *arena) boxNumber(f float64) any {
	if _, ok := smallNumber(f); ok {
		return boxNumber(f)
	}
	if len(a.nums) == cap(a.nums) {
		a.nums = make([]float64, 0, arenaBoxChunk)
	}
	a.nums = append(a.nums, f)
	return boxAt(&a.nums[len(a.nums)-1])
}

// eface is the layout of an interface value without methods.
type eface struct {
	typ, data unsafe.Pointer
}

// boxAt returns the interface value of type T whose data is *p, the form
// the runtime gives a T it boxed itself: a pointer to an immutable copy.
// *p must never be written again. The interface keeps p's chunk alive.
func boxAt[T string | float64](p *T) any {
	var zero T
	v := any(zero) // the zero value boxes without allocating
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return v
}
