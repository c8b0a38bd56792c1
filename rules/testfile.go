package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
)

// A playbook test file (NAME_test.yaml, next to the playbook) gives a
// pond of made-up customers at a fixed time and what the playbook must do
// to each: the format of `koi test`. This file is its YAML mirror and
// strict decoding; cli runs it against a real engine and store.

// TestFile is a loaded playbook test file.
type TestFile struct {
	File string
	// Playbook is the path of the playbook under test, resolved against
	// the test file's directory; PlaybookLine where it is named.
	Playbook     string
	PlaybookLine int
	Config       TestConfig
	Cases        []*TestCase
}

// TestConfig overrides koi.yaml for a test file, so a test pins what its
// expectations depend on.
type TestConfig struct {
	Tiers    []string
	Location *time.Location
	// RFMWindow and Period are zero when not overridden.
	RFMWindow, Period time.Duration
	// Thresholds, when set, replaces the population means for segments.
	Thresholds *TestThresholds
	// Policy, when set, replaces koi.yaml's contact policy.
	Policy *PolicyYAML
	// PolicyLine is where the policy is, for its errors.
	PolicyLine int
	// BlastGuard applies the playbook's limits.max_fires, which tests
	// leave out unless they ask for it.
	BlastGuard bool
}

// TestThresholds are fixed RFM segment boundaries (koi.yaml's rfm.thresholds).
type TestThresholds struct {
	RecencyDays float64 `yaml:"recency_days" json:"recency_days" jsonschema:"description=R is high when recency_days <= this"`
	Orders      float64 `yaml:"orders" json:"orders" jsonschema:"description=F is high when orders in the window >= this"`
	Spend       float64 `yaml:"spend" json:"spend" jsonschema:"description=M is high when spend in the window (yuan) >= this"`
}

// TestCase is one scenario: customers, then evaluations at one or more
// moments, each with what it must do.
type TestCase struct {
	Name string
	Line int
	// At anchors the case's relative times ("-40d").
	At        time.Time
	Customers []*TestCustomer
	Steps     []*TestStep
}

// TestCustomer is a customer of a case with their history.
type TestCustomer struct {
	ID, Name, Tier, Guide string
	Phone, Email, WeComID string
	Tags, OptOut          []string
	Attrs                 map[string]any
	Member                bool
	Joined                time.Time
	Birthday              string
	Events                []TestEvent
	Coupons               []TestCoupon
	Line, Col             int
}

// TestEvent is one event of a customer's history or of a step.
type TestEvent struct {
	ID, CustomerID, Type string
	At                   time.Time
	AmountFen            int64
	OrderID, Code        string
	Attrs                map[string]any
	Line                 int
}

// TestCoupon is a coupon a customer holds when the case starts.
type TestCoupon struct {
	Code                string
	AmountFen           int64
	IssuedAt, ExpiresAt time.Time
}

// TestStep is one evaluation of the playbook in a case: a scheduled run
// at At, or, when Events is set, those events arriving at At and the
// playbook's event-triggered rules running for them.
type TestStep struct {
	At     time.Time
	Line   int
	Events []TestEvent
	// Expect is what must happen, by customer, in file order. A customer
	// of the case not listed must fire nothing.
	Expect []*Expectation
}

// Expectation is what one step must do for one customer.
type Expectation struct {
	CustomerID string
	Line, Col  int
	// Fires lists the rules that must fire for the customer: exactly
	// these (none when the key is absent).
	Fires []string
	// Suppressed maps rules to the reason they must be suppressed with
	// (cooldown, once, holdout, consent, cap, blast_guard; for a journey's
	// steps also when and exited); holdout matches count here too.
	Suppressed map[string]string
	// Coupons are the amounts (fen) of the coupons the step issues the
	// customer, when set.
	Coupons []int64
	// Tier and Tags are the customer's tier and tags after the step,
	// when set.
	Tier *string
	Tags *[]string
	// Messages are the texts of the messages the step sends the
	// customer, when set.
	Messages *[]string
	// Profile maps attribute names (or any expression: has_tag("x")) to
	// the value they must have at the step's moment, before it acts.
	Profile []ProfileExpectation
}

