package profile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Attr is one of a customer's attrs: a key (Key) and its value.
type Attr struct {
	// key points to the key, which the lists of an AttrInterner share: 8
	// bytes a pair less than a string header, 32 MB at a million customers
	// with four attrs each.
	key   *string
	Value any
}

// Key returns the attr's key.
func (a Attr) Key() string { return *a.key }

func byKey(a, b Attr) int { return strings.Compare(*a.key, *b.key) }

// AttrList is a customer's attrs as the pond keeps them, in two lists of
// pairs sorted by key: the pairs whose values are common (a city, a
// number of children) in a list that every customer with the same ones
// shares, and the customer's own (a member number). A map per customer
// cost 300-odd bytes at four attrs; with one value of their own, the
// lists cost a customer 56 bytes and that value (AttrInterner). The pond
// never changes a list in place.
type AttrList struct {
	common *[]Attr
	own    []Attr
}

// NewAttrList returns the attrs of m as a list.
func NewAttrList(m map[string]any) AttrList {
	return new(AttrInterner).List(m)
}

// Len returns the number of attrs.
func (l AttrList) Len() int {
	n := len(l.own)
	if l.common != nil {
		n += len(*l.common)
	}
	return n
}

// All yields the attrs: the common ones, then the customer's own, each
// part by key.
func (l AttrList) All() iter.Seq[Attr] {
	return func(yield func(Attr) bool) {
		if l.common != nil {
			for _, a := range *l.common {
				if !yield(a) {
					return
				}
			}
		}
		for _, a := range l.own {
			if !yield(a) {
				return
			}
		}
	}
}

// Get returns the value of key.
func (l AttrList) Get(key string) (any, bool) {
	if l.common != nil {
		for _, a := range *l.common {
			if *a.key == key {
				return a.Value, true
			}
		}
	}
	for _, a := range l.own {
		if *a.key == key {
			return a.Value, true
		}
	}
	return nil, false
}

// Map returns the attrs as a map of their own, nil when there are none.
func (l AttrList) Map() map[string]any {
	if l.Len() == 0 {
		return nil
	}
	m := make(map[string]any, l.Len())
	for a := range l.All() {
		m[*a.key] = a.Value
	}
	return m
}

// AttrInterner makes attr lists whose keys and string values share memory
// with the lists it made before: a million customers' "city" keys and
// their few dozen cities are stored once. It is bounded, so a pond of
// unique values costs no more than storing each; it is not safe for
// concurrent use (a loader keeps one per goroutine).
type AttrInterner struct {
	keys map[string]*string
	vals map[string]any
	// seen counts each key's string values and shared the ones shared:
	// a key whose values are mostly its own (a member number) is not
	// worth a lookup per value.
	seen map[string]*[2]int
	// lists are the common lists made, by the content of their pairs.
	lists map[string]*[]Attr
	// arena, when set, holds the customers' own pairs and string values
	// (a loader's: see arena).
	arena *arena
	// scratch for the lists being made
	pairs  []Attr
	shared []bool
	sig    []byte
}

// internLimit bounds the keys and values an AttrInterner keeps.
const internLimit = 100_000

// List returns the attrs of m as a list.
func (in *AttrInterner) List(m map[string]any) AttrList {
	if len(m) == 0 {
		return AttrList{}
	}
	in.init()
	pairs := in.pairs[:0]
	for k, v := range m {
		key := in.key(k)
		pairs = append(pairs, Attr{key: key, Value: in.value(*key, v)})
	}
	in.pairs = pairs
	slices.SortFunc(pairs, byKey)
	return in.list(pairs)
}

func (in *AttrInterner) init() {
	if in.keys == nil {
		in.keys, in.vals = map[string]*string{}, map[string]any{}
	}
	if in.lists == nil {
		in.lists = map[string]*[]Attr{}
	}
}

// list makes the AttrList of pairs, which are sorted by key: the pairs
// whose values the interner shares go into a common list, itself shared
// with the lists made before with the same ones; the rest are the
// customer's own.
func (in *AttrInterner) list(pairs []Attr) AttrList {
	if len(pairs) == 0 {
		return AttrList{}
	}
	shared, sig, own := in.shared[:0], in.sig[:0], 0
	for _, a := range pairs {
		s := in.shares(a)
		shared = append(shared, s)
		if s {
			sig = appendAttrSig(sig, a)
		} else {
			own++
		}
	}
	in.shared, in.sig = shared, sig
	var l AttrList
	if own > 0 {
		if in.arena != nil {
			l.own = in.arena.attrList(own)
		} else {
			l.own = make([]Attr, 0, own)
		}
	}
	// common is a new common list, allocated only when there is one: a
	// local whose address was taken would be allocated on every call.
	var common *[]Attr
	if own < len(pairs) {
		if c, ok := in.lists[string(sig)]; ok {
			l.common = c
		} else {
			c := make([]Attr, 0, len(pairs)-own)
			common = &c
		}
	}
	for k, a := range pairs {
		switch {
		case !shared[k]:
			l.own = append(l.own, a)
		case common != nil:
			*common = append(*common, a)
		}
	}
	if common != nil {
		l.common = common
		if len(in.lists) < internLimit {
			in.lists[string(sig)] = l.common
		}
	}
	return l
}

