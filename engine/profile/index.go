package profile

import "hash/maphash"

// customerIndex finds a customer's pond index by id. It is a table of
// indexes with open addressing (linear probing) that compares ids with
// the pond's records instead of storing them: 4 bytes a slot, two slots
// a customer at most, where a map[string]int took 50 MB at a million
// customers. Entries are never deleted: a removed customer's record has
// no id, so its entry matches nothing and goes when the table grows.
type customerIndex struct {
	seed  maphash.Seed
	slots []uint32 // a pond index + 1; 0 is an empty slot
	used  int      // slots not empty
}

// get returns the index of the customer with id among custs.
func (x *customerIndex) get(custs []*PondCustomer, id string) (int, bool) {
	if len(x.slots) == 0 || id == "" {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for k := maphash.String(x.seed, id) & mask; ; k = (k + 1) & mask {
		s := x.slots[k]
		if s == 0 {
			return 0, false
		}
		if custs[s-1].ID == id {
			return int(s - 1), true
		}
	}
}

// put indexes custs[i] under its id, which the caller has checked is not
// indexed yet.
func (x *customerIndex) put(custs []*PondCustomer, i int) {
	if 2*(x.used+1) > len(x.slots) {
		x.grow(custs, 2*(x.used+1))
	}
	x.place(custs[i].ID, i)
}

// reserve makes room for n more customers, so a bulk load does not grow
// the table again and again.
func (x *customerIndex) reserve(custs []*PondCustomer, n int) {
	if want := 2 * (x.used + n); want > len(x.slots) {
		x.grow(custs, want)
	}
}

func (x *customerIndex) place(id string, i int) {
	mask := uint64(len(x.slots) - 1)
	k := maphash.String(x.seed, id) & mask
	for x.slots[k] != 0 {
		k = (k + 1) & mask
	}
	x.slots[k] = uint32(i + 1)
	x.used++
}

// grow moves the entries of customers still in custs with an id into a
// table of at least n slots (a power of two).
func (x *customerIndex) grow(custs []*PondCustomer, n int) {
	if x.slots == nil {
		x.seed = maphash.MakeSeed()
	}
	size := 16
	for size < n {
		size *= 2
	}
	old := x.slots
	x.slots, x.used = make([]uint32, size), 0
	for _, s := range old {
		if s != 0 && custs[s-1].ID != "" {
			x.place(custs[s-1].ID, int(s-1))
		}
	}
}