// ProfileExpectation is one expected profile value.
type ProfileExpectation struct {
	Expr string
	// Want is the expected value as written (a YAML scalar).
	Want any
	Line int
}

// The YAML mirrors. Their jsonschema tags describe them for `koi schema`.
type testFileYAML struct {
	Playbook string         `yaml:"playbook" json:"playbook" jsonschema:"required,description=The playbook under test, relative to this file"`
	At       string         `yaml:"at" json:"at,omitempty" jsonschema:"description=Default moment of every case: RFC 3339 or YYYY-MM-DD HH:MM in the config timezone"`
	Config   testConfigYAML `yaml:"config" json:"config,omitempty" jsonschema:"description=Overrides of koi.yaml that the expectations depend on"`
	Cases    []yaml.Node    `yaml:"cases" json:"cases" jsonschema:"required,minItems=1"`
}

type testConfigYAML struct {
	Tiers    []string    `yaml:"tiers" json:"tiers,omitempty" jsonschema:"description=Member tiers, lowest first"`
	Timezone string      `yaml:"timezone" json:"timezone,omitempty" jsonschema:"description=IANA timezone of calendar days and of local times in this file"`
	RFM      testRFMYAML `yaml:"rfm" json:"rfm,omitempty"`
	Policy   *PolicyYAML `yaml:"policy" json:"policy,omitempty" jsonschema:"description=Replaces koi.yaml's contact policy"`
	// BlastGuard turns the playbook's limits.max_fires on, for a case
	// that tests it.
	BlastGuard bool `yaml:"blast_guard" json:"blast_guard,omitempty" jsonschema:"description=Apply the playbook's limits.max_fires (off by default: a few test customers are not the audience a limit is for)"`
}

type testRFMYAML struct {
	Window     string          `yaml:"window" json:"window,omitempty" jsonschema:"description=RFM scoring window, like 365d"`
	Period     string          `yaml:"period" json:"period,omitempty" jsonschema:"description=Lifecycle period, like 365d"`
	Thresholds *TestThresholds `yaml:"thresholds" json:"thresholds,omitempty"`
}

type testCaseYAML struct {
	Name      string      `yaml:"name" json:"name" jsonschema:"required,description=What the case shows"`
	At        string      `yaml:"at" json:"at,omitempty" jsonschema:"description=The case's moment; relative times in it count from here"`
	Customers []yaml.Node `yaml:"customers" json:"customers" jsonschema:"required,minItems=1"`
	Expect    yaml.Node   `yaml:"expect" json:"expect,omitempty" jsonschema:"description=What a run at the case's moment must do, by customer id"`
	Steps     []yaml.Node `yaml:"steps" json:"steps,omitempty" jsonschema:"description=Several evaluations in order, instead of expect"`
}

type testCustomerYAML struct {
	ID       string           `yaml:"id" json:"id" jsonschema:"required"`
	Name     string           `yaml:"name" json:"name,omitempty"`
	Tier     string           `yaml:"tier" json:"tier,omitempty"`
	Tags     []string         `yaml:"tags" json:"tags,omitempty"`
	Attrs    map[string]any   `yaml:"attrs" json:"attrs,omitempty"`
	Member   bool             `yaml:"member" json:"member,omitempty"`
	Joined   string           `yaml:"joined" json:"joined,omitempty" jsonschema:"description=When the customer joined (default 400 days before the case)"`
	Birthday string           `yaml:"birthday" json:"birthday,omitempty" jsonschema:"description=MM-DD or YYYY-MM-DD"`
	Guide    string           `yaml:"guide" json:"guide,omitempty"`
	Phone    string           `yaml:"phone" json:"phone,omitempty"`
	Email    string           `yaml:"email" json:"email,omitempty"`
	WeComID  string           `yaml:"wecom_id" json:"wecom_id,omitempty"`
	OptOut   []string         `yaml:"opt_out" json:"opt_out,omitempty" jsonschema:"description=Channels the customer opted out of (* for all)"`
	Orders   []testOrderYAML  `yaml:"orders" json:"orders,omitempty"`
	Refunds  []testOrderYAML  `yaml:"refunds" json:"refunds,omitempty"`
	Events   []testEventYAML  `yaml:"events" json:"events,omitempty" jsonschema:"description=Other events: visit, share, referral, coupon_redeem, custom types"`
	Coupons  []testCouponYAML `yaml:"coupons" json:"coupons,omitempty" jsonschema:"description=Coupons the customer holds when the case starts"`
}

