package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
)

// Options configure loading.
type Options struct {
	// Env is what conditions compile against. Required.
	Env *Env
	// Registry resolves action kinds. Required.
	Registry *actions.Registry
	// Tiers are the configured tiers, lowest first.
	Tiers []string
	// Timezone is used when a playbook names none; UTC if nil.
	Timezone *time.Location
	// Channels names the configured message channels; nil accepts any.
	Channels []string
	// Shapes bound what a message on a channel may carry, by channel name.
	Shapes map[string]actions.MessageShape
	// Guides are the configured sales guides; nil accepts any.
	Guides []actions.Guide
	// Sample is a sample profile's values, for actions to try templates on.
	Sample map[string]any
	// Policy is koi.yaml's contact policy; a playbook's own adds to it.
	Policy Policy
}

type playbookYAML struct {
	Name        string      `yaml:"name" jsonschema:"required,description=Unique name: lowercase letters, digits, - and _"`
	Description string      `yaml:"description" jsonschema:"description=What the playbook is for"`
	Schedule    string      `yaml:"schedule" jsonschema:"description=Cron (0 10 * * *) or @every 6h, in timezone; none for on-demand or event-only playbooks"`
	Timezone    string      `yaml:"timezone" jsonschema:"description=IANA timezone of the schedule and calendar days, like Asia/Shanghai"`
	Audience    string      `yaml:"audience" jsonschema:"scalar,description=Expression prefiltering the customers every rule sees"`
	Holdout     string      `yaml:"holdout" jsonschema:"description=Control group share, like 10%; 0% says none on purpose"`
	Limits      limitsYAML  `yaml:"limits"`
	Policy      *PolicyYAML `yaml:"policy" jsonschema:"description=Contact policy added to koi.yaml's: caps and quiet hours"`
	Attribution string      `yaml:"attribution" jsonschema:"description=How long after a fire an order counts as its outcome (default 14d)"`
	Rules       []yaml.Node `yaml:"rules" jsonschema:"description=What the playbook does on its schedule and on events; or journey: instead"`
	Journey     yaml.Node   `yaml:"journey" jsonschema:"description=A multi-step sequence (SOP) instead of rules: enter, steps, reenter, exit_when"`
}

type limitsYAML struct {
	MaxFires string `yaml:"max_fires" jsonschema:"scalar,description=Blast guard: a run that would fire more is held for approval; a count or a share like 5%"`
}

type ruleYAML struct {
	ID       string `yaml:"id" jsonschema:"required,description=Unique within the playbook: lowercase letters, digits, - and _"`
	On       string `yaml:"on" jsonschema:"description=Event type that triggers the rule for one customer right after the event; none for scheduled rules"`
	When     string `yaml:"when" jsonschema:"required,scalar,description=Boolean expression over the customer's profile"`
	Cooldown string `yaml:"cooldown" jsonschema:"description=Least time between two fires for one customer, like 30d (or once: true)"`
	Once     bool   `yaml:"once" jsonschema:"description=Fire at most once per customer, ever"`
	Group    string `yaml:"group" jsonschema:"description=Benefit group: rules naming the same group, in any playbook, share cooldown and once"`
	Stop     bool   `yaml:"stop" jsonschema:"description=Later rules skip a customer this rule matched"`
	Priority int    `yaml:"priority" jsonschema:"description=Who goes first when the frequency cap allows only some messages: higher"`
	// DeferOnCap queues a capped message for when the cap allows it.
	DeferOnCap bool        `yaml:"defer_on_cap" jsonschema:"description=Send a capped message when the cap allows, instead of dropping it"`
	Actions    []yaml.Node `yaml:"actions" jsonschema:"description=What a fire does"`
	Variants   []yaml.Node `yaml:"variants" jsonschema:"description=An A/B test: each customer gets one variant's actions too"`
}

type variantYAML struct {
	ID      string      `yaml:"id" jsonschema:"required"`
	Weight  int         `yaml:"weight" jsonschema:"required,description=Share relative to the other variants"`
	Actions []yaml.Node `yaml:"actions" jsonschema:"required"`
}

var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// cronParser accepts standard five-field crontabs and descriptors such as
// "@daily" and "@every 6h", the forms the scheduler runs.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// loader holds the state of loading one file.
type loader struct {
	opts  Options
	file  string
	lines []string
	errs  ErrorList
	dec   decoder
}

// notInRules says why an entry attribute is unknown outside a journey.
const notInRules = "only a journey's exit_when and its steps' when can read it"

