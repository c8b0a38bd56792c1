package profile

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// A section whose checksum holds but whose counts lie (a writer's bug, or
// a file made to) fails without allocating what the counts claim.
func TestImageCountsAreBoundedByTheSection(t *testing.T) {
	var b []byte
	str := func(s string) { b = append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	str("c1") // id
	for range 3 {
		str("") // name, tier, guide
	}
	b = binary.AppendUvarint(b, 0) // tags
	b = binary.AppendUvarint(b, 0) // opt-out
	b = binary.AppendUvarint(b, 0) // attrs
	b = binary.AppendUvarint(b, 0) // member
	b = binary.AppendVarint(b, 0)  // joined
	b = binary.AppendUvarint(b, 0) // birthday
	events := append([]byte(nil), b...)
	// As many events as bytes follow: each count fits the bytes left, the
	// events' 24 bytes each do not.
	events = binary.AppendUvarint(events, 1000)
	events = append(events, make([]byte, 1000)...)
	names := append([]byte(nil), b[:1]...) // the id's length...
	names[0] = 0xff                        // ...claims more than the section holds
	for name, section := range map[string][]byte{"events": events, "string": append(names, 0x7f)} {
		p := NewPond()
		slab, _ := p.AppendCustomers(1)
		p.events, p.extraAt, p.birthdays = p.events[:1], p.extraAt[:1], p.birthdays[:1]
		rd := &imageReader{r: bytes.NewReader(section)}
		var found []customerExtras
		if err := rd.customers(p, slab, 0, 1, &found); err == nil || rd.err == nil {
			t.Errorf("%s: no error", name)
		}
		if len(p.events[0]) > 0 {
			t.Errorf("%s: %d events allocated", name, len(p.events[0]))
		}
	}
}
