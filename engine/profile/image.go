package profile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/koihq/koi/engine/domain"
)

// A pond image is the pond written out as it is in memory, so a process
// that starts on an unchanged database reads it back in a fraction of the
// time a load from SQLite takes (which converts ten million rows through
// database/sql). SQLite stays the truth: an image names the pond version
// it reflects, and a store uses it only when that is still the database's
// version, and only when its checksum holds.
//
// Layout: a fixed header (magic, format, the identity of the database the
// pond came from, pond version, customers, the
// number of sections, the offset and CRC-32C of the section table, and a
// CRC-32C of the header before it); then the sections: the event type
// names, then the customers in chunks of imageChunk, each with their
// events, coupons and contacts; then the section table (each section's
// offset, length, customers and CRC-32C). Chunks are decoded in parallel.
// Numbers are varints; times are unix milliseconds, as the store keeps
// them; events are eventBytes each, little-endian.

const (
	imageMagic = "KOIPOND\x00"
	// imageFormat 2: events of 20 bytes, with 32-bit refs (refKey).
	imageFormat = 2
	headerSize  = len(imageMagic) + 4 + 16 + 8 + 8 + 4 + 8 + 4 + 4
	entrySize   = 8 + 8 + 8 + 4
	// maxImageString bounds a string read from an image: a corrupt length
	// must not make the reader allocate gigabytes before the checksum
	// fails.
	maxImageString = 1 << 20
	maxImageList   = 1 << 26
)

// extraSection marks the section of ImageView.Extra in the table, in the
// place of a count of customers.
const extraSection = math.MaxUint32

// imageChunk is the number of customers in a section: the unit of
// parallel decoding. (A variable so tests can make chunks small.)
var imageChunk = 1 << 16

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrImageInvalid is returned by ReadImage for a file that is not a pond
// image this version writes, or that is damaged.
var ErrImageInvalid = errors.New("not a valid pond image")

// ImageView is a pond captured for writing while the pond moves on:
// WriteImage reads only what it holds (customer records are never changed
// in place and event arrays only grow or are replaced), so it is taken
// under the pond's lock in milliseconds and written without it.
type ImageView struct {
	version   int64
	customers []*PondCustomer
	events    [][]compactEvent
	birthdays []uint16
	// extraAt and extras are the pond's (see Pond.extraAt), copied: by
	// the image's positions, and the lists of those who have them.
	extraAt []int32
	extras  []extras
	types   []string
	// positions maps the pond's positions to the image's (-1: left out).
	positions []int32
	// Extra is written with the pond and given back by ReadImage
	// (Pond.TakeExtra), covered by the same checksums and version: the
	// engine keeps its fire history there, with positions mapped through
	// Position.
	Extra []byte
}

// Position returns the image position of the pond's customer at pos, and
// false for one the image leaves out.
func (v *ImageView) Position(pos int) (int, bool) {
	if pos < 0 || pos >= len(v.positions) || v.positions[pos] < 0 {
		return 0, false
	}
	return int(v.positions[pos]), true
}

// View captures the pond for WriteImage. The caller holds the pond still
// while it runs. Removed customers are left out, as a load would.
func (p *Pond) View() *ImageView {
	// Sized once: grown by append, the lists of a million customers left
	// as much garbage again, at the peak of a cold start's memory.
	n := len(p.Customers)
	v := &ImageView{version: p.Version, positions: make([]int32, n), customers: make([]*PondCustomer, 0, n),
		events: make([][]compactEvent, 0, n), birthdays: make([]uint16, 0, n), extraAt: make([]int32, 0, n),
		extras: slices.Clone(p.extras)}
	for i, c := range p.Customers {
		v.positions[i] = -1
		if j, ok := p.index.get(p.Customers, c.ID); !ok || j != i {
			continue
		}
		v.positions[i] = int32(len(v.customers))
		v.customers = append(v.customers, c)
		v.events = append(v.events, p.events[i])
		v.extraAt = append(v.extraAt, p.extraAt[i])
		v.birthdays = append(v.birthdays, p.birthdays[i])
	}
	p.types.mu.RLock()
	v.types = append([]string(nil), p.types.names...)
	p.types.mu.RUnlock()
	return v
}

