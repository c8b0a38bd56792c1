package profile

// radixSortInt64 sorts a ascending, using tmp (at least as long as a) as
// scratch, and returns the sorted slice: a itself or tmp's first len(a).
//
// A snapshot sorts the spend of every scored customer to score M: at a
// million customers slices.Sort took 50-60 ms on one core while the other
// waited for it, the one serial part of a snapshot. Byte by byte, passes
// over bytes all values share skipped (spend in fen rarely needs more
// than four), it takes a fraction of that.
func radixSortInt64(a, tmp []int64) []int64 {
	if len(a) < 2 {
		return a
	}
	tmp = tmp[:len(a)]
	// Flipping the sign bit orders negative values before positive ones
	// as unsigned numbers.
	const sign = uint64(1) << 63
	var counts [8][256]int
	for _, v := range a {
		u := uint64(v) ^ sign
		for b := range 8 {
			counts[b][byte(u>>(8*b))]++
		}
	}
	src, dst := a, tmp
	for b := range 8 {
		c := &counts[b]
		if c[byte((uint64(src[0])^sign)>>(8*b))] == len(src) {
			continue // every value has this byte: the pass would move nothing
		}
		offset := 0
		for i, n := range c {
			c[i] = offset
			offset += n
		}
		shift := 8 * b
		for _, v := range src {
			k := byte((uint64(v) ^ sign) >> shift)
			dst[c[k]] = v
			c[k]++
		}
		src, dst = dst, src
	}
	return src
}