// shares reports whether a's value is one that lists share: nothing, a
// boolean, a small whole number or a string the interner keeps.
func (in *AttrInterner) shares(a Attr) bool {
	switch v := a.Value.(type) {
	case nil, bool:
		return true
	case float64:
		_, small := smallNumber(v)
		return small
	case string:
		if st := in.seen[*a.key]; st != nil && st[0] > 1000 && st[1] < st[0]/2 {
			return false // the key's values are mostly their own (see str)
		}
		_, kept := in.vals[v]
		return kept
	}
	return false
}

// appendAttrSig appends what tells a shared pair from another: its key
// and its value, with the value's kind.
func appendAttrSig(b []byte, a Attr) []byte {
	b = append(binary.AppendUvarint(b, uint64(len(*a.key))), *a.key...)
	switch v := a.Value.(type) {
	case nil:
		b = append(b, 'n')
	case bool:
		if v {
			b = append(b, 'T')
		} else {
			b = append(b, 'F')
		}
	case float64:
		b = binary.LittleEndian.AppendUint64(append(b, 'f'), math.Float64bits(v))
	case string:
		b = append(binary.AppendUvarint(append(b, 's'), uint64(len(v))), v...)
	}
	return b
}

// key returns the shared key k; k may alias a buffer.
func (in *AttrInterner) key(k string) *string {
	if s, ok := in.keys[k]; ok {
		return s
	}
	s := new(string)
	*s = strings.Clone(k)
	if len(in.keys) < internLimit {
		in.keys[*s] = s
	}
	return s
}

// value shares the boxed value of a string seen before under key.
func (in *AttrInterner) value(key string, v any) any {
	s, ok := v.(string)
	if !ok {
		if f, ok := v.(float64); ok {
			return boxNumber(f)
		}
		return v
	}
	return in.str(key, s, func() any { return v })
}

// UseArena makes the interner carve the customers' own pairs and string
// values, and the strings Keep returns, out of large chunks (see arena):
// for a loader, which makes a million of them.
func (in *AttrInterner) UseArena() {
	if in.arena == nil {
		in.arena = new(arena)
	}
}

// Keep returns a string equal to b, which may alias a buffer: carved from
// the arena when the interner uses one (a loaded customer's id or name).
func (in *AttrInterner) Keep(b []byte) string {
	if in.arena != nil {
		return in.arena.str(b)
	}
	return string(b)
}

// boxBytes returns the boxed string value of b under key, shared or, for
// a new one, copied out of b (which may alias a buffer).
func (in *AttrInterner) boxBytes(key string, b []byte) any {
	return in.str(key, unsafeString(b), func() any {
		if in.arena != nil {
			return in.arena.boxString(in.arena.str(b))
		}
		return string(b)
	})
}

// str returns the shared boxed value of s under key, boxing it with box
// when it is new.
func (in *AttrInterner) str(key, s string, box func() any) any {
	if in.seen == nil {
		in.seen = map[string]*[2]int{}
	}
	st := in.seen[key]
	if st == nil {
		st = new([2]int)
		if len(in.seen) < internLimit {
			in.seen[key] = st
		}
	}
	// Past a thousand values, a key with under one in two shared stops
	// being looked up.
	if st[0] > 1000 && st[1] < st[0]/2 {
		return box()
	}
	st[0]++
	if boxed, ok := in.vals[s]; ok {
		st[1]++
		return boxed
	}
	v := box()
	if len(in.vals) < internLimit {
		in.vals[v.(string)] = v // the boxed copy: s may alias a buffer
	}
	return v
}

// ParseJSON returns the attrs of a JSON object as a list, the same as
// decoding it with encoding/json and calling List. Stored attrs are
// mostly flat objects of plain strings and numbers, which it reads
// directly, five times faster: a million customers' attrs took three
// seconds of a start-up to decode. Anything else (nesting, escapes,
// malformed text) goes to encoding/json.
func (in *AttrInterner) ParseJSON(raw []byte) (AttrList, error) {
	if l, ok := in.parseFlat(raw); ok {
		return l, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return AttrList{}, err
	}
	return in.List(m), nil
}

