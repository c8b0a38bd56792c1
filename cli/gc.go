package cli

import (
	"os"
	"runtime/debug"
)

// defaultGOGC is the garbage collector's target unless GOGC is set.
//
// koi keeps a large, long-lived working set in memory: the pond (every
// customer and event) and the snapshot of profiles, about 1 GB at a
// million customers. Go's default, GOGC=100, lets the heap grow to twice
// what is live before collecting, which would put a second gigabyte on top
// of it. Little of what koi allocates afterwards lives long, so a lower
// target costs a few more, cheap, collections. VictoriaMetrics makes the
// same choice (GOGC=30) for the same reason. GOGC and GOMEMLIMIT in the
// environment take precedence.
const defaultGOGC = 30

func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGOGC)
	}
}
