package rules

import (
	"cmp"
	"math"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// Native compilation.
//
// A condition runs once per customer per run: twenty rules over a million
// customers is twenty million evaluations, and expr's VM spends 100 ns to
// 1.5 µs on each because it reads struct fields and calls methods through
// reflection, boxing every value. nativeCompile turns the checked tree into
// plain Go closures that read the profile's fields at offsets computed once,
// at load time, from the profile type.
//
// The VM stays the reference. nativeCompile supports the subset of the
// language playbooks actually use, with exactly the VM's semantics; anything
// else compiles to nil and that condition runs on the VM. A closure that
// panics (an invalid operation on an attrs value, say) is re-run on the VM,
// so errors read the same either way. The differential tests in
// native_test.go hold the two to the same answers.

// nfn is a compiled closure: p points at the profile, env is the same
// profile as an interface, for helper functions.
type (
	boolFn    func(p unsafe.Pointer, env any) bool
	intFn     func(p unsafe.Pointer, env any) int
	floatFn   func(p unsafe.Pointer, env any) float64
	stringFn  func(p unsafe.Pointer, env any) string
	ptrIntFn  func(p unsafe.Pointer, env any) *int
	stringsFn func(p unsafe.Pointer, env any) []string
	mapFn     func(p unsafe.Pointer, env any) map[string]any
	anyFn     func(p unsafe.Pointer, env any) any
)

type nkind int

const (
	nBool nkind = iota + 1
	nInt
	nFloat
	nString
	nPtrInt  // *int: nil when unknown (recency_days)
	nStrings // []string (tags)
	nMap     // map[string]any (attrs)
	nAny     // an attrs value, or a nil-safe arithmetic result
	nNil     // the literal nil
	nStruct  // a struct-valued field (rfm): only a base for member access
)

// nnode is a compiled sub-expression: its kind and the closure of that kind.
type nnode struct {
	kind nkind
	fn   any
	// konst is the node's value when it is a literal.
	konst   any
	isConst bool
	// structT and off locate a struct-valued field for member access.
	structT reflect.Type
	off     uintptr
	// leaf marks a scalar field of the profile, read at off: a comparison
	// with a literal then reads it in place (native_const.go).
	leaf bool
}

var (
	typInt      = reflect.TypeFor[int]()
	typFloat    = reflect.TypeFor[float64]()
	typString   = reflect.TypeFor[string]()
	typBool     = reflect.TypeFor[bool]()
	typPtrInt   = reflect.TypeFor[*int]()
	typStrings  = reflect.TypeFor[[]string]()
	typMapAny   = reflect.TypeFor[map[string]any]()
	typAnyIface = reflect.TypeFor[any]()
)

// nativeCompiler compiles one tree against the profile struct type.
type nativeCompiler struct {
	root reflect.Type // the profile struct (not the pointer)
	env  *Env
	// wholeMaps lists the map attributes read as maps (see NeedsMap).
	wholeMaps []string
}

// nativeCompile returns a closure for the tree, or nil when it uses
// something only the VM supports, and the map attributes the closure
// reads as maps.
func nativeCompile(tree ast.Node, env *Env) (boolFn, []string) {
	t := reflect.TypeOf(env.Profile)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, nil
	}
	c := &nativeCompiler{root: t.Elem(), env: env}
	n, ok := c.compile(tree)
	if !ok || n.kind != nBool {
		return nil, nil
	}
	return n.fn.(boolFn), c.wholeMaps
}

