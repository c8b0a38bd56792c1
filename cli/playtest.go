package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

// playTester runs playbook test files: every case in a fresh SQLite
// database of its own, through the same engine koi serve runs, so a test
// that passes is a statement about production behaviour, not a model of it.
type playTester struct {
	cfg      *config
	registry func() *actions.Registry
}

// caseResult is the outcome of one case.
type caseResult struct {
	File     string   `json:"file"`
	Case     string   `json:"case"`
	Line     int      `json:"line"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures,omitempty"`
}

// testFiles lists the test files under paths: files as given, and the
// *_test.yaml files of directories, recursively.
func testFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && rules.IsTestFile(d.Name()) {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}

// runFile runs every case of one test file. A file that does not load (or
// whose playbook does not) returns the error and no results.
func (pt *playTester) runFile(ctx context.Context, path string) ([]caseResult, error) {
	tf, err := rules.LoadTestFile(path, pt.cfg.location)
	if err != nil {
		return nil, err
	}
	var out []caseResult
	for _, c := range tf.Cases {
		failures, err := pt.runCase(ctx, tf, c)
		if err != nil {
			return out, err
		}
		out = append(out, caseResult{File: path, Case: c.Name, Line: c.Line, Passed: len(failures) == 0, Failures: failures})
	}
	return out, nil
}