type testOrderYAML struct {
	At     string  `yaml:"at" json:"at" jsonschema:"required,description=When: -40d (before the case) or an absolute time"`
	Amount float64 `yaml:"amount" json:"amount" jsonschema:"required,description=Yuan"`
	ID     string  `yaml:"id" json:"id,omitempty" jsonschema:"description=The order id (refunds name it)"`
	Order  string  `yaml:"order" json:"order,omitempty" jsonschema:"description=For a refund: the id of the order it refunds"`
}

type testEventYAML struct {
	Type     string         `yaml:"type" json:"type" jsonschema:"required"`
	At       string         `yaml:"at" json:"at,omitempty" jsonschema:"description=When (default: the step's moment)"`
	Customer string         `yaml:"customer" json:"customer,omitempty" jsonschema:"description=In a step: whose event it is"`
	Amount   float64        `yaml:"amount" json:"amount,omitempty" jsonschema:"description=Yuan, for orders and refunds"`
	ID       string         `yaml:"id" json:"id,omitempty"`
	Order    string         `yaml:"order" json:"order,omitempty" jsonschema:"description=The order a refund names"`
	Code     string         `yaml:"code" json:"code,omitempty" jsonschema:"description=The coupon a coupon_redeem names"`
	Attrs    map[string]any `yaml:"attrs" json:"attrs,omitempty"`
}

type testCouponYAML struct {
	Code    string  `yaml:"code" json:"code,omitempty"`
	Amount  float64 `yaml:"amount" json:"amount" jsonschema:"required,description=Yuan"`
	Issued  string  `yaml:"issued" json:"issued,omitempty" jsonschema:"description=When it was issued (default -1d)"`
	Expires string  `yaml:"expires" json:"expires" jsonschema:"required,description=When it expires, like +2d"`
}

type testStepYAML struct {
	At     string          `yaml:"at" json:"at,omitempty" jsonschema:"description=The moment: +30d (after the case's) or an absolute time"`
	Events []testEventYAML `yaml:"events" json:"events,omitempty" jsonschema:"description=Events arriving at the moment; the playbook's on: rules run for them"`
	Expect yaml.Node       `yaml:"expect" json:"expect" jsonschema:"required"`
}

type expectationYAML struct {
	Fires      []string          `yaml:"fires" json:"fires,omitempty" jsonschema:"description=Exactly the rules that fire (default: none)"`
	Suppressed map[string]string `yaml:"suppressed" json:"suppressed,omitempty" jsonschema:"description=Rule id to the reason it is suppressed with"`
	Coupons    []float64         `yaml:"coupons" json:"coupons,omitempty" jsonschema:"description=Amounts (yuan) of the coupons issued"`
	Tier       *string           `yaml:"tier" json:"tier,omitempty" jsonschema:"description=Tier after the step"`
	Tags       *[]string         `yaml:"tags" json:"tags,omitempty" jsonschema:"description=Exactly the tags after the step"`
	Messages   *[]string         `yaml:"messages" json:"messages,omitempty" jsonschema:"description=Exactly the texts sent"`
	Profile    yaml.Node         `yaml:"profile" json:"profile,omitempty" jsonschema:"description=Attribute (or expression) to its value at the step's moment"`
}