func (c *nativeCompiler) compile(node ast.Node) (nnode, bool) {
	switch n := node.(type) {
	case *ast.BoolNode:
		v := n.Value
		return nnode{kind: nBool, fn: boolFn(func(unsafe.Pointer, any) bool { return v }), konst: v, isConst: true}, true
	case *ast.IntegerNode:
		if n.Type() != typInt {
			return nnode{}, false
		}
		v := n.Value
		return nnode{kind: nInt, fn: intFn(func(unsafe.Pointer, any) int { return v }), konst: v, isConst: true}, true
	case *ast.FloatNode:
		v := n.Value
		return nnode{kind: nFloat, fn: floatFn(func(unsafe.Pointer, any) float64 { return v }), konst: v, isConst: true}, true
	case *ast.StringNode:
		v := n.Value
		return nnode{kind: nString, fn: stringFn(func(unsafe.Pointer, any) string { return v }), konst: v, isConst: true}, true
	case *ast.NilNode:
		return nnode{kind: nNil, fn: anyFn(func(unsafe.Pointer, any) any { return nil }), isConst: true}, true
	case *ast.IdentifierNode:
		f, ok := fieldByExprName(c.root, n.Value)
		if !ok {
			return nnode{}, false
		}
		if f.Type == typMapAny && !slices.Contains(c.wholeMaps, n.Value) {
			c.wholeMaps = append(c.wholeMaps, n.Value)
		}
		return field(f.Type, f.Offset)
	case *ast.MemberNode:
		return c.member(n)
	case *ast.UnaryNode:
		return c.unary(n)
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.CallNode:
		return c.call(n)
	}
	return nnode{}, false
}

// fieldByExprName finds a field the way expr does: by its expr tag, or by
// its Go name when it has none.
func fieldByExprName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag, hasTag := f.Tag.Lookup("expr")
		if tag == "-" {
			continue
		}
		if (hasTag && tag == name) || (!hasTag && f.Name == name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// field returns a reader of a field of type t at offset off of the profile.
// The type is checked exactly, which is what makes the unsafe reads sound.
func field(t reflect.Type, off uintptr) (nnode, bool) {
	var n nnode
	switch t {
	case typInt:
		n = nnode{kind: nInt, fn: intFn(func(p unsafe.Pointer, _ any) int { return *(*int)(unsafe.Add(p, off)) })}
	case typFloat:
		n = nnode{kind: nFloat, fn: floatFn(func(p unsafe.Pointer, _ any) float64 { return *(*float64)(unsafe.Add(p, off)) })}
	case typString:
		n = nnode{kind: nString, fn: stringFn(func(p unsafe.Pointer, _ any) string { return *(*string)(unsafe.Add(p, off)) })}
	case typBool:
		n = nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, _ any) bool { return *(*bool)(unsafe.Add(p, off)) })}
	case typPtrInt:
		n = nnode{kind: nPtrInt, fn: ptrIntFn(func(p unsafe.Pointer, _ any) *int { return *(**int)(unsafe.Add(p, off)) })}
	case typStrings:
		return nnode{kind: nStrings, fn: stringsFn(func(p unsafe.Pointer, _ any) []string { return *(*[]string)(unsafe.Add(p, off)) })}, true
	case typMapAny:
		return nnode{kind: nMap, fn: mapFn(func(p unsafe.Pointer, _ any) map[string]any { return *(*map[string]any)(unsafe.Add(p, off)) })}, true
	default:
		if t.Kind() == reflect.Struct {
			return nnode{kind: nStruct, structT: t, off: off}, true
		}
		return nnode{}, false
	}
	n.leaf, n.off = true, off
	return n, true
}

func (c *nativeCompiler) member(n *ast.MemberNode) (nnode, bool) {
	prop, ok := n.Property.(*ast.StringNode)
	if !ok || n.Method {
		return nnode{}, false
	}
	if lookup, ok := c.lookup(n.Node); ok && n.Type() == typAnyIface {
		// attrs.city, key by key: no map needed. A missing key reads
		// as nil, as in the VM.
		key := prop.Value
		return nnode{kind: nAny, fn: anyFn(func(_ unsafe.Pointer, env any) any { return lookup(env, key) })}, true
	}
	base, ok := c.compile(n.Node)
	if !ok {
		return nnode{}, false
	}
	switch base.kind {
	case nStruct:
		f, ok := fieldByExprName(base.structT, prop.Value)
		if !ok {
			return nnode{}, false
		}
		return field(f.Type, base.off+f.Offset)
	case nMap:
		if n.Type() != typAnyIface {
			return nnode{}, false
		}
		m, key := base.fn.(mapFn), prop.Value
		// A missing key (or a nil map) reads as nil, as in the VM.
		return nnode{kind: nAny, fn: anyFn(func(p unsafe.Pointer, env any) any { return m(p, env)[key] })}, true
	}
	return nnode{}, false
}

