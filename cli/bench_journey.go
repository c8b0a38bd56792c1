package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/rules"
)

// benchJourney is the bench's journey: a tenth of the pond (ids ending in
// 3: 100,000 at a million customers) enters at the bench's moment; the
// timed pass a day later takes their first step, with its fire, its tag
// and its holdout, and moves each journey on.
const benchJourney = `name: bench-journey
schedule: "0 10 * * *"
holdout: 10%
journey:
  enter:
    when: id endsWith "3"
  exit_when: orders_since_entry > 0
  steps:
    - id: nudge
      after: 1d
      actions: [{ tag: { add: [bench-journey] } }]
    - id: offer
      after: 3d
      actions: [{ coupon: { amount: 5, min_spend: 0, expires_in: 7d } }]
`

// benchJourneyPass enters the bench journey's customers (not timed), then
// times the pass that takes their due steps: journey_steps_per_second is
// the steps it took (fired, held out, or left by exit_when) per second,
// from the pass's start to its last step committed.
func benchJourneyPass(ctx context.Context, e *engine.Engine, prof *phaseProfile) (steps int, seconds float64, err error) {
	pb, err := rules.Load("bench-journey.yaml", []byte(benchJourney), e.LoadOptions())
	if err != nil {
		return 0, 0, fmt.Errorf("bench journey: %w", err)
	}
	if _, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: benchAnchor, Enter: true}); err != nil {
		return 0, 0, fmt.Errorf("bench journey entry: %w", err)
	}
	if err := prof.start("journey"); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	r, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: benchAnchor.Add(24 * time.Hour)})
	prof.end()
	if err != nil {
		return 0, 0, fmt.Errorf("bench journey pass: %w", err)
	}
	seconds = time.Since(start).Seconds()
	if r.Status != engine.RunDone {
		// A held pass takes no step: its speed would be the guard's.
		return 0, 0, fmt.Errorf("bench journey pass: %s (%s)", r.Status, r.Error)
	}
	for _, c := range r.Rules {
		steps += c.Fired + c.Errors
		for _, n := range c.Suppressed {
			steps += n
		}
	}
	return steps, seconds, nil
}