// Load parses, validates and compiles one playbook. On failure the error is
// an ErrorList with every problem of the file.
func Load(file string, src []byte, opts Options) (*Playbook, error) {
	l := &loader{opts: opts, file: file, lines: strings.Split(string(src), "\n")}
	l.dec = decoder{file: file, errs: &l.errs}
	pb := l.load(src)
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return pb, nil
}

// LoadFile reads and loads one playbook file.
func LoadFile(path string, opts Options) (*Playbook, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("read: %v", err)}}
	}
	return Load(path, src, opts)
}

// IsPlaybookFile reports whether name is a playbook (not a playbook test).
func IsPlaybookFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), "_test")
}

// LoadPaths loads playbooks from files and directories (not recursively).
// It returns every playbook that loaded and, separately, all errors: a
// server keeps running the good ones, `koi check` prints every error.
func LoadPaths(paths []string, opts Options) ([]*Playbook, error) {
	var files []string
	var errs ErrorList
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, Error{File: p, Line: 1, Col: 1, Msg: err.Error()})
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, Error{File: p, Line: 1, Col: 1, Msg: err.Error()})
			continue
		}
		for _, e := range entries {
			if !e.IsDir() && IsPlaybookFile(e.Name()) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	sort.Strings(files)
	var pbs []*Playbook
	byName := map[string]string{}
	for _, f := range files {
		pb, err := LoadFile(f, opts)
		if err != nil {
			errs = append(errs, err.(ErrorList)...)
			continue
		}
		if prev, dup := byName[pb.Name]; dup {
			errs = append(errs, Error{File: f, Line: 1, Col: 1, Msg: fmt.Sprintf("playbook name %q is already used by %s", pb.Name, prev)})
			continue
		}
		byName[pb.Name] = f
		pbs = append(pbs, pb)
	}
	return pbs, errs.Err()
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	l.dec.errorf(n, format, args...)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlSyntaxError places a YAML syntax error on the line yaml.v3 names.
func yamlSyntaxError(file string, err error) Error {
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return Error{File: file, Line: line, Col: 1, Msg: "invalid YAML: " + cleanYAMLError(err)}
}

func (l *loader) load(src []byte) *Playbook {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		l.errs = append(l.errs, yamlSyntaxError(l.file, err))
		return nil
	}
	if len(doc.Content) == 0 {
		l.errs = append(l.errs, Error{File: l.file, Line: 1, Col: 1, Msg: "empty playbook"})
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "a playbook is a mapping with name, rules and the other keys; got %s", describe(root))
		return nil
	}
	var raw playbookYAML
	l.dec.decode(root, reflect.ValueOf(&raw).Elem(), "playbook")
	sum := sha256.Sum256(src)
	pb := &Playbook{
		Name:        raw.Name,
		Description: raw.Description,
		File:        l.file,
		Hash:        hex.EncodeToString(sum[:8]),
		Source:      string(src),
		Schedule:    raw.Schedule,
		Location:    l.opts.Timezone,
		MaxFires:    DefaultMaxFires,
	}
	if pb.Location == nil {
		pb.Location = time.UTC
	}
	switch {
	case raw.Name == "":
		l.errorf(root, "playbook: name is required")
	case !slug.MatchString(raw.Name):
		l.errorf(valueNode(root, "name"), "name %q: use lowercase letters, digits, - and _", raw.Name)
	}
	if raw.Timezone != "" {
		loc, err := time.LoadLocation(raw.Timezone)
		if err != nil {
			l.errorf(valueNode(root, "timezone"), "timezone: unknown timezone %q (use an IANA name like Asia/Shanghai)", raw.Timezone)
		} else {
			pb.Location = loc
		}
	}
	if raw.Schedule != "" {
		if strings.Contains(raw.Schedule, "TZ=") {
			l.errorf(valueNode(root, "schedule"), "schedule: set the timezone with the timezone key, not in the cron spec")
		} else if s, err := cronParser.Parse(raw.Schedule); err != nil {
			l.errorf(valueNode(root, "schedule"), "schedule: invalid cron %q: %v", raw.Schedule, err)
		} else if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			// A date no calendar has (30 February): the scheduler would
			// look for its next time forever.
			l.errorf(valueNode(root, "schedule"), "schedule: %q never comes due: no month has that day", raw.Schedule)
		} else {
			pb.Cron = s
		}
	}
	if raw.Audience != "" {
		pb.Audience = l.condition(valueNode(root, "audience"), "audience")
		if pb.Audience != nil {
			l.refuseEntryAttributes(valueNode(root, "audience"), pb.Audience, "audience", notInRules)
		}
	}
	if raw.Holdout != "" {
		pb.HoldoutSet = true
		bp, err := parsePercent(raw.Holdout)
		switch {
		case err != nil:
			l.errorf(valueNode(root, "holdout"), "holdout: %v", err)
		case bp >= 10000:
			l.errorf(valueNode(root, "holdout"), "holdout: %s would hold out everyone; use less than 100%%", raw.Holdout)
		default:
			pb.HoldoutBP = bp
		}
	}
	if raw.Limits.MaxFires != "" {
		n := valueNode(valueNode(root, "limits"), "max_fires")
		if lim, err := parseLimit(raw.Limits.MaxFires); err != nil {
			l.errorf(n, "limits.max_fires: %v", err)
		} else {
			pb.MaxFires = lim
		}
	}
	pb.Policy = l.policy(root, raw.Policy)
	pb.Attribution = DefaultAttribution
	if raw.Attribution != "" {
		d, err := actions.ParseDuration(raw.Attribution)
		switch {
		case err != nil:
			l.errorf(valueNode(root, "attribution"), "attribution: %v", err)
		case d < 24*time.Hour:
			l.errorf(valueNode(root, "attribution"), "attribution: %s is too short to see an order; use 1d or more", raw.Attribution)
		default:
			pb.Attribution = d
		}
	}
	if jn := keyNode(root, "journey"); jn != nil {
		if keyNode(root, "rules") != nil {
			l.errorf(jn, "playbook: a playbook has rules or a journey, not both: put the journey in a playbook of its own")
		}
		if keyNode(root, "audience") != nil {
			l.errorf(valueNode(root, "audience"), "audience: a journey has none: say who enters with journey: enter: when")
		}
		pb.Journey = l.journey(pb, root, valueNode(root, "journey"))
		if keyNode(root, "rules") == nil {
			return pb
		}
	} else if keyNode(root, "rules") == nil || len(raw.Rules) == 0 {
		l.errorf(root, "playbook: rules is required and must list at least one rule (or give a journey:)")
	}
	ids := map[string]int{}
	for i := range raw.Rules {
		if r := l.rule(&raw.Rules[i], ids); r != nil {
			pb.Rules = append(pb.Rules, r)
		}
	}
	return pb
}