// lookup returns the Env.Lookups reader of node when node names a map
// attribute of the profile that has one.
func (c *nativeCompiler) lookup(node ast.Node) (func(env any, key string) any, bool) {
	id, ok := node.(*ast.IdentifierNode)
	if !ok {
		return nil, false
	}
	lookup, ok := c.env.Lookups[id.Value]
	if !ok {
		return nil, false
	}
	f, ok := fieldByExprName(c.root, id.Value)
	return lookup, ok && f.Type == typMapAny
}

func (c *nativeCompiler) unary(n *ast.UnaryNode) (nnode, bool) {
	x, ok := c.compile(n.Node)
	if !ok {
		return nnode{}, false
	}
	switch {
	case (n.Operator == "!" || n.Operator == "not") && x.kind == nBool:
		f := x.fn.(boolFn)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return !f(p, env) })}, true
	case n.Operator == "-" && x.kind == nInt:
		f := x.fn.(intFn)
		return nnode{kind: nInt, fn: intFn(func(p unsafe.Pointer, env any) int { return -f(p, env) })}, true
	case n.Operator == "-" && x.kind == nFloat:
		f := x.fn.(floatFn)
		return nnode{kind: nFloat, fn: floatFn(func(p unsafe.Pointer, env any) float64 { return -f(p, env) })}, true
	case n.Operator == "+" && (x.kind == nInt || x.kind == nFloat):
		return x, true
	}
	return nnode{}, false
}

func (c *nativeCompiler) binary(n *ast.BinaryNode) (nnode, bool) {
	l, ok := c.compile(n.Left)
	if !ok {
		return nnode{}, false
	}
	if arr, isList := n.Right.(*ast.ArrayNode); isList && n.Operator == "in" {
		return inList(l, arr)
	}
	r, ok := c.compile(n.Right)
	if !ok {
		return nnode{}, false
	}
	switch n.Operator {
	case "&&", "and", "||", "or":
		if l.kind != nBool || r.kind != nBool {
			return nnode{}, false
		}
		a, b := l.fn.(boolFn), r.fn.(boolFn)
		if n.Operator == "&&" || n.Operator == "and" {
			return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return a(p, env) && b(p, env) })}, true
		}
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return a(p, env) || b(p, env) })}, true
	case "==", "!=":
		eq, ok := equal(l, r)
		if !ok {
			return nnode{}, false
		}
		if n.Operator == "!=" {
			return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return !eq(p, env) })}, true
		}
		return nnode{kind: nBool, fn: eq}, true
	case "<", ">", "<=", ">=":
		// Operands that may be nil were rewritten to nil-safe calls, so
		// these are plain numbers or strings.
		return compare(n.Operator, l, r, false)
	case "+", "-", "*", "/", "%", "**":
		return arithmetic(n.Operator, l, r)
	case "in":
		return inTags(l, r)
	case "contains", "startsWith", "endsWith":
		if l.kind != nString || r.kind != nString {
			return nnode{}, false
		}
		a, b := l.fn.(stringFn), r.fn.(stringFn)
		op := map[string]func(s, sub string) bool{"contains": strings.Contains, "startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix}[n.Operator]
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return op(a(p, env), b(p, env)) })}, true
	}
	return nnode{}, false
}

func isNumber(k nkind) bool { return k == nInt || k == nFloat }

// asFloat widens a numeric node, as expr's runtime does for mixed operands.
func asFloat(n nnode) floatFn {
	if n.kind == nFloat {
		return n.fn.(floatFn)
	}
	f := n.fn.(intFn)
	return func(p unsafe.Pointer, env any) float64 { return float64(f(p, env)) }
}