// Version returns the pond version the view reflects.
func (v *ImageView) Version() int64 { return v.version }

// WriteImage writes the view to f, which must be empty, naming origin as
// the database the pond came from.
func (v *ImageView) WriteImage(f io.WriterAt, origin [16]byte) error {
	out := &offsetWriter{f: f, off: int64(headerSize)}
	bw := &imageWriter{w: bufio.NewWriterSize(out, 1<<20)}
	var table []byte
	section := func(start int64, customers int) {
		table = binary.LittleEndian.AppendUint64(table, uint64(start))
		table = binary.LittleEndian.AppendUint64(table, uint64(bw.n))
		table = binary.LittleEndian.AppendUint64(table, uint64(customers))
		table = binary.LittleEndian.AppendUint32(table, bw.crc)
		bw.n, bw.crc = 0, 0
	}
	pos := int64(headerSize)
	bw.uvarint(uint64(len(v.types)))
	for _, t := range v.types {
		bw.str(t)
	}
	next := pos + bw.n
	section(pos, 0)
	pos = next
	for lo := 0; lo < len(v.customers); lo += imageChunk {
		hi := min(lo+imageChunk, len(v.customers))
		for i := lo; i < hi; i++ {
			v.writeCustomer(bw, i)
		}
		next := pos + bw.n
		section(pos, hi-lo)
		pos = next
	}
	if v.Extra != nil {
		bw.raw(v.Extra)
		next := pos + bw.n
		section(pos, extraSection)
		pos = next
	}
	if bw.err != nil {
		return bw.err
	}
	if err := bw.w.Flush(); err != nil {
		return err
	}
	if _, err := f.WriteAt(table, pos); err != nil {
		return err
	}
	h := make([]byte, 0, headerSize)
	h = append(h, imageMagic...)
	h = binary.LittleEndian.AppendUint32(h, imageFormat)
	h = append(h, origin[:]...)
	h = binary.LittleEndian.AppendUint64(h, uint64(v.version))
	h = binary.LittleEndian.AppendUint64(h, uint64(len(v.customers)))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(table)/entrySize))
	h = binary.LittleEndian.AppendUint64(h, uint64(pos))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(table, crcTable))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, crcTable))
	_, err := f.WriteAt(h, 0)
	return err
}

func (v *ImageView) writeCustomer(bw *imageWriter, i int) {
	c := v.customers[i]
	bw.str(c.ID)
	bw.str(c.Name)
	bw.str(c.Tier())
	bw.str(c.Guide())
	bw.strs(c.Tags())
	bw.strs(c.OptOut())
	bw.attrs(c.Attrs)
	var member uint64
	if c.Member {
		member = 1
	}
	bw.uvarint(member)
	bw.varint(c.JoinedAt().UnixMilli())
	bw.uvarint(uint64(v.birthdays[i]))
	bw.uvarint(uint64(len(v.events[i])))
	for k := range v.events[i] {
		e := &v.events[i][k]
		bw.u64(uint64(e.at()))
		bw.u32(e.ref)
		bw.u64(e.meta())
	}
	var ex extras
	if k := v.extraAt[i]; k != 0 {
		ex = v.extras[k-1]
	}
	bw.uvarint(uint64(len(ex.coupons)))
	for _, cp := range ex.coupons {
		bw.str(cp.Code)
		bw.varint(cp.IssuedAt.UnixMilli())
		bw.varint(cp.ExpiresAt.UnixMilli())
	}
	bw.uvarint(uint64(len(ex.contacts)))
	for _, m := range ex.contacts {
		bw.varint(m.At)
		bw.str(m.Channel)
	}
}

// offsetWriter writes to f sequentially from off.
type offsetWriter struct {
	f   io.WriterAt
	off int64
}

