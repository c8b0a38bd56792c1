package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/wire"
)

// eventResult is what became of one event: "inserted", "duplicate" (its
// id was stored before, or earlier in the batch) or "rejected" (with the
// error, whose field is the event's).
type eventResult struct {
	Index  int       `json:"index"`
	ID     string    `json:"id,omitempty"`
	Status string    `json:"status"`
	Error  *apiError `json:"error,omitempty"`
}

type batchResponse struct {
	Inserted   int           `json:"inserted"`
	Duplicates int           `json:"duplicates"`
	Rejected   int           `json:"rejected"`
	Results    []eventResult `json:"results"`
}

// postEvent stores one event: 201 when new, 200 when its id was stored
// before.
func (s *server) postEvent(c echo.Context) error {
	var rec wire.Event
	if err := decode(c, &rec); err != nil {
		return err
	}
	ev, err := rec.ToEvent(s.loc)
	if err == nil {
		err = s.checkType(ev.Type)
	}
	if err != nil {
		return err
	}
	res, err := s.engine.AddEvents(c.Request().Context(), []domain.Event{ev})
	if err != nil {
		return err
	}
	if err := res.ItemErrs[0]; err != nil {
		return err
	}
	if res.Inserted[0] {
		return c.JSON(http.StatusCreated, map[string]string{"id": ev.ID, "status": "inserted"})
	}
	return c.JSON(http.StatusOK, map[string]string{"id": ev.ID, "status": "duplicate"})
}

// postEventBatch stores {"events": [...]}, reporting each event: a bad
// event is rejected with its error, and the others are stored, in one
// transaction, durable when the response is sent.
func (s *server) postEventBatch(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	recs, errs, err := s.decodeBatch(body)
	if err != nil {
		return err
	}
	out := batchResponse{Results: make([]eventResult, len(recs))}
	evs := make([]domain.Event, 0, len(recs))
	at := make([]int, 0, len(recs)) // at[j] is the index in the batch of evs[j]
	for i := range recs {
		rec := &recs[i]
		r := &out.Results[i]
		r.Index = i
		err := errs[i]
		r.ID = rec.ID
		var ev domain.Event
		if err == nil {
			ev, err = rec.ToEvent(s.loc)
		}
		if err == nil {
			err = s.checkType(ev.Type)
		}
		if err != nil {
			reject(r, i, err)
			continue
		}
		evs = append(evs, ev)
		at = append(at, i)
	}
	if len(evs) > 0 {
		res, err := s.engine.AddEvents(c.Request().Context(), evs)
		if err != nil {
			return err
		}
		for j, i := range at {
			r := &out.Results[i]
			switch {
			case res.ItemErrs[j] != nil:
				reject(r, i, res.ItemErrs[j])
			case res.Inserted[j]:
				r.Status = "inserted"
			default:
				r.Status = "duplicate"
			}
		}
	}
	for _, r := range out.Results {
		switch r.Status {
		case "inserted":
			out.Inserted++
		case "duplicate":
			out.Duplicates++
		default:
			out.Rejected++
		}
	}
	return c.JSON(http.StatusOK, out)
}

// decodeBatch decodes {"events": [...]} strictly into the events, each
// with its own error: an event that is not an event is rejected alone.
// A batch of good events, the common case, is decoded in one pass over
// the body; only when that fails is each event decoded on its own, to
// tell which is bad. Decoding each event on its own, always, read every
// byte three times, copied it twice, and allocated a decoder per event: a
// seventh of a loaded server's CPU, and garbage the collector then
// looked for through the whole pond.
func (s *server) decodeBatch(body []byte) ([]wire.Event, []error, error) {
	var all struct {
		Events []wire.Event `json:"events"`
	}
	// The same strict decoder as the one-by-one path below: a batch it
	// takes, each of its events alone would take, and decode the same.
	if wire.DecodeStrict(body, &all) == nil && all.Events != nil {
		if err := s.checkBatchLen(len(all.Events)); err != nil {
			return nil, nil, err
		}
		return all.Events, make([]error, len(all.Events)), nil
	}
	var req struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := wire.DecodeStrict(body, &req); err != nil {
		var fe *wire.FieldError
		if errors.As(err, &fe) && fe.Field == "events" {
			return nil, nil, fieldErr("events", "want a list of events")
		}
		return nil, nil, err
	}
	if req.Events == nil {
		return nil, nil, fieldErr("events", "is required: a list of events")
	}
	if err := s.checkBatchLen(len(req.Events)); err != nil {
		return nil, nil, err
	}
	recs := make([]wire.Event, len(req.Events))
	errs := make([]error, len(req.Events))
	for i, raw := range req.Events {
		errs[i] = wire.DecodeStrict(raw, &recs[i])
	}
	return recs, errs, nil
}

func (s *server) checkBatchLen(n int) error {
	if n > s.maxBatch {
		return fieldErr("events", fmt.Sprintf("%d events; a batch holds at most %d", n, s.maxBatch))
	}
	return nil
}

// reject records err on the result of the i-th event, its field named
// within the batch: events[3].amount.
func reject(r *eventResult, i int, err error) {
	ae := toAPIError(err)
	if ae.Code == domain.EInternal {
		ae.Message = err.Error()
	}
	ae.Field = fmt.Sprintf("events[%d]", i) + dotted(ae.Field)
	r.Status, r.Error = "rejected", &ae
}

func dotted(field string) string {
	if field == "" {
		return ""
	}
	return "." + field
}

// checkType refuses an event type the configuration does not list, when
// it lists any: a typo such as "oder" would otherwise be stored and never
// counted. The built-in types are always known.
func (s *server) checkType(typ string) error {
	if len(s.eventTypes) == 0 || s.eventTypes[typ] {
		return nil
	}
	switch typ {
	case domain.EventOrder, domain.EventRefund, domain.EventShare, domain.EventReferral, domain.EventCouponRedeem:
		return nil
	}
	return fieldErr("type", fmt.Sprintf("unknown event type %q (the config's events.types lists the custom types)", typ))
}