// equal compiles ==. The VM dereferences pointers before comparing, so an
// unknown recency_days equals nil and nothing else.
func equal(l, r nnode) (boolFn, bool) {
	if f, ok := equalConst(l, r); ok {
		return f, true
	}
	switch {
	case l.kind == nInt && r.kind == nInt:
		a, b := l.fn.(intFn), r.fn.(intFn)
		return func(p unsafe.Pointer, env any) bool { return a(p, env) == b(p, env) }, true
	case isNumber(l.kind) && isNumber(r.kind):
		a, b := asFloat(l), asFloat(r)
		return func(p unsafe.Pointer, env any) bool { return a(p, env) == b(p, env) }, true
	case l.kind == nString && r.kind == nString:
		a, b := l.fn.(stringFn), r.fn.(stringFn)
		return func(p unsafe.Pointer, env any) bool { return a(p, env) == b(p, env) }, true
	case l.kind == nBool && r.kind == nBool:
		a, b := l.fn.(boolFn), r.fn.(boolFn)
		return func(p unsafe.Pointer, env any) bool { return a(p, env) == b(p, env) }, true
	case l.kind == nPtrInt && r.kind == nNil, l.kind == nNil && r.kind == nPtrInt:
		x := l
		if x.kind == nNil {
			x = r
		}
		f := x.fn.(ptrIntFn)
		return func(p unsafe.Pointer, env any) bool { return f(p, env) == nil }, true
	case l.kind == nPtrInt && isNumber(r.kind), r.kind == nPtrInt && isNumber(l.kind):
		x, y := l, r
		if y.kind == nPtrInt {
			x, y = r, l
		}
		f := x.fn.(ptrIntFn)
		if y.kind == nInt {
			g := y.fn.(intFn)
			return func(p unsafe.Pointer, env any) bool {
				v := f(p, env)
				return v != nil && *v == g(p, env)
			}, true
		}
		g := y.fn.(floatFn)
		return func(p unsafe.Pointer, env any) bool {
			v := f(p, env)
			return v != nil && float64(*v) == g(p, env)
		}, true
	case l.kind == nAny || r.kind == nAny:
		a, okA := boxed(l)
		b, okB := boxed(r)
		if !okA || !okB {
			return nil, false
		}
		return func(p unsafe.Pointer, env any) bool { return runtime.Equal(deref(a(p, env)), deref(b(p, env))) }, true
	}
	return nil, false
}

// compare compiles an ordering. nilSafe marks the rewritten form, whose
// operands may be nil (and then the comparison is false).
func compare(op string, l, r nnode, nilSafe bool) (nnode, bool) {
	if f, ok := compareConst(op, l, r, nilSafe); ok {
		return nnode{kind: nBool, fn: f}, true
	}
	switch {
	case l.kind == nInt && r.kind == nInt:
		a, b, less := l.fn.(intFn), r.fn.(intFn), order[int](op)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return less(a(p, env), b(p, env)) })}, true
	case isNumber(l.kind) && isNumber(r.kind):
		a, b, less := asFloat(l), asFloat(r), order[float64](op)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return less(a(p, env), b(p, env)) })}, true
	case l.kind == nString && r.kind == nString:
		a, b, less := l.fn.(stringFn), r.fn.(stringFn), order[string](op)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return less(a(p, env), b(p, env)) })}, true
	case !nilSafe:
		return nnode{}, false
	case maybeInt(l) && maybeInt(r):
		a, b, less := optInt(l), optInt(r), order[int](op)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool {
			x, ok := a(p, env)
			if !ok {
				return false
			}
			y, ok := b(p, env)
			return ok && less(x, y)
		})}, true
	case maybeInt(l) && r.kind == nFloat:
		// A known-or-nil integer against a float: nil compares false.
		a, b, less := optInt(l), r.fn.(floatFn), order[float64](op)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool {
			x, ok := a(p, env)
			return ok && less(float64(x), b(p, env))
		})}, true
	default:
		return generic(op, l, r, nBool)
	}
}

// maybeInt is true for integers and known-or-nil integers.
func maybeInt(n nnode) bool { return n.kind == nInt || n.kind == nPtrInt }

// order returns the comparison op over T.
func order[T cmp.Ordered](op string) func(a, b T) bool {
	switch op {
	case "<":
		return func(a, b T) bool { return a < b }
	case ">":
		return func(a, b T) bool { return a > b }
	case "<=":
		return func(a, b T) bool { return a <= b }
	default:
		return func(a, b T) bool { return a >= b }
	}
}