func (w *offsetWriter) Write(b []byte) (int, error) {
	n, err := w.f.WriteAt(b, w.off)
	w.off += int64(n)
	return n, err
}

// imageWriter writes the body's encodings, keeping the first error and
// the body's length and checksum.
type imageWriter struct {
	w   *bufio.Writer
	n   int64
	crc uint32
	buf [binary.MaxVarintLen64]byte
	err error
}

func (w *imageWriter) raw(b []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(b)
	w.n += int64(len(b))
	w.crc = crc32.Update(w.crc, crcTable, b)
}

func (w *imageWriter) uvarint(x uint64) { w.raw(binary.AppendUvarint(w.buf[:0], x)) }
func (w *imageWriter) varint(x int64)   { w.raw(binary.AppendVarint(w.buf[:0], x)) }
func (w *imageWriter) u64(x uint64)     { w.raw(binary.LittleEndian.AppendUint64(w.buf[:0], x)) }
func (w *imageWriter) u32(x uint32)     { w.raw(binary.LittleEndian.AppendUint32(w.buf[:0], x)) }

func (w *imageWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	w.raw([]byte(s))
}

func (w *imageWriter) strs(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// Attr values: the JSON scalars by kind, anything else as JSON text.
const (
	attrNull = iota
	attrFalse
	attrTrue
	attrNumber
	attrString
	attrJSON
)

func (w *imageWriter) attrs(l AttrList) {
	w.uvarint(uint64(l.Len()))
	for a := range l.All() {
		w.str(a.Key())
		switch v := a.Value.(type) {
		case nil:
			w.uvarint(attrNull)
		case bool:
			if v {
				w.uvarint(attrTrue)
			} else {
				w.uvarint(attrFalse)
			}
		case float64:
			w.uvarint(attrNumber)
			w.u64(math.Float64bits(v))
		case string:
			w.uvarint(attrString)
			w.str(v)
		default:
			b, err := json.Marshal(v)
			if err != nil && w.err == nil {
				w.err = fmt.Errorf("attr %s: %w", a.Key(), err)
			}
			w.uvarint(attrJSON)
			w.str(string(b))
		}
	}
}

// ReadImage reads a pond image of size bytes, and the origin it names. It
// returns ErrImageInvalid (wrapped) for a file of another format or a
// damaged one; the pond's Version is the one the image names.
func ReadImage(r io.ReaderAt, size int64) (_ *Pond, origin [16]byte, err error) {
	p, err := readImage(r, size, &origin)
	return p, origin, err
}

func readImage(r io.ReaderAt, size int64, origin *[16]byte) (*Pond, error) {
	h := make([]byte, headerSize)
	if _, err := r.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrImageInvalid, err)
	}
	if string(h[:len(imageMagic)]) != imageMagic {
		return nil, fmt.Errorf("%w: no pond image magic", ErrImageInvalid)
	}
	if crc32.Checksum(h[:headerSize-4], crcTable) != binary.LittleEndian.Uint32(h[headerSize-4:]) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrImageInvalid)
	}
	h = h[len(imageMagic):]
	if f := binary.LittleEndian.Uint32(h); f != imageFormat {
		return nil, fmt.Errorf("%w: format %d, this koi reads %d", ErrImageInvalid, f, imageFormat)
	}
	copy(origin[:], h[4:20])
	h = h[16:]
	version := int64(binary.LittleEndian.Uint64(h[4:]))
	n := binary.LittleEndian.Uint64(h[12:])
	sections := int64(binary.LittleEndian.Uint32(h[20:]))
	tableAt := int64(binary.LittleEndian.Uint64(h[24:]))
	tableCRC := binary.LittleEndian.Uint32(h[32:])
	if n > maxImageList || sections < 1 || tableAt < int64(headerSize) || tableAt+sections*entrySize != size {
		return nil, fmt.Errorf("%w: %d customers in %d sections, table at %d of %d bytes", ErrImageInvalid, n, sections, tableAt, size)
	}
	table := make([]byte, sections*entrySize)
	if _, err := r.ReadAt(table, tableAt); err != nil {
		return nil, fmt.Errorf("%w: section table: %v", ErrImageInvalid, err)
	}
	if crc32.Checksum(table, crcTable) != tableCRC {
		return nil, fmt.Errorf("%w: section table checksum mismatch", ErrImageInvalid)
	}
	type sectionEntry struct {
		at, length int64
		customers  int
		crc        uint32
		first      int // the section's first customer
	}
	entries := make([]sectionEntry, sections)
	total, end := 0, int64(headerSize)
	extra := -1 // the section of ImageView.Extra
	for k := range entries {
		e := table[k*entrySize:]
		entries[k] = sectionEntry{at: int64(binary.LittleEndian.Uint64(e)), length: int64(binary.LittleEndian.Uint64(e[8:])),
			customers: int(binary.LittleEndian.Uint64(e[16:])), crc: binary.LittleEndian.Uint32(e[24:]), first: total}
		if entries[k].customers == extraSection && k == len(entries)-1 && k > 0 {
			extra = k
			entries[k].customers = 0
		}
		if entries[k].at != end || entries[k].length < 0 || entries[k].customers < 0 || entries[k].customers > imageChunk {
			return nil, fmt.Errorf("%w: section %d out of place", ErrImageInvalid, k)
		}
		end += entries[k].length
		total += entries[k].customers
	}
	if uint64(total) != n || end != tableAt || entries[0].customers != 0 {
		return nil, fmt.Errorf("%w: sections hold %d customers, the header says %d", ErrImageInvalid, total, n)
	}
	p := NewPond()
	// A section is read whole and its checksum checked before anything
	// in it is believed: a damaged count must not make the decoder
	// allocate gigabytes (sections are 64k customers, some 25 MB).
	// Customers' sections are decoded from buffers the workers pass on
	// (what the pond keeps is copied out of them): with the collector off
	// during the decode, a buffer per section would all stay allocated.
	// Every buffer has room for the longest section, so none is dropped
	// for a bigger one: with the collector off, each dropped buffer stayed
	// allocated until the decode ended, 200 MB at a million customers.
	var longest int64
	for k, e := range entries {
		if k != extra {
			longest = max(longest, e.length)
		}
	}
	bufs := make(chan []byte, runtime.GOMAXPROCS(0))
	section := func(k int, buf []byte) ([]byte, error) {
		e := entries[k]
		if int64(cap(buf)) < e.length {
			buf = make([]byte, max(e.length, longest))
		}
		buf = buf[:e.length]
		if _, err := r.ReadAt(buf, e.at); err != nil {
			return nil, fmt.Errorf("section %d: %w", k, err)
		}
		if crc32.Checksum(buf, crcTable) != e.crc {
			return nil, fmt.Errorf("section %d checksum mismatch", k)
		}
		return buf, nil
	}
	read := func(k int, fn func(*imageReader) error) error {
		var buf []byte
		select {
		case buf = <-bufs:
		default:
		}
		buf, err := section(k, buf)
		if err != nil {
			return err
		}
		defer func() {
			select {
			case bufs <- buf:
			default:
			}
		}()
		rd := &imageReader{r: bytes.NewReader(buf)}
		if err := fn(rd); err != nil {
			return err
		}
		if rd.err != nil {
			return rd.err
		}
		if rd.r.Len() != 0 {
			return fmt.Errorf("section %d is longer than its contents", k)
		}
		return nil
	}
	if err := read(0, func(rd *imageReader) error {
		for range rd.count() {
			p.types.id(rd.str())
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImageInvalid, err)
	}
	slab, _ := p.AppendCustomers(int(n))
	p.events = p.events[:n]
	p.extraAt = p.extraAt[:n]
	p.birthdays = p.birthdays[:n]
	found := make([][]customerExtras, len(entries))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for k := 1; k < len(entries); k++ {
		if k == extra {
			g.Go(func() error {
				var err error
				p.extra, err = section(k, nil)
				return err
			})
			continue
		}
		g.Go(func() error {
			e := entries[k]
			return read(k, func(rd *imageReader) error {
				return rd.customers(p, slab, e.first, e.first+e.customers, &found[k])
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImageInvalid, err)
	}
	for _, f := range found {
		for _, ce := range f {
			p.extras = append(p.extras, ce.extras)
			p.extraAt[ce.i] = int32(len(p.extras))
		}
	}
	for i := range slab {
		if _, dup := p.index.get(p.Customers, slab[i].ID); dup {
			return nil, fmt.Errorf("%w: customer %q twice", ErrImageInvalid, slab[i].ID)
		}
		p.index.put(p.Customers, i)
	}
	p.Version = version
	return p, nil
}

// TakeExtra returns the ImageView.Extra of the image the pond was read
// from (nil for none, or for a pond loaded otherwise), and forgets it.
func (p *Pond) TakeExtra() []byte {
	b := p.extra
	p.extra = nil
	return b
}

// imageReader decodes a body, keeping the first error.
type imageReader struct {
	r     *bytes.Reader
	err   error
	buf   [8]byte
	evbuf []byte
	sbuf  []byte
}

func (r *imageReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *imageReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(r.r)
	r.fail(err)
	return x
}

func (r *imageReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadVarint(r.r)
	r.fail(err)
	return x
}

func (r *imageReader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if _, err := io.ReadFull(r.r, r.buf[:]); err != nil {
		r.fail(err)
		return 0
	}
	return binary.LittleEndian.Uint64(r.buf[:])
}

// eventBytes is the size of an event in an image: at, ref and meta.
const eventBytes = 20

// events reads len(evs) events, eventBytes each, in one read.
func (r *imageReader) events(evs []compactEvent) {
	if r.err != nil {
		return
	}
	n := eventBytes * len(evs)
	if n > r.r.Len() {
		r.fail(fmt.Errorf("%d events in %d bytes", len(evs), r.r.Len()))
		return
	}
	if cap(r.evbuf) < n {
		r.evbuf = make([]byte, n)
	}
	b := r.evbuf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.fail(err)
		return
	}
	for k := range evs {
		e := b[eventBytes*k:]
		evs[k] = compactEvent{atLo: binary.LittleEndian.Uint32(e), atHi: binary.LittleEndian.Uint32(e[4:]), ref: binary.LittleEndian.Uint32(e[8:]),
			metaLo: binary.LittleEndian.Uint32(e[12:]), metaHi: binary.LittleEndian.Uint32(e[16:])}
	}
}

// count reads a list's length, bounded by the bytes left (every entry
// takes one at least) so that no count makes the reader allocate more
// than the section holds.
func (r *imageReader) count() int {
	n := r.uvarint()
	if n > maxImageList || n > uint64(r.r.Len()) {
		r.fail(fmt.Errorf("a list of %d", n))
		return 0
	}
	return int(n)
}

// bytes reads a string's bytes into the reader's buffer, valid until the
// next read.
func (r *imageReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxImageString || n > uint64(r.r.Len()) {
		r.fail(fmt.Errorf("a string of %d bytes", n))
		return nil
	}
	if uint64(cap(r.sbuf)) < n {
		r.sbuf = make([]byte, n)
	}
	b := r.sbuf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.fail(err)
		return nil
	}
	return b
}

func (r *imageReader) str() string { return string(r.bytes()) }

// shared reads a string that in may hold already, allocating only a new
// one: a million customers' tiers are a handful of strings.
func (r *imageReader) shared(in Interner) string { return in.Get(r.bytes()) }

// appendStrs appends a list of strings to buf.
func (r *imageReader) appendStrs(in Interner, buf []string) []string {
	for range r.count() {
		buf = append(buf, r.shared(in))
	}
	return buf
}

func (r *imageReader) strs(in Interner) []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.shared(in)
	}
	return out
}