// parseFlat reads a flat JSON object of unescaped strings, numbers,
// booleans and nulls; ok is false for anything else.
func (in *AttrInterner) parseFlat(raw []byte) (l AttrList, ok bool) {
	in.init()
	p := flatParser{b: raw}
	pairs := in.pairs[:0]
	defer func() { in.pairs = pairs }()
	if !p.skip('{') {
		return AttrList{}, false
	}
	if p.skip('}') {
		return AttrList{}, p.end()
	}
	for {
		k, ok := p.str()
		if !ok || !p.skip(':') {
			return AttrList{}, false
		}
		key := in.key(unsafeString(k))
		v, ok := p.value(in, *key)
		if !ok {
			return AttrList{}, false
		}
		for _, a := range pairs {
			if *a.key == *key {
				return AttrList{}, false // a repeated key: encoding/json keeps the last
			}
		}
		pairs = append(pairs, Attr{key: key, Value: v})
		if p.skip(',') {
			continue
		}
		if !p.skip('}') || !p.end() {
			return AttrList{}, false
		}
		slices.SortFunc(pairs, byKey)
		return in.list(pairs), true
	}
}

type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *flatParser) skip(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *flatParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// str reads a string without escapes or control characters and returns
// its bytes (which alias the input).
func (p *flatParser) str() ([]byte, bool) {
	if !p.skip('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

func (p *flatParser) value(in *AttrInterner, key string) (any, bool) {
	p.ws()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		return in.boxBytes(key, s), true
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		for p.i < len(p.b) && strings.IndexByte("+-.eE0123456789", p.b[p.i]) >= 0 {
			p.i++
		}
		num := p.b[start:p.i]
		if !jsonNumber(num) {
			return nil, false
		}
		f, err := strconv.ParseFloat(string(num), 64)
		return in.boxNumber(f), err == nil
	}
	for _, lit := range []struct {
		text string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if bytes.HasPrefix(p.b[p.i:], []byte(lit.text)) {
			p.i += len(lit.text)
			return lit.v, true
		}
	}
	return nil, false
}

// jsonNumber reports whether b is a number as JSON writes them:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// smallNumbers are the float64s 0 to 1023, boxed once: the numbers attrs
// hold (children, age, level, a store's number) are mostly small and
// whole, and boxing each customer's would take 8 bytes apiece.
var smallNumbers = func() (t [1024]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

// boxNumber is boxNumber, in the arena when the interner uses one.
func (in *AttrInterner) boxNumber(f float64) any {
	if in.arena != nil {
		return in.arena.boxNumber(f)
	}
	return boxNumber(f)
}

// boxNumber returns f as an any, shared when it is one of smallNumbers.
func boxNumber(f float64) any {
	if i, ok := smallNumber(f); ok {
		return smallNumbers[i]
	}
	return f
}

// smallNumber returns f's index in smallNumbers, if it is one.
func smallNumber(f float64) (int, bool) {
	if f >= 0 && f < float64(len(smallNumbers)) && f == math.Trunc(f) && !math.Signbit(f) {
		return int(f), true
	}
	return 0, false
}

// unsafeString views b as a string for a map lookup; it must not be kept.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Interner shares the memory of repeated strings (tiers, guides, tags,
// channels): a loader keeps one, and a million customers' tiers become a
// handful of strings. It is bounded, so unique strings cost no more than
// storing each; it is not safe for concurrent use.
type Interner map[string]string

// Get returns the string of b, shared when the interner has it; b may
// alias a buffer the caller reuses.
func (in Interner) Get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < internLimit {
		in[s] = s
	}
	return s
}

// listInterner shares lists of strings (a customer's tags) with equal
// ones it made before: most customers carry one of a few combinations.
// Bounded like Interner; not safe for concurrent use.
type listInterner struct {
	lists map[string]*[]string
	key   []byte // scratch: looking a list up allocates nothing
}

// get returns a shared list equal to l (nil for an empty one); l may be
// the caller's scratch: it is copied, not kept.
func (in *listInterner) get(l []string) *[]string {
	if len(l) == 0 {
		return nil
	}
	key := in.key[:0]
	for _, s := range l {
		key = append(binary.AppendUvarint(key, uint64(len(s))), s...)
	}
	in.key = key
	if p, ok := in.lists[string(key)]; ok {
		return p
	}
	own := slices.Clone(l)
	p := &own
	if in.lists == nil {
		in.lists = map[string]*[]string{}
	}
	if len(in.lists) < internLimit {
		in.lists[string(key)] = p
	}
	return p
}