// optInt reads a maybe-nil integer operand.
func optInt(n nnode) func(p unsafe.Pointer, env any) (int, bool) {
	if n.kind == nPtrInt {
		f := n.fn.(ptrIntFn)
		return func(p unsafe.Pointer, env any) (int, bool) {
			if v := f(p, env); v != nil {
				return *v, true
			}
			return 0, false
		}
	}
	f := n.fn.(intFn)
	return func(p unsafe.Pointer, env any) (int, bool) { return f(p, env), true }
}

// arithmetic compiles + - * / % ** on plain numbers (and + on strings),
// with expr's typing: integer results for + - * % of integers, floats
// otherwise; / and ** always give floats.
func arithmetic(op string, l, r nnode) (nnode, bool) {
	if l.kind == nString && r.kind == nString && op == "+" {
		a, b := l.fn.(stringFn), r.fn.(stringFn)
		return nnode{kind: nString, fn: stringFn(func(p unsafe.Pointer, env any) string { return a(p, env) + b(p, env) })}, true
	}
	if !isNumber(l.kind) || !isNumber(r.kind) {
		return nnode{}, false
	}
	if l.kind == nInt && r.kind == nInt && op != "/" && op != "**" {
		a, b := l.fn.(intFn), r.fn.(intFn)
		var f intFn
		switch op {
		case "+":
			f = func(p unsafe.Pointer, env any) int { return a(p, env) + b(p, env) }
		case "-":
			f = func(p unsafe.Pointer, env any) int { return a(p, env) - b(p, env) }
		case "*":
			f = func(p unsafe.Pointer, env any) int { return a(p, env) * b(p, env) }
		default: // %: a zero divisor panics, and the VM reports it
			f = func(p unsafe.Pointer, env any) int { return a(p, env) % b(p, env) }
		}
		return nnode{kind: nInt, fn: f}, true
	}
	if op == "%" {
		return nnode{}, false // expr's % is integer-only; leave the error to the VM
	}
	a, b := asFloat(l), asFloat(r)
	var f floatFn
	switch op {
	case "+":
		f = func(p unsafe.Pointer, env any) float64 { return a(p, env) + b(p, env) }
	case "-":
		f = func(p unsafe.Pointer, env any) float64 { return a(p, env) - b(p, env) }
	case "*":
		f = func(p unsafe.Pointer, env any) float64 { return a(p, env) * b(p, env) }
	case "/":
		f = func(p unsafe.Pointer, env any) float64 { return a(p, env) / b(p, env) }
	default:
		f = func(p unsafe.Pointer, env any) float64 { return math.Pow(a(p, env), b(p, env)) }
	}
	return nnode{kind: nFloat, fn: f}, true
}

// inTags compiles membership in a list of strings (tags).
func inTags(l, r nnode) (nnode, bool) {
	if r.kind == nStrings && l.kind == nString {
		a, b := l.fn.(stringFn), r.fn.(stringsFn)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool {
			needle := a(p, env)
			for _, s := range b(p, env) {
				if s == needle {
					return true
				}
			}
			return false
		})}, true
	}
	return nnode{}, false
}

// inList compiles membership in a literal list.
func inList(l nnode, arr *ast.ArrayNode) (nnode, bool) {
	// Only lists of literals of the needle's own type: the VM turns those
	// into sets, where a mismatched type would be an error, not false.
	switch l.kind {
	case nString:
		set := map[string]struct{}{}
		for _, e := range arr.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nnode{}, false
			}
			set[s.Value] = struct{}{}
		}
		a := l.fn.(stringFn)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { _, ok := set[a(p, env)]; return ok })}, true
	case nInt:
		set := map[int]struct{}{}
		for _, e := range arr.Nodes {
			v, ok := e.(*ast.IntegerNode)
			if !ok {
				return nnode{}, false
			}
			set[v.Value] = struct{}{}
		}
		a := l.fn.(intFn)
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { _, ok := set[a(p, env)]; return ok })}, true
	}
	return nnode{}, false
}