func (r *imageReader) attrs(ai *AttrInterner) AttrList {
	n := r.count()
	if n == 0 {
		return AttrList{}
	}
	ai.init()
	l := ai.pairs[:0]
	for i := range n {
		l = append(l, Attr{})
		l[i].key = ai.key(unsafeString(r.bytes()))
		switch kind := r.uvarint(); kind {
		case attrNull:
		case attrFalse:
			l[i].Value = false
		case attrTrue:
			l[i].Value = true
		case attrNumber:
			l[i].Value = ai.boxNumber(math.Float64frombits(r.u64()))
		case attrString:
			v := r.bytes()
			l[i].Value = ai.boxBytes(*l[i].key, v)
		case attrJSON:
			var v any
			if err := json.Unmarshal(r.bytes(), &v); err != nil {
				r.fail(err)
			}
			l[i].Value = v
		default:
			r.fail(fmt.Errorf("attr kind %d", kind))
		}
	}
	ai.pairs = l
	// Written as the list yields them, common then own: in one order again.
	slices.SortFunc(l, byKey)
	return ai.list(l)
}

// customerExtras are the extras of the customer at pond index i.
type customerExtras struct {
	i int
	extras
}

// eventArenaChunk is how many events a decoder allocates at once.
const eventArenaChunk = 1 << 16