// IsTestFile reports whether name is a playbook test file.
func IsTestFile(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".yaml" || ext == ".yml") && strings.HasSuffix(strings.TrimSuffix(name, ext), "_test")
}

// testLoader holds the state of loading one test file.
type testLoader struct {
	file string
	errs ErrorList
	dec  decoder
	loc  *time.Location
}

// LoadTestFile reads and decodes a test file strictly. loc is the
// timezone of local times when the file's config names none. On failure
// the error is an ErrorList with every problem of the file.
func LoadTestFile(path string, loc *time.Location) (*TestFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("read: %v", err)}}
	}
	l := &testLoader{file: path, loc: loc}
	l.dec = decoder{file: path, errs: &l.errs}
	tf := l.load(src)
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return tf, nil
}

func (l *testLoader) errorf(n *yaml.Node, format string, args ...any) {
	l.dec.errorf(n, format, args...)
}

func (l *testLoader) load(src []byte) *TestFile {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		l.errs = append(l.errs, yamlSyntaxError(l.file, err))
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		l.errs = append(l.errs, Error{File: l.file, Line: 1, Col: 1, Msg: "a test file is a mapping with playbook and cases"})
		return nil
	}
	root := doc.Content[0]
	var raw testFileYAML
	l.dec.decode(root, reflect.ValueOf(&raw).Elem(), "test")
	tf := &TestFile{File: l.file, PlaybookLine: root.Line}
	if raw.Playbook == "" {
		l.errorf(root, "test: playbook is required: the playbook file under test, relative to this file")
	} else {
		tf.Playbook = filepath.Join(filepath.Dir(l.file), raw.Playbook)
		tf.PlaybookLine = valueNode(root, "playbook").Line
		if _, err := os.Stat(tf.Playbook); err != nil {
			l.errorf(valueNode(root, "playbook"), "playbook: %s does not exist", tf.Playbook)
		}
	}
	l.config(root, raw.Config, &tf.Config)
	var at time.Time
	if raw.At != "" {
		at = l.time(valueNode(root, "at"), "at", raw.At, time.Time{})
	}
	if len(raw.Cases) == 0 {
		l.errorf(root, "test: cases is required and must list at least one case")
	}
	names := map[string]int{}
	for i := range raw.Cases {
		if c := l.testCase(&raw.Cases[i], at, names); c != nil {
			tf.Cases = append(tf.Cases, c)
		}
	}
	return tf
}

func (l *testLoader) config(root *yaml.Node, raw testConfigYAML, out *TestConfig) {
	cn := valueNode(root, "config")
	out.Tiers = raw.Tiers
	out.BlastGuard = raw.BlastGuard
	if raw.Timezone != "" {
		loc, err := time.LoadLocation(raw.Timezone)
		if err != nil {
			l.errorf(valueNode(cn, "timezone"), "config: timezone: unknown timezone %q (use an IANA name like Asia/Shanghai)", raw.Timezone)
		} else {
			out.Location, l.loc = loc, loc
		}
	}
	rn := valueNode(cn, "rfm")
	for _, d := range []struct {
		key, val string
		to       *time.Duration
	}{{"window", raw.RFM.Window, &out.RFMWindow}, {"period", raw.RFM.Period, &out.Period}} {
		if d.val == "" {
			continue
		}
		v, err := actions.ParseDuration(d.val)
		if err != nil || v <= 0 {
			l.errorf(valueNode(rn, d.key), "config: rfm.%s: want a positive duration like 365d, got %q", d.key, d.val)
		}
		*d.to = v
	}
	out.Thresholds = raw.RFM.Thresholds
	out.Policy = raw.Policy
	if raw.Policy != nil {
		out.PolicyLine = valueNode(cn, "policy").Line
	}
	if l.loc == nil {
		l.loc = time.UTC
	}
}

