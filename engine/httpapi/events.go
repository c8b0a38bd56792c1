package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
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
	var req struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := decode(c, &req); err != nil {
		var fe *wire.FieldError
		if errors.As(err, &fe) && fe.Field == "events" {
			return fieldErr("events", "want a list of events")
		}
		return err
	}
	if req.Events == nil {
		return fieldErr("events", "is required: a list of events")
	}
	if len(req.Events) > s.maxBatch {
		return fieldErr("events", fmt.Sprintf("%d events; a batch holds at most %d", len(req.Events), s.maxBatch))
	}
	out := batchResponse{Results: make([]eventResult, len(req.Events))}
	var evs []domain.Event
	var at []int // at[j] is the index in the batch of evs[j]
	for i, raw := range req.Events {
		r := &out.Results[i]
		r.Index = i
		var rec wire.Event
		err := wire.DecodeStrict(raw, &rec)
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