// customers decodes customers lo..hi into slab and the pond's lists,
// which the caller has sized; chunks decode in parallel, each into its
// own positions. Extras go to found, for the caller to add to the pond's
// one list once the chunks are done.
func (r *imageReader) customers(p *Pond, slab []PondCustomer, lo, hi int, found *[]customerExtras) error {
	in := Interner{}
	ai := AttrInterner{keys: map[string]*string{}, vals: map[string]any{}}
	ai.UseArena()
	var arena []compactEvent // events are carved from it: a million small allocations cost a start-up more
	var lists listInterner
	var tagBuf []string
	for i := lo; i < hi; i++ {
		c := &slab[i]
		c.ID, c.Name = ai.Keep(r.bytes()), ai.Keep(r.bytes())
		c.SetTier(r.shared(in))
		c.SetGuide(r.shared(in))
		tagBuf = r.appendStrs(in, tagBuf[:0])
		c.SetTagList(lists.get(tagBuf))
		c.SetOptOut(r.strs(in))
		c.Attrs = r.attrs(&ai)
		c.Member = r.uvarint() == 1
		c.SetJoinedAt(time.UnixMilli(r.varint()))
		bday := r.uvarint()
		if bday > 1231 {
			r.fail(fmt.Errorf("birthday %d", bday))
		}
		p.birthdays[i] = uint16(bday)
		if ne := r.count(); ne > 0 && eventBytes*ne <= r.r.Len() {
			if cap(arena)-len(arena) < ne {
				arena = make([]compactEvent, 0, max(ne, eventArenaChunk))
			}
			// Capped, so a later append reallocates instead of writing
			// over the next customer's events.
			evs := arena[len(arena) : len(arena)+ne : len(arena)+ne]
			arena = arena[:len(arena)+ne]
			r.events(evs)
			p.events[i] = evs
		} else if ne > 0 {
			r.fail(fmt.Errorf("%d events in %d bytes", ne, r.r.Len()))
		}
		var ex extras
		for range r.count() {
			code := ai.Keep(r.bytes())
			issued, expires := r.varint(), r.varint()
			ex.coupons = append(ex.coupons, domain.IssuedCoupon{Code: code, IssuedAt: time.UnixMilli(issued).UTC(), ExpiresAt: time.UnixMilli(expires).UTC()})
		}
		for range r.count() {
			at := r.varint()
			ex.contacts = append(ex.contacts, ContactMark{At: at, Channel: r.shared(in)})
		}
		if ex.coupons != nil || ex.contacts != nil {
			*found = append(*found, customerExtras{i, ex})
		}
		if r.err != nil {
			return r.err
		}
	}
	return nil
}
