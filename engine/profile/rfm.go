package profile

import (
	"slices"
	"sort"

	"github.com/koihq/koi/actions"
)

// Population holds the distribution of R, F and M over the customers scored
// at one moment, so any profile of that moment can be scored against it.
type Population struct {
	n                      int
	recency, orders        []int   // ascending
	spend                  []int64 // ascending, fen
	meanR, meanF, meanM    float64 // meanM in fen
	highR, highF, highMFen float64 // the boundaries segments use
}

// NewPopulation builds the distribution from scored profiles. When th is set
// its fixed thresholds replace the means (rfm.thresholds).
func NewPopulation(profiles []Profile, th *Thresholds) *Population {
	return newPopulation(profiles, th, nil)
}

// newPopulation is NewPopulation reusing the arrays of old, which nothing
// may use any more, when they are large enough.
func newPopulation(profiles []Profile, th *Thresholds, old *Population) *Population {
	n := 0
	for i := range profiles {
		if profiles[i].facts.rfmScored {
			n++
		}
	}
	pop := &Population{}
	if old != nil && cap(old.recency) >= n {
		pop.recency, pop.orders, pop.spend = old.recency[:0], old.orders[:0], old.spend[:0]
	} else {
		pop.recency, pop.orders, pop.spend = make([]int, 0, n), make([]int, 0, n), make([]int64, 0, n)
	}
	for i := range profiles {
		f := &profiles[i].facts
		if !f.rfmScored {
			continue
		}
		pop.recency = append(pop.recency, f.rfmRecency)
		pop.orders = append(pop.orders, f.rfmOrders)
		pop.spend = append(pop.spend, f.rfmSpend)
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
	slices.Sort(pop.recency)
	slices.Sort(pop.orders)
	slices.Sort(pop.spend)
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

// Score sets p.RFM. Customers without an order in the window get zeros and
// no segment.
func (pop *Population) Score(p *Profile) {
	f := &p.facts
	if !f.rfmScored || pop.n == 0 {
		p.RFM = RFM{}
		return
	}
	// w is the number of scored customers with a strictly worse value.
	worseR := pop.n - sort.SearchInts(pop.recency, f.rfmRecency+1) // recency: higher is worse
	worseF := sort.SearchInts(pop.orders, f.rfmOrders)
	worseM := sort.Search(pop.n, func(i int) bool { return pop.spend[i] >= f.rfmSpend })
	p.RFM = RFM{
		R: 1 + 5*worseR/pop.n,
		F: 1 + 5*worseF/pop.n,
		M: 1 + 5*worseM/pop.n,
	}
	p.RFM.Segment = segment(
		float64(f.rfmRecency) <= pop.highR,
		float64(f.rfmOrders) >= pop.highF,
		float64(f.rfmSpend) >= pop.highMFen,
	)
}

func segment(r, f, m bool) string {
	switch {
	case r && f && m:
		return SegImportantValue
	case r && !f && m:
		return SegImportantDevelop
	case !r && f && m:
		return SegImportantRetain
	case !r && !f && m:
		return SegImportantWinback
	case r && f:
		return SegGeneralValue
	case r:
		return SegGeneralDevelop
	case f:
		return SegGeneralRetain
	default:
		return SegGeneralWinback
	}
}