func (l *testLoader) testCase(n *yaml.Node, fileAt time.Time, names map[string]int) *TestCase {
	var raw testCaseYAML
	before := len(l.errs)
	l.dec.decode(n, reflect.ValueOf(&raw).Elem(), "case")
	c := &TestCase{Name: raw.Name, Line: n.Line, At: fileAt}
	what := "case"
	switch {
	case raw.Name == "":
		l.errorf(n, "case: name is required: say what the case shows")
	default:
		what = fmt.Sprintf("case %q", raw.Name)
		if line, dup := names[raw.Name]; dup {
			l.errorf(valueNode(n, "name"), "%s: the name is already used on line %d", what, line)
		}
		names[raw.Name] = n.Line
	}
	if raw.At != "" {
		c.At = l.time(valueNode(n, "at"), what+": at", raw.At, fileAt)
	}
	if c.At.IsZero() && len(l.errs) == before {
		l.errorf(n, "%s: at is required, here or at the top of the file, so the test does not depend on today's date", what)
		return nil
	}
	ids := map[string]bool{}
	for i := range raw.Customers {
		if cu := l.customer(&raw.Customers[i], c.At, what); cu != nil {
			if ids[cu.ID] {
				l.errorf(valueNode(&raw.Customers[i], "id"), "%s: customer %q is listed twice", what, cu.ID)
			}
			ids[cu.ID] = true
			c.Customers = append(c.Customers, cu)
		}
	}
	if len(raw.Customers) == 0 {
		l.errorf(n, "%s: customers is required and must list at least one customer", what)
	}
	hasExpect := keyNode(n, "expect") != nil
	switch {
	case hasExpect && len(raw.Steps) > 0:
		l.errorf(valueNode(n, "steps"), "%s: give either expect (one run at the case's moment) or steps, not both", what)
	case hasExpect:
		c.Steps = []*TestStep{{At: c.At, Line: n.Line, Expect: l.expectations(&raw.Expect, ids, what)}}
	case len(raw.Steps) == 0:
		l.errorf(n, "%s: expect (or steps) is required: say what the playbook must do", what)
	}
	var prev time.Time
	for i := range raw.Steps {
		sn := &raw.Steps[i]
		var rs testStepYAML
		sw := fmt.Sprintf("%s: step %d", what, i+1)
		l.dec.decode(sn, reflect.ValueOf(&rs).Elem(), sw)
		st := &TestStep{At: c.At, Line: sn.Line}
		if rs.At != "" {
			st.At = l.time(valueNode(sn, "at"), sw+": at", rs.At, c.At)
		}
		if st.At.Before(prev) {
			l.errorf(valueNode(sn, "at"), "%s: at %s is before the previous step's; steps run in time order", sw, st.At.Format(time.RFC3339))
		}
		prev = st.At
		for k := range rs.Events {
			en := valueNode(sn, "events").Content[k]
			ev := l.event(en, rs.Events[k], st.At, sw+": event")
			switch {
			case ev.CustomerID == "":
				l.errorf(en, "%s: event: customer is required in a step", sw)
			case !ids[ev.CustomerID]:
				l.errorf(valueNode(en, "customer"), "%s: event: customer %q is not one of the case's customers", sw, ev.CustomerID)
			}
			st.Events = append(st.Events, ev)
		}
		if keyNode(sn, "expect") == nil {
			l.errorf(sn, "%s: expect is required", sw)
		}
		st.Expect = l.expectations(&rs.Expect, ids, sw)
		c.Steps = append(c.Steps, st)
	}
	if len(l.errs) > before {
		return nil
	}
	return c
}

// defaultJoined is how long before the case a customer joined when the
// file does not say: long enough for "joined over a week ago" rules.
const defaultJoined = 400 * 24 * time.Hour