func (c *nativeCompiler) call(n *ast.CallNode) (nnode, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return nnode{}, false
	}
	args := make([]nnode, len(n.Arguments))
	for i, a := range n.Arguments {
		if args[i], ok = c.compile(a); !ok {
			return nnode{}, false
		}
	}
	for op, name := range nilSafe {
		if name != id.Value || len(args) != 2 {
			continue
		}
		if isComparison(op) {
			return compare(op, args[0], args[1], true)
		}
		return generic(op, args[0], args[1], nAny)
	}
	for _, fn := range c.env.Functions {
		if fn.Method == id.Value && fn.Fast != nil {
			return fastCall(fn.Fast, args, n.Type())
		}
	}
	return nnode{}, false
}

// generic runs a nil-safe operator through the VM's own implementation on
// boxed operands; an operator error panics and sends the customer to the VM.
func generic(op string, l, r nnode, kind nkind) (nnode, bool) {
	a, okA := boxed(l)
	b, okB := boxed(r)
	if !okA || !okB {
		return nnode{}, false
	}
	impl := nilSafeImpl(op)
	f := func(p unsafe.Pointer, env any) any {
		v, err := impl(a(p, env), b(p, env))
		if err != nil {
			panic(err)
		}
		return v
	}
	if kind == nBool {
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return f(p, env).(bool) })}, true
	}
	return nnode{kind: nAny, fn: anyFn(f)}, true
}

// fastCall calls a helper's Fast implementation. Literal arguments are
// boxed once, here, so a call like count("visit", "7d") allocates nothing.
func fastCall(fast func(env any, args []any) any, args []nnode, out reflect.Type) (nnode, bool) {
	konst := make([]any, len(args))
	allConst := true
	getters := make([]anyFn, len(args))
	for i, a := range args {
		if a.isConst {
			konst[i] = a.konst
			continue
		}
		allConst = false
		g, ok := boxed(a)
		if !ok {
			return nnode{}, false
		}
		getters[i] = g
	}
	var call anyFn
	if allConst {
		call = func(_ unsafe.Pointer, env any) any { return fast(env, konst) }
	} else {
		call = func(p unsafe.Pointer, env any) any {
			vals := make([]any, len(konst))
			for i, g := range getters {
				if g == nil {
					vals[i] = konst[i]
				} else {
					vals[i] = g(p, env)
				}
			}
			return fast(env, vals)
		}
	}
	switch out {
	case typBool:
		return nnode{kind: nBool, fn: boolFn(func(p unsafe.Pointer, env any) bool { return call(p, env).(bool) })}, true
	case typInt:
		return nnode{kind: nInt, fn: intFn(func(p unsafe.Pointer, env any) int { return call(p, env).(int) })}, true
	case typFloat:
		return nnode{kind: nFloat, fn: floatFn(func(p unsafe.Pointer, env any) float64 { return call(p, env).(float64) })}, true
	case typString:
		return nnode{kind: nString, fn: stringFn(func(p unsafe.Pointer, env any) string { return call(p, env).(string) })}, true
	}
	return nnode{}, false
}

// boxed returns the node's value as the VM holds it on its stack.
func boxed(n nnode) (anyFn, bool) {
	if n.isConst && n.kind != nNil {
		// Boxed once here, not on every evaluation: attrs.city == "上海"
		// would otherwise allocate the string's box per customer.
		v := n.konst
		return func(unsafe.Pointer, any) any { return v }, true
	}
	switch n.kind {
	case nBool:
		f := n.fn.(boolFn)
		return func(p unsafe.Pointer, env any) any { return f(p, env) }, true
	case nInt:
		f := n.fn.(intFn)
		return func(p unsafe.Pointer, env any) any { return f(p, env) }, true
	case nFloat:
		f := n.fn.(floatFn)
		return func(p unsafe.Pointer, env any) any { return f(p, env) }, true
	case nString:
		f := n.fn.(stringFn)
		return func(p unsafe.Pointer, env any) any { return f(p, env) }, true
	case nPtrInt:
		f := n.fn.(ptrIntFn)
		return func(p unsafe.Pointer, env any) any { return f(p, env) }, true
	case nAny, nNil:
		return n.fn.(anyFn), true
	}
	return nil, false
}