// checkID checks the id of a rule or step (kind) at n: given, a slug,
// and not used before in the file (ids: id to line).
func (l *loader) checkID(n *yaml.Node, kind, id string, ids map[string]int) {
	switch {
	case id == "":
		l.errorf(n, "%s: id is required", kind)
	case !slug.MatchString(id):
		l.errorf(valueNode(n, "id"), "%s id %q: use lowercase letters, digits, - and _", kind, id)
	default:
		if line, dup := ids[id]; dup {
			l.errorf(valueNode(n, "id"), "%s id %q is already used on line %d", kind, id, line)
		}
		ids[id] = n.Line
	}
}

func (l *loader) rule(n *yaml.Node, ids map[string]int) *Rule {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "rule: want a mapping with id, when, cooldown or once, and actions; got %s", describe(n))
		return nil
	}
	var raw ruleYAML
	before := len(l.errs)
	what := "rule"
	if id := keyNode(n, "id"); id != nil {
		what = "rule " + valueNode(n, "id").Value
	}
	l.dec.decode(n, reflect.ValueOf(&raw).Elem(), what)
	r := &Rule{ID: raw.ID, On: raw.On, Once: raw.Once, Group: raw.Group, Stop: raw.Stop, Priority: raw.Priority, DeferOnCap: raw.DeferOnCap, Line: n.Line}
	l.checkID(n, "rule", raw.ID, ids)
	name := "rule " + raw.ID
	if raw.On != "" && !slug.MatchString(raw.On) {
		l.errorf(valueNode(n, "on"), "%s: on: event type %q: use lowercase letters, digits, - and _", name, raw.On)
	}
	if raw.Group != "" && !slug.MatchString(raw.Group) {
		l.errorf(valueNode(n, "group"), "%s: group %q: use lowercase letters, digits, - and _", name, raw.Group)
	}
	if keyNode(n, "when") == nil {
		l.errorf(n, "%s: when is required (write `when: true` to match everyone in the audience)", name)
	} else {
		r.When = l.condition(valueNode(n, "when"), name+": when")
		if r.When != nil {
			l.refuseEntryAttributes(valueNode(n, "when"), r.When, name+": when", notInRules)
		}
	}
	hasCooldown := keyNode(n, "cooldown") != nil
	switch {
	case hasCooldown && raw.Once:
		l.errorf(valueNode(n, "once"), "%s: say either cooldown or once: true, not both", name)
	case !hasCooldown && !raw.Once:
		l.errorf(n, "%s: every rule needs cooldown: (like 30d) or once: true, so it cannot fire every run", name)
	case hasCooldown:
		d, err := actions.ParseDuration(raw.Cooldown)
		if err != nil {
			l.errorf(valueNode(n, "cooldown"), "%s: cooldown: %v", name, err)
		} else if d <= 0 {
			l.errorf(valueNode(n, "cooldown"), "%s: cooldown must be positive", name)
		}
		r.Cooldown = d
	}
	if len(raw.Actions) == 0 && len(raw.Variants) == 0 {
		l.errorf(n, "%s: actions is required and must list at least one action", name)
	}
	earlier := map[string]actions.Result{}
	r.Actions, r.Channels = l.actions(raw.Actions, name, earlier)
	r.Variants = l.variants(n, raw.Variants, name, earlier)
	if r.DeferOnCap && len(r.Channels) == 0 && !slices.ContainsFunc(r.Variants, func(v *Variant) bool { return len(v.Channels) > 0 }) {
		l.errorf(valueNode(n, "defer_on_cap"), "%s: defer_on_cap: the rule sends no message, so no cap applies to it", name)
	}
	if len(l.errs) > before {
		return nil
	}
	return r
}

