package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Step is one part of an explained condition: a sub-expression, the
// values it compared and what it came to.
type Step struct {
	// Expr is the sub-expression, reprinted from the parsed condition.
	Expr string `json:"expr"`
	// Op is "and", "or" or "not" for a step that combines others.
	Op string `json:"op,omitempty"`
	// Compared is a comparison with its operands' values put in, like
	// `63 > 45`; empty for other steps.
	Compared string `json:"compared,omitempty"`
	// Value is what the step evaluated to.
	Value any    `json:"value"`
	Error string `json:"error,omitempty"`
	// Children are the steps an and, or or not combines.
	Children []*Step `json:"children,omitempty"`
}

// comparisons are the operators whose operands Explain shows.
var comparisons = map[string]bool{
	"==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true,
	"in": true, "not in": true, "contains": true, "startsWith": true, "endsWith": true, "matches": true,
}

// Explain evaluates every part of the condition on profile (a value of
// the type it compiled against) and returns the tree of steps. Unlike
// evaluation it does not stop early: a marketer wants to see every part.
func (c *Condition) Explain(profile any) *Step {
	tree, err := parser.Parse(c.Source)
	if err != nil {
		return &Step{Expr: c.Source, Error: err.Error()}
	}
	x := explainer{env: c.env, profile: profile}
	s := x.step(tree.Node)
	s.Expr = c.Source // the whole condition as the marketer wrote it
	return s
}

type explainer struct {
	env     *Env
	profile any
	m       vm.VM
}

func (x *explainer) step(n ast.Node) *Step {
	switch n := n.(type) {
	case *ast.BinaryNode:
		if op := connective(n.Operator); op != "" {
			s := &Step{Expr: n.String(), Op: op}
			for _, part := range flatten(n, op) {
				s.Children = append(s.Children, x.step(part))
			}
			s.Value, s.Error = x.eval(n)
			return s
		}
		if comparisons[n.Operator] {
			s := &Step{Expr: n.String()}
			l, lerr := x.eval(n.Left)
			r, rerr := x.eval(n.Right)
			if lerr == "" && rerr == "" {
				s.Compared = FormatValue(l) + " " + n.Operator + " " + FormatValue(r)
			}
			s.Value, s.Error = x.eval(n)
			return s
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			s := &Step{Expr: n.String(), Op: "not", Children: []*Step{x.step(n.Node)}}
			s.Value, s.Error = x.eval(n)
			return s
		}
	}
	s := &Step{Expr: n.String()}
	s.Value, s.Error = x.eval(n)
	return s
}

// connective names a boolean operator's kind, "" for other operators.
func connective(op string) string {
	switch op {
	case "&&", "and":
		return "and"
	case "||", "or":
		return "or"
	}
	return ""
}

// flatten lists the operands of a chain of one connective, so
// `a && b && c` explains as three parts rather than a nest of two.
func flatten(n ast.Node, op string) []ast.Node {
	b, ok := n.(*ast.BinaryNode)
	if !ok || connective(b.Operator) != op {
		return []ast.Node{n}
	}
	return append(flatten(b.Left, op), flatten(b.Right, op)...)
}

// eval compiles and runs one sub-expression with the condition's rules
// (helpers, nil-safe comparisons).
func (x *explainer) eval(n ast.Node) (any, string) {
	c, errs := compileWith(n.String(), x.env, false)
	if len(errs) > 0 {
		return nil, errs[0].msg
	}
	v, err := x.m.Run(c.program, x.profile)
	if err != nil {
		return nil, err.Error()
	}
	return deref(v), ""
}

// Terms lists the attributes and helper calls the condition reads, in the
// order written, each once: what a sample or a test failure shows to say
// why a customer matched or not.
func (c *Condition) Terms() []string {
	tree, err := parser.Parse(c.Source)
	if err != nil {
		return nil
	}
	t := &termCollector{seen: map[string]bool{}}
	t.collect(tree.Node)
	return t.terms
}

type termCollector struct {
	terms []string
	seen  map[string]bool
}

func (t *termCollector) add(n ast.Node) {
	s := n.String()
	if !t.seen[s] {
		t.seen[s] = true
		t.terms = append(t.terms, s)
	}
}

func (t *termCollector) collect(n ast.Node) {
	switch n := n.(type) {
	case *ast.IdentifierNode, *ast.MemberNode, *ast.CallNode:
		t.add(n)
	case *ast.BuiltinNode:
		// count("visit", "7d") is ours and reads the profile; expr's own
		// builtins (len, all…) are walked into.
		if len(n.Arguments) > 0 {
			if _, lit := n.Arguments[0].(*ast.StringNode); lit {
				t.add(n)
				return
			}
		}
		for _, a := range n.Arguments {
			t.collect(a)
		}
	case *ast.BinaryNode:
		t.collect(n.Left)
		t.collect(n.Right)
	case *ast.UnaryNode:
		t.collect(n.Node)
	case *ast.ConditionalNode:
		t.collect(n.Cond)
		t.collect(n.Exp1)
		t.collect(n.Exp2)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			t.collect(e)
		}
	}
}

// TermValues evaluates terms (from Terms) on profile.
func (c *Condition) TermValues(terms []string, profile any) map[string]any {
	x := explainer{env: c.env, profile: profile}
	out := make(map[string]any, len(terms))
	for _, term := range terms {
		tree, err := parser.Parse(term)
		if err != nil {
			continue
		}
		v, msg := x.eval(tree.Node)
		if msg != "" {
			v = "error: " + msg
		}
		out[term] = v
	}
	return out
}

// FormatValue writes a value the way an expression would: strings quoted,
// nil as nil, lists in brackets.
func FormatValue(v any) string {
	v = deref(v)
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		return v.Format(time.RFC3339)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = FormatValue(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if rv.Kind() == reflect.Map || rv.Kind() == reflect.Struct {
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// Evaluate compiles src, an expression of any type, against env and runs
// it on profile, with the rules conditions run by (helpers, nil-safe
// comparisons). Tests use it to check profile values.
func Evaluate(src string, env *Env, profile any) (any, error) {
	c, errs := compileWith(src, env, false)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", src, explainUnknownName(errs[0].msg, env))
	}
	var m vm.VM
	v, err := m.Run(c.program, profile)
	if err != nil {
		return nil, err
	}
	return deref(v), nil
}