// engineConfig is the engine configuration of a test file: koi.yaml's,
// with the file's overrides.
func (pt *playTester) engineConfig(tf *rules.TestFile) (engine.Config, error) {
	cfg := pt.cfg
	traits := cfg.channelTraits(pt.registry())
	ec := engine.Config{
		Profile: cfg.profile, Tiers: cfg.Tiers, Channels: cfg.channelNames(), Shapes: traits.shapes, Guides: cfg.guides(),
		Policy: cfg.policyWith(traits.limits), UnsubscribeEvent: cfg.Consent.UnsubscribeEvent,
		Trace: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	o := tf.Config
	if o.Tiers != nil {
		ec.Tiers = o.Tiers
	}
	if o.Location != nil {
		ec.Profile.Location = o.Location
	}
	if o.RFMWindow > 0 {
		ec.Profile.RFMWindow = o.RFMWindow
	}
	if o.Period > 0 {
		ec.Profile.Period = o.Period
	}
	if t := o.Thresholds; t != nil {
		ec.Profile.Thresholds = &profile.Thresholds{RecencyDays: t.RecencyDays, Orders: t.Orders, Spend: t.Spend}
	}
	if o.Policy != nil {
		pol, errs := o.Policy.Compile(tf.File, ec.Channels)
		if len(errs) > 0 {
			var list rules.ErrorList
			for _, e := range errs {
				list = append(list, rules.Error{File: tf.File, Line: o.PolicyLine, Col: 1, Msg: fmt.Sprintf("config: policy.%s: %s", e.Field, e.Msg)})
			}
			return ec, list
		}
		ec.Policy = pol
	}
	return ec, nil
}

// runCase runs one case and returns what did not go as expected.
func (pt *playTester) runCase(ctx context.Context, tf *rules.TestFile, c *rules.TestCase) ([]string, error) {
	dir, err := os.MkdirTemp("", "koi-test-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "test.db"), sqlite.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ec, err := pt.engineConfig(tf)
	if err != nil {
		return nil, err
	}
	if err := seed(ctx, db, c); err != nil {
		return nil, fmt.Errorf("%s:%d: case %q: %w", tf.File, c.Line, c.Name, err)
	}
	eng := engine.New(db, pt.registry(), ec)
	if err := eng.Load(tf.Playbook); err != nil {
		return nil, err
	}
	pb := eng.Playbooks()[0]
	// Event-triggered rules see only events that arrive after they are
	// loaded: this first pass moves past the case's history.
	// Runs are approved in advance unless the file turns the blast guard
	// on: a few test customers are not the audience a limit is for.
	approvedBy := "koi test"
	if tf.Config.BlastGuard {
		approvedBy = ""
	}
	if _, err := eng.ProcessTriggers(ctx, engine.TriggerOptions{Now: func() time.Time { return c.At }, ApprovedBy: approvedBy}); err != nil {
		return nil, err
	}
	var failures []string
	for k, st := range c.Steps {
		f, err := pt.runStep(ctx, db, eng, pb, c, st, approvedBy)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: case %q: step %d: %w", tf.File, st.Line, c.Name, k+1, err)
		}
		for _, msg := range f {
			where := fmt.Sprintf("%s:%d", tf.File, st.Line)
			if len(c.Steps) > 1 {
				where += fmt.Sprintf(" (step %d at %s)", k+1, st.At.Format("2006-01-02 15:04 MST"))
			}
			failures = append(failures, where+": "+msg)
		}
	}
	return failures, nil
}

// seed writes a case's customers, their history and their coupons.
func seed(ctx context.Context, db *sqlite.DB, c *rules.TestCase) error {
	var custs []domain.Customer
	var evs []domain.Event
	var coupons []actions.Coupon
	for _, tc := range c.Customers {
		custs = append(custs, domain.Customer{ID: tc.ID, Name: tc.Name, Tier: tc.Tier, Tags: tc.Tags, Attrs: tc.Attrs,
			Member: tc.Member, JoinedAt: tc.Joined, Birthday: tc.Birthday, Guide: tc.Guide, Phone: tc.Phone,
			Email: tc.Email, WeComID: tc.WeComID, OptOut: tc.OptOut})
		for k, e := range tc.Events {
			evs = append(evs, storeEvent(e, tc.ID, fmt.Sprintf("%s-history-%d", tc.ID, k+1)))
		}
		for _, cp := range tc.Coupons {
			coupons = append(coupons, actions.Coupon{Code: cp.Code, CustomerID: tc.ID, AmountFen: cp.AmountFen, IssuedAt: cp.IssuedAt, ExpiresAt: cp.ExpiresAt})
		}
	}
	if _, err := db.PutCustomers(ctx, custs, c.At); err != nil {
		return fmt.Errorf("customers: %w", err)
	}
	if len(evs) > 0 {
		added, err := db.AddEvents(ctx, evs, nil)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for i, err := range added.ItemErrs {
			return fmt.Errorf("event %s of %s: %w", evs[i].Type, evs[i].CustomerID, err)
		}
	}
	if len(coupons) > 0 {
		_, err := db.WriteFires(ctx, c.At, func(tx engine.FireTx) error {
			return tx.ApplyEffects(&domain.BatchEffects{Coupons: coupons})
		})
		if err != nil {
			return fmt.Errorf("coupons: %w", err)
		}
	}
	return nil
}

func storeEvent(e rules.TestEvent, customer, id string) domain.Event {
	if e.ID != "" {
		id = e.ID
	}
	if e.CustomerID != "" {
		customer = e.CustomerID
	}
	return domain.Event{ID: id, CustomerID: customer, Type: e.Type, At: e.At, AmountFen: e.AmountFen, OrderID: e.OrderID, Code: e.Code, Attrs: e.Attrs}
}

// got is what a step did to one customer.
type got struct {
	fired      []string
	suppressed map[string]string
	errors     map[string]string
	coupons    []int64
	messages   []string
}

// runStep runs one step and compares it with its expectations.
func (pt *playTester) runStep(ctx context.Context, db *sqlite.DB, eng *engine.Engine, pb *rules.Playbook, c *rules.TestCase, st *rules.TestStep, approvedBy string) ([]string, error) {
	// Profiles as the step's rules see them, before they act (after the
	// step's events arrive): what decided it.
	profiles := map[string]*profile.Profile{}
	takeProfiles := func() {
		for _, tc := range c.Customers {
			p, err := eng.Profile(ctx, tc.ID, st.At)
			if err != nil {
				continue
			}
			if pb.Journey != nil {
				// A journey's conditions read the entry's attributes.
				if sts, err := eng.CustomerJourneys(ctx, tc.ID); err == nil {
					for _, js := range sts {
						if js.Journey == pb.Name && js.Status == domain.JourneyEntered {
							p.SetEntry(js.EnteredAt)
						}
					}
				}
			}
			profiles[tc.ID] = p
		}
	}
	var runs []*engine.Run
	if len(st.Events) > 0 {
		evs := make([]domain.Event, len(st.Events))
		for k, e := range st.Events {
			evs[k] = storeEvent(e, "", fmt.Sprintf("step-%d-%d", st.Line, k+1))
		}
		added, err := eng.AddEvents(ctx, evs)
		if err != nil {
			return nil, err
		}
		for i, err := range added.ItemErrs {
			return nil, fmt.Errorf("event %s of %s: %w", evs[i].Type, evs[i].CustomerID, err)
		}
		takeProfiles()
		at := st.At
		runs, err = eng.ProcessTriggers(ctx, engine.TriggerOptions{Now: func() time.Time { return at }, MaxAge: 100 * 365 * 24 * time.Hour, ApprovedBy: approvedBy})
		if err != nil {
			return nil, err
		}
	}
	// A journey's step processes it at its moment after its events (the
	// pass on the events took the steps due then too; this one enters
	// the customers of a scheduled enter.when). A playbook of rules runs
	// at a step without events.
	if pb.Journey != nil || len(st.Events) == 0 {
		if len(st.Events) == 0 {
			takeProfiles()
		}
		more, err := eng.Run(ctx, engine.RunRequest{Playbooks: []string{pb.Name}, At: st.At, ApprovedBy: approvedBy})
		if err != nil {
			return nil, err
		}
		runs = append(runs, more...)
	}
	gots := map[string]*got{}
	g := func(id string) *got {
		if gots[id] == nil {
			gots[id] = &got{suppressed: map[string]string{}, errors: map[string]string{}}
		}
		return gots[id]
	}
	for _, r := range runs {
		for _, o := range r.Outcomes {
			switch o.Outcome {
			case evaluate.OutcomeFired:
				g(o.CustomerID).fired = append(g(o.CustomerID).fired, o.Rule)
			case evaluate.OutcomeError:
				g(o.CustomerID).errors[o.Rule] = o.Error
			default:
				g(o.CustomerID).suppressed[o.Rule] = o.Reason
			}
		}
		if r.FirstFireID == 0 {
			continue
		}
		if err := collectEffects(ctx, db, r, g); err != nil {
			return nil, err
		}
	}
	var failures []string
	listed := map[string]bool{}
	for _, x := range st.Expect {
		listed[x.CustomerID] = true
		failures = append(failures, pt.check(ctx, eng, pb, x, g(x.CustomerID), profiles[x.CustomerID])...)
	}
	for _, tc := range c.Customers {
		if !listed[tc.ID] {
			x := &rules.Expectation{CustomerID: tc.ID, Line: tc.Line, Col: tc.Col}
			failures = append(failures, pt.check(ctx, eng, pb, x, g(tc.ID), profiles[tc.ID])...)
		}
	}
	return failures, nil
}

// collectEffects gathers the coupons and messages of a run's fires.
func collectEffects(ctx context.Context, db *sqlite.DB, r *engine.Run, g func(string) *got) error {
	fires, err := db.RunFires(ctx, r.ID)
	if err != nil {
		return err
	}
	coupons := map[string][]domain.Coupon{} // by customer: read once, not per fire
	for _, f := range fires {
		cs, ok := coupons[f.CustomerID]
		if !ok {
			if cs, err = db.ListCoupons(ctx, domain.CouponFilter{CustomerID: f.CustomerID, Limit: 1000}); err != nil {
				return err
			}
			coupons[f.CustomerID] = cs
		}
		for _, cp := range cs {
			if cp.FireID == f.ID {
				g(f.CustomerID).coupons = append(g(f.CustomerID).coupons, cp.AmountFen)
			}
		}
		jobs, err := db.ListJobs(ctx, domain.JobFilter{FireID: f.ID, Limit: 1000})
		if err != nil {
			return err
		}
		slices.SortFunc(jobs, func(a, b *domain.Job) int { return int(a.ID - b.ID) })
		for _, j := range jobs {
			var p struct {
				Text *string `json:"text"`
			}
			if json.Unmarshal(j.Payload, &p) == nil && p.Text != nil {
				g(f.CustomerID).messages = append(g(f.CustomerID).messages, *p.Text)
			}
		}
	}
	return nil
}

// check compares one customer's expectation with what the step did; each
// failure is a paragraph naming the customer, the expectation, what
// happened instead and the values that decided it.
func (pt *playTester) check(ctx context.Context, eng *engine.Engine, pb *rules.Playbook, x *rules.Expectation, got *got, p *profile.Profile) []string {
	var diffs []string
	var involved []string // rules whose conditions explain the diffs
	want := slices.Clone(x.Fires)
	slices.Sort(want)
	have := slices.Clone(got.fired)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		diffs = append(diffs, fmt.Sprintf("fires: want %s, got %s", ruleList(want), ruleList(have)))
		for _, r := range append(want, have...) {
			if !slices.Contains(want, r) || !slices.Contains(have, r) {
				involved = appendNew(involved, r)
			}
		}
		for _, r := range want {
			if !slices.Contains(have, r) {
				diffs = append(diffs, fmt.Sprintf("  %s: %s", r, describeOutcome(r, got)))
			}
		}
	}
	for _, r := range sortedKeys(x.Suppressed) {
		if reason := got.suppressed[r]; reason != x.Suppressed[r] {
			diffs = append(diffs, fmt.Sprintf("suppressed: want %s suppressed by %s, got %s", r, x.Suppressed[r], describeOutcome(r, got)))
			involved = appendNew(involved, r)
		}
	}
	for _, r := range sortedKeys(got.errors) {
		diffs = append(diffs, fmt.Sprintf("rule %s failed: %s", r, got.errors[r]))
	}
	if x.Coupons != nil {
		w, h := slices.Clone(x.Coupons), slices.Clone(got.coupons)
		slices.Sort(w)
		slices.Sort(h)
		if !slices.Equal(w, h) {
			diffs = append(diffs, fmt.Sprintf("coupons: want %s, got %s", yuanList(w), yuanList(h)))
		}
	}
	if x.Tier != nil || x.Tags != nil {
		cust, err := eng.Customer(ctx, x.CustomerID)
		if err == nil {
			if x.Tier != nil && cust.Tier != *x.Tier {
				diffs = append(diffs, fmt.Sprintf("tier after: want %q, got %q", *x.Tier, cust.Tier))
			}
			if x.Tags != nil {
				w, h := slices.Clone(*x.Tags), slices.Clone(cust.Tags)
				slices.Sort(w)
				slices.Sort(h)
				if !slices.Equal(w, h) {
					diffs = append(diffs, fmt.Sprintf("tags after: want %s, got %s", rules.FormatValue(w), rules.FormatValue(h)))
				}
			}
		}
	}
	if x.Messages != nil && !slices.Equal(*x.Messages, got.messages) {
		diffs = append(diffs, fmt.Sprintf("messages: want %s, got %s", rules.FormatValue(*x.Messages), rules.FormatValue(got.messages)))
	}
	for _, pe := range x.Profile {
		if p == nil {
			break
		}
		v, err := rules.Evaluate(pe.Expr, profile.ExprEnv(), p)
		switch {
		case err != nil:
			diffs = append(diffs, fmt.Sprintf("profile %s (line %d): %v", pe.Expr, pe.Line, err))
		case rules.FormatValue(v) != rules.FormatValue(pe.Want):
			diffs = append(diffs, fmt.Sprintf("profile %s: want %s, got %s", pe.Expr, rules.FormatValue(pe.Want), rules.FormatValue(v)))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "customer %s (line %d)", x.CustomerID, x.Line)
	for _, d := range diffs {
		b.WriteString("\n    " + d)
	}
	if p != nil {
		b.WriteString(decidedBy(pb, involved, p))
	}
	return []string{b.String()}
}

// decidedBy shows, for the rules involved in a failure, the condition and
// the values it read for the customer.
func decidedBy(pb *rules.Playbook, involved []string, p *profile.Profile) string {
	var b strings.Builder
	show := func(label string, c *rules.Condition) {
		vals := c.TermValues(c.Terms(), p)
		parts := make([]string, 0, len(vals))
		for _, t := range c.Terms() {
			parts = append(parts, t+" = "+rules.FormatValue(vals[t]))
		}
		fmt.Fprintf(&b, "\n    %s: %s\n      with %s", label, c.Source, strings.Join(parts, ", "))
	}
	if pb.Audience != nil && len(involved) > 0 {
		show("audience", pb.Audience)
	}
	label := "rule "
	list := pb.Rules
	if pb.Journey != nil {
		label, list = "step ", pb.Journey.Steps
		if len(involved) > 0 && pb.Journey.ExitWhen != nil {
			show("exit_when", pb.Journey.ExitWhen)
		}
	}
	for _, id := range involved {
		for _, r := range list {
			if r.ID == id && r.When != nil {
				show(label+id+" when", r.When)
			}
		}
	}
	return b.String()
}

func describeOutcome(rule string, g *got) string {
	switch {
	case slices.Contains(g.fired, rule):
		return "it fired"
	case g.suppressed[rule] != "":
		return "suppressed by " + g.suppressed[rule]
	case g.errors[rule] != "":
		return "failed: " + g.errors[rule]
	}
	return "did not match (or an earlier stop rule claimed the customer)"
}

func ruleList(rs []string) string {
	if len(rs) == 0 {
		return "none"
	}
	return "[" + strings.Join(rs, ", ") + "]"
}

func yuanList(fen []int64) string {
	if len(fen) == 0 {
		return "none"
	}
	parts := make([]string, len(fen))
	for i, f := range fen {
		parts[i] = rules.FormatValue(actions.FenToYuan(f))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