// actions loads a list of actions; earlier gathers their sample results
// for the actions after them. It returns the actions and the channels of
// their messages.
func (l *loader) actions(nodes []yaml.Node, rule string, earlier map[string]actions.Result) ([]RuleAction, []string) {
	var out []RuleAction
	var channels []string
	for i := range nodes {
		a, ok := l.action(&nodes[i], rule, earlier)
		if !ok {
			continue
		}
		out = append(out, a)
		if s, ok := a.Action.(actions.Sampler); ok {
			earlier[a.Kind] = s.SampleResult()
		}
		if m, ok := a.Action.(actions.Messenger); ok {
			channels = append(channels, m.Channels()...)
		}
	}
	return out, channels
}

// variants loads a rule's A/B variants: each an id, a weight and its own
// actions, done after the rule's common ones.
func (l *loader) variants(rn *yaml.Node, nodes []yaml.Node, rule string, earlier map[string]actions.Result) []*Variant {
	if len(nodes) == 1 {
		l.errorf(valueNode(rn, "variants"), "%s: variants: list at least two variants to compare, or put the actions under actions", rule)
		return nil
	}
	var out []*Variant
	ids := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		var raw variantYAML
		l.dec.decode(n, reflect.ValueOf(&raw).Elem(), rule+": variant")
		name := rule + ": variant " + raw.ID
		switch {
		case raw.ID == "":
			l.errorf(n, "%s: variant: id is required", rule)
		case !slug.MatchString(raw.ID):
			l.errorf(valueNode(n, "id"), "%s: variant id %q: use lowercase letters, digits, - and _", rule, raw.ID)
		case ids[raw.ID]:
			l.errorf(valueNode(n, "id"), "%s: variant id %q is used twice", rule, raw.ID)
		}
		ids[raw.ID] = true
		if raw.Weight <= 0 {
			l.errorf(valueNode(n, "weight"), "%s: weight: want a positive whole number, the variant's share relative to the others, got %d", name, raw.Weight)
		}
		if len(raw.Actions) == 0 {
			l.errorf(n, "%s: actions is required and must list at least one action", name)
		}
		acts, channels := l.actions(raw.Actions, name, maps.Clone(earlier))
		out = append(out, &Variant{ID: raw.ID, Weight: raw.Weight, Actions: acts, Channels: channels})
	}
	return out
}

// policy compiles the playbook's contact policy onto koi.yaml's.
func (l *loader) policy(root *yaml.Node, py *PolicyYAML) Policy {
	if py == nil {
		return l.opts.Policy
	}
	own, errs := py.Compile(l.file, l.opts.Channels)
	errs = append(errs, own.Redundant(l.opts.Policy)...)
	pn := valueNode(root, "policy")
	for _, e := range errs {
		at := pn
		for _, k := range strings.Split(e.Field, ".") {
			at = valueNode(at, k)
		}
		l.errorf(at, "policy.%s: %s", e.Field, e.Msg)
	}
	return l.opts.Policy.Merge(own)
}

