package evaluate

// positions maps pond positions to 1 + the index of a mark (0: none), for
// one rule or group. A table that fired for a few customers keeps a bit
// per position and a map of the ones set, 128 KB at a million customers;
// one that fired for many keeps an int32 per position, 4 MB, and a lookup
// is one array read. The change happens once, at a sixteenth of the
// customers: allocating 4 MB for each rule's first fires made the run
// that noted them pay the collector's assists (0.5 s of a 2 s run at a
// million customers, twenty new rules).
type positions struct {
	dense []int32
	// sparse: has marks the positions set, at holds their values.
	has []uint64
	at  map[int32]int32
	n   int // positions set
}

// get returns the value at pos, 0 for none.
func (p *positions) get(pos int) int32 {
	if pos < 0 {
		return 0
	}
	if p.dense != nil {
		if pos < len(p.dense) {
			return p.dense[pos]
		}
		return 0
	}
	if w := pos >> 6; w >= len(p.has) || p.has[w]&(1<<(pos&63)) == 0 {
		return 0
	}
	return p.at[int32(pos)]
}

// set sets the value at pos (not 0), in a pond of size customers.
func (p *positions) set(pos int32, v int32, size int) {
	if p.dense == nil && p.n+1 > max(size/16, 1024) {
		p.densify(size)
	}
	if p.dense != nil {
		if int(pos) >= len(p.dense) {
			grown := make([]int32, max(int(pos)+1, size, 2*len(p.dense)))
			copy(grown, p.dense)
			p.dense = grown
		}
		if p.dense[pos] == 0 {
			p.n++
		}
		p.dense[pos] = v
		return
	}
	w := int(pos) >> 6
	if w >= len(p.has) {
		grown := make([]uint64, max(w+1, (size+63)/64, 2*len(p.has)))
		copy(grown, p.has)
		p.has = grown
	}
	if p.at == nil {
		p.at = map[int32]int32{}
	}
	if p.has[w]&(1<<(pos&63)) == 0 {
		p.has[w] |= 1 << (pos & 63)
		p.n++
	}
	p.at[pos] = v
}

func (p *positions) densify(size int) {
	top := 0
	for pos := range p.at {
		top = max(top, int(pos)+1)
	}
	p.dense = make([]int32, max(top, size))
	for pos, v := range p.at {
		p.dense[pos] = v
	}
	p.has, p.at = nil, nil
}

// each calls fn for every position set, in no particular order.
func (p *positions) each(fn func(pos int, v int32)) {
	if p.dense != nil {
		for pos, v := range p.dense {
			if v != 0 {
				fn(pos, v)
			}
		}
		return
	}
	for pos, v := range p.at {
		fn(int(pos), v)
	}
}
