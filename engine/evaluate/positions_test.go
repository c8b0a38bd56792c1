package evaluate

import (
	"math/rand/v2"
	"testing"
)

// positions answers as a map would, sparse and after it turns dense, and
// for positions beyond the pond it was made for (customers who joined).
func TestPositionsMatchAMap(t *testing.T) {
	for _, size := range []int{10, 5000, 40000} {
		var p positions
		want := map[int]int32{}
		r := rand.New(rand.NewPCG(uint64(size), 1))
		for k := range 3000 {
			pos := r.IntN(size + size/4)
			v := int32(k + 1)
			p.set(int32(pos), v, size)
			want[pos] = v
			if k%97 == 0 {
				check(t, &p, want, size)
			}
		}
		check(t, &p, want, size)
		if dense := p.dense != nil; dense != (len(want) > max(size/16, 1024)) {
			t.Errorf("size %d, %d set: dense %v", size, len(want), dense)
		}
	}
}

func check(t *testing.T, p *positions, want map[int]int32, size int) {
	t.Helper()
	for pos := -1; pos < size+size/2; pos++ {
		if got := p.get(pos); got != want[pos] {
			t.Fatalf("get(%d) = %d, want %d (dense %v)", pos, got, want[pos], p.dense != nil)
		}
	}
	seen := 0
	p.each(func(pos int, v int32) {
		seen++
		if want[pos] != v {
			t.Fatalf("each: %d = %d, want %d", pos, v, want[pos])
		}
	})
	if seen != len(want) || p.n != len(want) {
		t.Fatalf("each saw %d, n %d, want %d", seen, p.n, len(want))
	}
}
