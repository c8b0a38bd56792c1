package profile

import (
	"slices"
	"sync"

	"github.com/koihq/koi/actions"
)

// Population holds the distribution of R, F and M over the customers scored
// at one moment, so any profile of that moment can be scored against it.
type Population struct {
	n               int
	recency, orders []int32 // ascending; as narrow as a row keeps them
	// spend (fen) and spendTmp are the scored spends and the scratch that
	// sorts them, kept for the next snapshot to reuse.
	spend, spendTmp []int64
	// mCuts are the spends M scores are cut at: a customer with a spend
	// above k of them scores 1+k (see score).
	mCuts                  [4]int64
	meanR, meanF, meanM    float64 // meanM in fen
	highR, highF, highMFen float64 // the boundaries segments use
	// recencyRank and ordersRank answer the searches of recency and
	// orders by table: both are small whole numbers (days, orders), and a
	// table lookup per customer instead of a binary search over the
	// population took a third off scoring a million customers.
	recencyRank, ordersRank rankTable
}

// rankTable counts, for each value v of a sorted population, how many
// values are below v: below[v-lo] for v in [lo, lo+len(below)), 0 under
// lo and n over it.
type rankTable struct {
	lo    int32
	n     int
	below []int32
}

// maxRankTable bounds a rank table's size; a population spread wider is
// searched instead.
const maxRankTable = 1 << 16

// build fills t from sorted, reusing its memory; it leaves t empty (so
// that lowerBound searches) when the values spread too wide.
func (t *rankTable) build(sorted []int32) {
	t.below, t.n = t.below[:0], len(sorted)
	if t.n == 0 || int64(sorted[t.n-1])-int64(sorted[0]) >= maxRankTable {
		return
	}
	t.lo = sorted[0]
	if span := int(sorted[t.n-1]-t.lo) + 1; cap(t.below) < span {
		t.below = make([]int32, 0, span)
	}
	k := 0
	for v := t.lo; v <= sorted[t.n-1]; v++ {
		for k < t.n && sorted[k] < v {
			k++
		}
		t.below = append(t.below, int32(k))
	}
}

// countingSort sorts a by counting each value, when its values spread
// over fewer than maxRankTable; else by comparison.
func countingSort(a []int32) {
	if len(a) == 0 {
		return
	}
	lo, hi := slices.Min(a), slices.Max(a)
	if int64(hi)-int64(lo) >= maxRankTable {
		slices.Sort(a)
		return
	}
	counts := make([]int32, int(hi-lo)+1)
	for _, v := range a {
		counts[v-lo]++
	}
	k := 0
	for i, c := range counts {
		for range c {
			a[k] = lo + int32(i)
			k++
		}
	}
}

// lowerBound returns the index of the first of the sorted population
// that is at least v (n if none is).
func (t *rankTable) lowerBound(sorted []int32, v int32) int {
	if len(t.below) == 0 {
		return searchInt32(sorted, v)
	}
	switch i := int64(v) - int64(t.lo); {
	case i < 0:
		return 0
	case i >= int64(len(t.below)):
		return t.n
	default:
		return int(t.below[i])
	}
}