func (l *testLoader) customer(n *yaml.Node, at time.Time, what string) *TestCustomer {
	var raw testCustomerYAML
	l.dec.decode(n, reflect.ValueOf(&raw).Elem(), what+": customer")
	if raw.ID == "" {
		l.errorf(n, "%s: customer: id is required", what)
		return nil
	}
	w := fmt.Sprintf("%s: customer %s", what, raw.ID)
	c := &TestCustomer{ID: raw.ID, Name: raw.Name, Tier: raw.Tier, Guide: raw.Guide, Phone: raw.Phone, Email: raw.Email,
		WeComID: raw.WeComID, Tags: raw.Tags, OptOut: raw.OptOut, Attrs: raw.Attrs, Member: raw.Member,
		Birthday: raw.Birthday, Joined: at.Add(-defaultJoined), Line: n.Line, Col: n.Column}
	if raw.Joined != "" {
		c.Joined = l.time(valueNode(n, "joined"), w+": joined", raw.Joined, at)
	}
	for k, o := range raw.Orders {
		on := valueNode(n, "orders").Content[k]
		if o.Order != "" {
			l.errorf(valueNode(on, "order"), "%s: orders: order names the order a refund refunds; an order's own id is id", w)
		}
		c.Events = append(c.Events, l.order(on, o, "order", at, w+": order"))
	}
	for k, o := range raw.Refunds {
		rn := valueNode(n, "refunds").Content[k]
		if o.Order == "" {
			l.errorf(rn, "%s: refund: order is required: the id of the order it refunds", w)
		}
		c.Events = append(c.Events, l.order(rn, o, "refund", at, w+": refund"))
	}
	for k, e := range raw.Events {
		en := valueNode(n, "events").Content[k]
		if e.Customer != "" && e.Customer != raw.ID {
			l.errorf(valueNode(en, "customer"), "%s: event: customer is only for step events; this one is %s's", w, raw.ID)
		}
		c.Events = append(c.Events, l.event(en, e, at, w+": event"))
	}
	for k, cp := range raw.Coupons {
		cn := valueNode(n, "coupons").Content[k]
		issued := at.Add(-24 * time.Hour)
		if cp.Issued != "" {
			issued = l.time(valueNode(cn, "issued"), w+": coupon: issued", cp.Issued, at)
		}
		if cp.Expires == "" {
			l.errorf(cn, "%s: coupon: expires is required, like +2d", w)
			continue
		}
		if cp.Amount <= 0 {
			l.errorf(valueNode(cn, "amount"), "%s: coupon: amount: want a positive number of yuan", w)
		}
		code := cp.Code
		if code == "" {
			code = fmt.Sprintf("%s-coupon-%d", raw.ID, k+1)
		}
		c.Coupons = append(c.Coupons, TestCoupon{Code: code, AmountFen: actions.YuanToFen(cp.Amount), IssuedAt: issued,
			ExpiresAt: l.time(valueNode(cn, "expires"), w+": coupon: expires", cp.Expires, at)})
	}
	return c
}

func (l *testLoader) order(n *yaml.Node, o testOrderYAML, typ string, at time.Time, what string) TestEvent {
	if o.At == "" {
		l.errorf(n, "%s: at is required, like -40d", what)
	}
	if o.Amount <= 0 {
		l.errorf(valueNode(n, "amount"), "%s: amount: want a positive number of yuan, got %v", what, o.Amount)
	}
	e := TestEvent{Type: typ, ID: o.ID, AmountFen: actions.YuanToFen(o.Amount), OrderID: o.Order, Line: n.Line}
	if typ == "order" {
		e.OrderID = o.ID
	}
	if o.At != "" {
		e.At = l.time(valueNode(n, "at"), what+": at", o.At, at)
	}
	return e
}

func (l *testLoader) event(n *yaml.Node, e testEventYAML, at time.Time, what string) TestEvent {
	if e.Type == "" {
		l.errorf(n, "%s: type is required", what)
	} else if !slug.MatchString(e.Type) {
		l.errorf(valueNode(n, "type"), "%s: type %q: use lowercase letters, digits, - and _", what, e.Type)
	}
	ev := TestEvent{ID: e.ID, CustomerID: e.Customer, Type: e.Type, At: at, AmountFen: actions.YuanToFen(e.Amount),
		OrderID: e.Order, Code: e.Code, Attrs: e.Attrs, Line: n.Line}
	if e.Type == "order" && e.ID != "" && e.Order == "" {
		ev.OrderID = e.ID
	}
	if e.At != "" {
		ev.At = l.time(valueNode(n, "at"), what+": at", e.At, at)
	}
	return ev
}

