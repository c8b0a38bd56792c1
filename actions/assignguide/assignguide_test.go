package assignguide_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/actionstest"
	"github.com/koihq/koi/actions/assignguide"
)

func roster(loads ...int) actions.GuideRoster {
	var r actions.GuideRoster
	for i, open := range loads {
		id := string(rune('a' + i))
		r.Guides = append(r.Guides, actions.GuideLoad{Guide: actions.Guide{ID: id, Name: "导购" + id, Capacity: 3}, Open: open})
	}
	return r
}

func load(t *testing.T, a *assignguide.AssignGuide) *assignguide.AssignGuide {
	t.Helper()
	if err := a.Validate(actions.LoadContext{Sample: map[string]any{"name": "示例"}}); err != nil {
		t.Fatal(err)
	}
	return a
}

func assign(t *testing.T, a *assignguide.AssignGuide, fx *actionstest.Effects, id string) (actions.Result, error) {
	t.Helper()
	return a.Do(context.Background(), actionstest.Fire(id, map[string]any{"name": "客户" + id}), fx)
}

func TestLeastLoadedSkipsFullGuidesAndCountsNewTasks(t *testing.T) {
	a := load(t, &assignguide.AssignGuide{Task: "回访 {{.name}}"})
	fx := actionstest.NewEffects()
	fx.Roster = roster(2, 3, 1) // b is full
	var got []string
	for _, id := range []string{"c1", "c2", "c3"} {
		res, err := assign(t, a, fx, id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res["guide"].(string))
	}
	// c: 1 → 2; then a and c tie at 2, a is listed first; then c.
	if strings.Join(got, ",") != "c,a,c" {
		t.Errorf("assigned %v, want c,a,c", got)
	}
	if fx.CustomerGuides["c2"] != "a" || len(fx.Tasks) != 3 || fx.Tasks[0].Note != "回访 客户c1" || !fx.Tasks[0].DueAt.Equal(actionstest.At.Add(72*time.Hour)) {
		t.Errorf("guides %v tasks %+v", fx.CustomerGuides, fx.Tasks)
	}
	// Everyone is full now: the fire fails, to be tried next run.
	if _, err := assign(t, a, fx, "c4"); err == nil || !strings.Contains(err.Error(), "at capacity") {
		t.Errorf("all full: %v", err)
	}
}

func TestRoundRobinContinuesAfterTheLastGuide(t *testing.T) {
	a := load(t, &assignguide.AssignGuide{Strategy: "round_robin", Task: "x"})
	fx := actionstest.NewEffects()
	fx.Roster = roster(0, 3, 0)
	fx.Roster.Last = "a"
	var got []string
	for _, id := range []string{"c1", "c2", "c3"} {
		res, err := assign(t, a, fx, id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res["guide"].(string))
	}
	if strings.Join(got, ",") != "c,a,c" { // b is full
		t.Errorf("assigned %v, want c,a,c", got)
	}
}

func TestAGuideIsKeptUnlessReassign(t *testing.T) {
	fx := actionstest.NewEffects()
	fx.Roster = roster(3, 0) // the customer's guide a is full
	fx.CustomerGuides["c1"] = "a"
	fx.CustomerGuides["c2"] = "gone" // no longer configured
	keep := load(t, &assignguide.AssignGuide{Task: "x"})
	if res, err := assign(t, keep, fx, "c1"); err != nil || res["guide"] != "a" || fx.Tasks[0].Guide != "a" {
		t.Errorf("kept: %v %v", res, err)
	}
	if res, err := assign(t, keep, fx, "c2"); err != nil || res["guide"] != "b" || res["previous"] != "gone" || fx.CustomerGuides["c2"] != "b" {
		t.Errorf("unconfigured guide: %v %v", res, err)
	}
	re := load(t, &assignguide.AssignGuide{Task: "x", Reassign: true})
	if res, err := assign(t, re, fx, "c1"); err != nil || res["guide"] != "b" || fx.CustomerGuides["c1"] != "b" {
		t.Errorf("reassign: %v %v", res, err)
	}
}

func TestValidation(t *testing.T) {
	for _, c := range []struct {
		a     assignguide.AssignGuide
		lc    actions.LoadContext
		field string
	}{
		{assignguide.AssignGuide{Task: "x", Strategy: "random"}, actions.LoadContext{}, "strategy"},
		{assignguide.AssignGuide{Task: "x"}, actions.LoadContext{Guides: []actions.Guide{}}, "strategy"},
		{assignguide.AssignGuide{}, actions.LoadContext{}, "task"},
		{assignguide.AssignGuide{Task: "{{.nmae}}"}, actions.LoadContext{Sample: map[string]any{"name": "x"}}, "task"},
		{assignguide.AssignGuide{Task: "x", DueIn: -1}, actions.LoadContext{}, "due_in"},
	} {
		err := c.a.Validate(c.lc)
		var fe *actions.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error on %s", c.a, err, c.field)
		}
	}
}

func TestEffectErrorsPassThrough(t *testing.T) {
	a := load(t, &assignguide.AssignGuide{Task: "x"})
	fx := actionstest.NewEffects()
	fx.Roster = roster(0)
	fx.Err = errors.New("disk full")
	if _, err := assign(t, a, fx, "c1"); !errors.Is(err, fx.Err) {
		t.Errorf("got %v", err)
	}
}