// newPopulation builds the distribution from scored rows, reusing the
// arrays of old, which nothing may use any more, when they are large
// enough. When th is set its fixed thresholds replace the means
// (rfm.thresholds).
func newPopulation(rows []row, th *Thresholds, old *Population) *Population {
	n := 0
	for i := range rows {
		if rows[i].flags&rfmScored != 0 {
			n++
		}
	}
	pop := &Population{}
	if old != nil && cap(old.recency) >= n {
		pop.recency, pop.orders, pop.spend, pop.spendTmp = old.recency[:0], old.orders[:0], old.spend[:0], old.spendTmp
		pop.recencyRank.below, pop.ordersRank.below = old.recencyRank.below, old.ordersRank.below
	} else {
		pop.recency, pop.orders, pop.spend = make([]int32, 0, n), make([]int32, 0, n), make([]int64, 0, n)
	}
	for i := range rows {
		r := &rows[i]
		if r.flags&rfmScored == 0 {
			continue
		}
		pop.recency = append(pop.recency, r.recency)
		pop.orders = append(pop.orders, r.rfmOrders)
		pop.spend = append(pop.spend, r.rfmSpend)
	}
	pop.n = len(pop.recency)
	if pop.n > 0 {
		var sr, sf, sm float64
		for i := 0; i < pop.n; i++ {
			sr += float64(pop.recency[i])
			sf += float64(pop.orders[i])
			sm += float64(pop.spend[i])
		}
		pop.meanR, pop.meanF, pop.meanM = sr/float64(pop.n), sf/float64(pop.n), sm/float64(pop.n)
	}
	// Spend sorts on a core of its own while recency and orders, small
	// whole numbers, are counted into order.
	var wg sync.WaitGroup
	wg.Go(func() {
		if cap(pop.spendTmp) < pop.n {
			pop.spendTmp = make([]int64, pop.n)
		}
		sorted := radixSortInt64(pop.spend, pop.spendTmp)
		if pop.n > 0 {
			for k := range pop.mCuts {
				pop.mCuts[k] = sorted[ceilDiv((k+1)*pop.n, 5)-1]
			}
		}
	})
	countingSort(pop.recency)
	countingSort(pop.orders)
	wg.Wait()
	pop.recencyRank.build(pop.recency)
	pop.ordersRank.build(pop.orders)
	pop.highR, pop.highF, pop.highMFen = pop.meanR, pop.meanF, pop.meanM
	if th != nil {
		pop.highR, pop.highF = th.RecencyDays, th.Orders
		pop.highMFen = float64(actions.YuanToFen(th.Spend))
	}
	return pop
}

// Scored returns the number of scored customers.
func (pop *Population) Scored() int { return pop.n }

// Means returns the mean recency (days), orders and spend (yuan) of the scored.
func (pop *Population) Means() (recencyDays, orders, spend float64) {
	return pop.meanR, pop.meanF, pop.meanM / 100
}

// score sets r's RFM scores and segment. Customers without an order in
// the window get zeros and no segment. (A scored customer's recency is
// their RFM recency: their last order is in the window.)
func (pop *Population) score(r *row) {
	if r.flags&rfmScored == 0 || pop.n == 0 {
		r.r, r.f, r.m, r.segment = 0, 0, 0, 0
		return
	}
	rec, ord, spend := r.recency, r.rfmOrders, r.rfmSpend
	// w is the number of scored customers with a strictly worse value.
	worseR := pop.n - pop.recencyRank.lowerBound(pop.recency, rec+1) // recency: higher is worse
	worseF := pop.ordersRank.lowerBound(pop.orders, ord)
	// A customer scored later (a profile looked up after new orders) may
	// beat everyone the population holds: the best score is still 5.
	r.r = uint8(min(1+5*worseR/pop.n, 5))
	r.f = uint8(min(1+5*worseF/pop.n, 5))
	// 1 + floor(5w/n) is at least 1+k exactly when w, the number of lower
	// spends, is at least ceil(kn/5), that is when the ceil(kn/5)-th
	// lowest spend is below this one: four comparisons, where searching
	// the sorted spends took a cache miss a step for every customer.
	r.m = 1
	for _, cut := range pop.mCuts {
		if cut < spend {
			r.m++
		}
	}
	r.segment = 1 + segment(
		float64(rec) <= pop.highR,
		float64(ord) >= pop.highF,
		float64(spend) >= pop.highMFen,
	)
}

// ceilDiv returns a/b rounded up, for positive a and b.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// searchInt32 returns the index of the first of sorted a that is at
// least v (len(a) if none is).
func searchInt32(a []int32, v int32) int {
	i, _ := slices.BinarySearch(a, v)
	return i
}

// segment returns the index in Segments of the segment of high or low
// R, F and M.
func segment(r, f, m bool) uint8 {
	switch {
	case r && f && m:
		return 0 // SegImportantValue
	case r && !f && m:
		return 1 // SegImportantDevelop
	case !r && f && m:
		return 2 // SegImportantRetain
	case !r && !f && m:
		return 3 // SegImportantWinback
	case r && f:
		return 4 // SegGeneralValue
	case r:
		return 5 // SegGeneralDevelop
	case f:
		return 6 // SegGeneralRetain
	default:
		return 7 // SegGeneralWinback
	}
}