// expectations decodes an expect mapping: customer id to expectation.
func (l *testLoader) expectations(n *yaml.Node, ids map[string]bool, what string) []*Expectation {
	if n.Kind == 0 || n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s: expect: want a mapping of customer id to what must happen, got %s", what, describe(n))
		return nil
	}
	var out []*Expectation
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		w := fmt.Sprintf("%s: expect %s", what, k.Value)
		if !ids[k.Value] {
			l.errorf(k, "%s: %q is not one of the case's customers", w, k.Value)
			continue
		}
		var raw expectationYAML
		l.dec.decode(v, reflect.ValueOf(&raw).Elem(), w)
		x := &Expectation{CustomerID: k.Value, Line: k.Line, Col: k.Column, Fires: raw.Fires, Suppressed: raw.Suppressed,
			Tier: raw.Tier, Tags: raw.Tags, Messages: raw.Messages}
		for r, reason := range raw.Suppressed {
			if !knownReasons[reason] {
				l.errorf(valueNode(valueNode(v, "suppressed"), r), "%s: suppressed: %s: unknown reason %q (reasons: %s)", w, r, reason, strings.Join(reasonList, ", "))
			}
		}
		for _, a := range raw.Coupons {
			x.Coupons = append(x.Coupons, actions.YuanToFen(a))
		}
		if keyNode(v, "coupons") != nil && x.Coupons == nil {
			x.Coupons = []int64{}
		}
		pn := &raw.Profile
		if pn.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(pn.Content); j += 2 {
				var want any
				if err := pn.Content[j+1].Decode(&want); err != nil {
					l.errorf(pn.Content[j+1], "%s: profile: %s: %s", w, pn.Content[j].Value, cleanYAMLError(err))
				}
				x.Profile = append(x.Profile, ProfileExpectation{Expr: pn.Content[j].Value, Want: want, Line: pn.Content[j].Line})
			}
		} else if pn.Kind != 0 && pn.Tag != "!!null" {
			l.errorf(pn, "%s: profile: want a mapping of attribute to value, like {lifecycle: repeat}", w)
		}
		out = append(out, x)
	}
	return out
}

// knownReasons are the suppression reasons an expectation may name.
var (
	// when and exited are a journey step's: skipped by its when, or the
	// customer left the journey (exit_when) before it.
	reasonList   = []string{"cooldown", "once", "holdout", "consent", "cap", "blast_guard", "when", "exited"}
	knownReasons = map[string]bool{"cooldown": true, "once": true, "holdout": true, "consent": true, "cap": true, "blast_guard": true, "when": true, "exited": true}
)

// time parses an absolute time, or a relative one ("-40d", "+2h", "-1d12h"
// is not allowed: one unit) counted from anchor.
func (l *testLoader) time(n *yaml.Node, what, s string, anchor time.Time) time.Time {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if anchor.IsZero() {
			l.errorf(n, "%s: %q is relative, but there is no at to count from", what, s)
			return time.Time{}
		}
		d, err := actions.ParseDuration(s[1:])
		if err != nil {
			l.errorf(n, "%s: %v", what, err)
			return time.Time{}
		}
		if s[0] == '-' {
			d = -d
		}
		return anchor.Add(d)
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02"} {
		var t time.Time
		var err error
		if layout == time.RFC3339 {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, l.loc)
		}
		if err == nil {
			return t
		}
	}
	l.errorf(n, "%s: want a time like 2026-06-01 10:00, 2026-06-01T10:00:00+08:00, or one relative to the case like -40d, got %q", what, s)
	return time.Time{}
}