func (l *loader) action(n *yaml.Node, rule string, earlier map[string]actions.Result) (RuleAction, bool) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		l.errorf(n, "%s: an action is one `kind: parameters` entry, like `- coupon: {amount: 20, expires_in: 7d}`", rule)
		return RuleAction{}, false
	}
	kindNode, params := n.Content[0], n.Content[1]
	kind := kindNode.Value
	a, ok := l.opts.Registry.New(kind)
	if !ok {
		l.errorf(kindNode, "%s: unknown action %q (known actions: %s)", rule, kind, strings.Join(l.opts.Registry.Kinds(), ", "))
		return RuleAction{}, false
	}
	before := len(l.errs)
	if params.Kind == yaml.ScalarNode {
		if sd, ok := a.(actions.ScalarDecoder); ok && params.Tag != "!!null" {
			if err := sd.DecodeScalar(params.Value); err != nil {
				l.errorf(params, "%s: %s: %v", rule, kind, err)
			}
		} else if params.Tag != "!!null" {
			l.errorf(params, "%s: %s: want a mapping of parameters, got %q", rule, kind, params.Value)
		}
	} else {
		l.dec.decode(params, reflect.ValueOf(a).Elem(), rule+": "+kind)
	}
	if len(l.errs) > before {
		return RuleAction{}, false
	}
	lc := actions.LoadContext{Tiers: l.opts.Tiers, Channels: l.opts.Channels, Shapes: l.opts.Shapes, Guides: l.opts.Guides, Sample: l.opts.Sample, Earlier: maps.Clone(earlier)}
	if err := a.Validate(lc); err != nil {
		l.actionErrors(err, params, rule, kind)
		return RuleAction{}, false
	}
	return RuleAction{Kind: kind, Action: a}, true
}

// actionErrors reports validation errors at the parameter they name.
func (l *loader) actionErrors(err error, params *yaml.Node, rule, kind string) {
	errs, ok := err.(actions.Errors)
	if !ok {
		errs = actions.Errors{err}
	}
	for _, e := range errs {
		at := params
		if fe, ok := e.(*actions.FieldError); ok {
			if v := valueNode(params, fe.Field); v != nil {
				at = v
			}
			if fe.Line > 0 && at.Kind == yaml.ScalarNode {
				// An error inside the value, a template's say: point at it.
				line, col := l.exprPosition(at, exprError{line: fe.Line, col: fe.Col})
				l.errs = append(l.errs, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf("%s: %s: %v", rule, kind, e)})
				continue
			}
		}
		l.errorf(at, "%s: %s: %v", rule, kind, e)
	}
}

// condition compiles the expression in scalar n, mapping its errors to file positions.
func (l *loader) condition(n *yaml.Node, what string) *Condition {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, "%s: want an expression, got %s", what, describe(n))
		return nil
	}
	c, errs := compileExpr(n.Value, l.opts.Env)
	for _, e := range errs {
		e.msg = explainUnknownName(e.msg, l.opts.Env)
		line, col := l.exprPosition(n, e)
		l.errs = append(l.errs, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf("%s: %s", what, e.msg)})
	}
	return c
}

// exprPosition maps a position inside an expression to the file.
func (l *loader) exprPosition(n *yaml.Node, e exprError) (line, col int) {
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The block's content starts on the next line; its indentation is
		// that of the first content line, and deeper indentation is part
		// of the expression text itself.
		indent := 0
		if n.Line < len(l.lines) {
			first := l.lines[n.Line]
			indent = len(first) - len(strings.TrimLeft(first, " "))
		}
		return n.Line + e.line, indent + e.col + 1
	case e.line > 1:
		return n.Line + e.line - 1, e.col + 1
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		return n.Line, n.Column + 1 + e.col
	default:
		return n.Line, n.Column + e.col
	}
}

// valueNode returns the value of key in mapping n, or n itself when absent,
// so an error always has somewhere to point.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// parsePercent parses "10%" or "2.5%" into basis points.
func parsePercent(s string) (int, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("want a percentage like 10%%, got %q", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("want a percentage like 10%%, got %q", s)
	}
	bp := f * 100
	if bp != float64(int(bp)) {
		return 0, fmt.Errorf("%q: at most two decimals", s)
	}
	return int(bp), nil
}

// parseLimit parses "5000" or "5%".
func parseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "%") {
		bp, err := parsePercent(s)
		if err != nil {
			return Limit{}, err
		}
		if bp <= 0 || bp > 10000 {
			return Limit{}, fmt.Errorf("%q: want more than 0%% and at most 100%%", s)
		}
		return Limit{BP: bp}, nil
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		return Limit{}, fmt.Errorf("want a positive whole number or a share of the audience like 5%%, got %q", s)
	}
	return Limit{Count: n}, nil
}
