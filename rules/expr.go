package rules

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Bounds on one expression. MaxExprNodes keeps a pasted or generated
// monster from making every evaluation of a million customers crawl.
// MaxExprBytes and MaxExprDepth are checked before the expression is
// parsed: expr's parser recurses once per level of brackets, and half a
// million of them overflow the goroutine's stack, which kills the process
// (a Go stack overflow cannot be recovered), so a request or a file must
// never reach it.
const (
	MaxExprNodes = 500
	MaxExprBytes = 4096
	MaxExprDepth = 32
)

// Env is the expression environment playbooks compile against. The engine
// supplies it, so the file format does not depend on how profiles are built.
type Env struct {
	// Profile is a zero value (or nil pointer) of the type expressions run on.
	Profile any
	// Functions maps expression function names (has_tag) to methods of the
	// profile type (HasTag).
	Functions map[string]Function
	// Lookups reads one key of a map-typed attribute (attrs) without the
	// map, by the attribute's name: natively compiled conditions read
	// attrs.city through it, and a caller may leave the map unfilled for
	// a condition that reads the map no other way (NeedsMap).
	Lookups map[string]func(env any, key string) any
	// BeforeVM, when set, prepares an environment for expr's VM, which
	// reads maps whole: it fills what a caller left unfilled because the
	// native closures did not need it (a closure that fails runs again on
	// the VM, for the VM's error message).
	BeforeVM func(env any)
}

// Function is a helper callable from expressions, backed by a profile method.
type Function struct {
	// Method is the Go method name on the profile type.
	Method string
	// ShadowsBuiltin marks names that expr also defines (count): the call is
	// ours only when its first argument is a string literal.
	ShadowsBuiltin bool
	// Check validates literal arguments at load time (a window like "7d").
	Check func(args []ast.Node) error
	// Fast, when set, is the same function as plain Go: it receives the
	// profile (as passed to Eval) and the evaluated arguments, and spares
	// natively compiled conditions a reflective method call per customer.
	Fast func(env any, args []any) any
}

// Condition is a compiled boolean expression.
type Condition struct {
	// Source is the expression as written.
	Source  string
	program *vm.Program
	// native is the same condition as Go closures (see native.go), nil
	// when it uses something only the VM supports.
	native  boolFn
	envType reflect.Type
	// names are the environment's names the condition reads (anyName:
	// all of them); see Reads.
	names   []string
	anyName bool
	// wholeMaps are the map-typed attributes the native closures read as
	// maps, not through Env.Lookups.
	wholeMaps []string
	// entry are the entry attributes it reads (see entryReads).
	entry []nameRead
	// calls are the calls of environment functions, with their first
	// argument when it is a string literal (see StringArgs).
	calls []callArg
	// env is what it compiled against, for tools that compile parts of
	// it (Explain, Terms).
	env *Env
}

// Evaluator runs conditions. It owns the expr VM that conditions the
// native compiler leaves to expr run on; the VM keeps its stack between
// runs, so one Evaluator serves one goroutine at a time. The zero value is
// ready to use: each worker keeps its own.
type Evaluator struct {
	vm vm.VM
}

// Eval runs the condition on env with ev (nil for a fresh one).
func (c *Condition) Eval(ev *Evaluator, env any) (bool, error) {
	if c.native != nil && reflect.TypeOf(env) == c.envType {
		if ok, done := c.evalNative(env); done {
			return ok, nil
		}
	}
	return c.evalVM(ev, env)
}

// Native reports whether the condition runs as native closures.
func (c *Condition) Native() bool { return c.native != nil }

// evalNative runs the closures. A panic (an invalid operation the VM would
// report as an error) returns done=false, and the VM runs it again to give
// the error in its own words.
func (c *Condition) evalNative(env any) (ok, done bool) {
	defer func() {
		if recover() != nil {
			ok, done = false, false
		}
	}()
	return c.native(reflect.ValueOf(env).UnsafePointer(), env), true
}

// EvalEach evaluates conds on env, in order, into ok and errs (as long as
// conds); a nil condition is true. The natively compiled ones run under
// one guard for all instead of one each, which was a sixth of the cost of
// a condition: when one fails, all run again one by one, each guarded,
// and what failed is answered by the VM as Eval would.
func EvalEach(ev *Evaluator, conds []*Condition, env any, ok []bool, errs []error) {
	if evalEachNative(ev, conds, env, ok, errs) {
		return
	}
	for i, c := range conds {
		if c == nil {
			ok[i], errs[i] = true, nil
			continue
		}
		ok[i], errs[i] = c.Eval(ev, env)
	}
}

// evalEachNative is EvalEach's one guard: false when a closure panicked.
func evalEachNative(ev *Evaluator, conds []*Condition, env any, ok []bool, errs []error) (done bool) {
	defer func() {
		if !done {
			recover()
		}
	}()
	t, ptr := reflect.TypeOf(env), reflect.ValueOf(env).UnsafePointer()
	for i, c := range conds {
		switch {
		case c == nil:
			ok[i], errs[i] = true, nil
		case c.native != nil && t == c.envType:
			ok[i], errs[i] = c.native(ptr, env), nil
		default:
			ok[i], errs[i] = c.evalVM(ev, env)
		}
	}
	return true
}

// EvalVM runs the condition on expr's VM, the reference the native
// closures are tested against.
func (c *Condition) EvalVM(ev *Evaluator, env any) (bool, error) { return c.evalVM(ev, env) }

func (c *Condition) evalVM(ev *Evaluator, env any) (bool, error) {
	if ev == nil {
		ev = &Evaluator{}
	}
	if c.env != nil && c.env.BeforeVM != nil {
		c.env.BeforeVM(env)
	}
	out, err := ev.vm.Run(c.program, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %T, not a boolean", out)
	}
	return b, nil
}

// Program exposes the compiled program, for tools that walk or run it.
func (c *Condition) Program() *vm.Program { return c.program }

// exprError is a compile error with its position inside the expression.
type exprError struct {
	line, col int // 1-based line, 0-based column, as expr reports them
	msg       string
}

// nilSafe names the functions comparisons and arithmetic are rewritten to
// when an operand may be nil.
var nilSafe = map[string]string{
	"<": "__lt", ">": "__gt", "<=": "__le", ">=": "__ge",
	"+": "__add", "-": "__sub", "*": "__mul", "/": "__div", "%": "__mod", "**": "__pow",
}

// CompileExpr compiles a boolean expression against env. It is exported for
// tools (koi export --where, the API's filters) that take expressions too.
func CompileExpr(src string, env *Env) (*Condition, error) {
	c, errs := compileExpr(src, env)
	if len(errs) > 0 {
		e := errs[0]
		return nil, fmt.Errorf("%d:%d: %s", e.line, e.col+1, explainUnknownName(e.msg, env))
	}
	return c, nil
}

// compileExpr type-checks src against env, then compiles a nil-safe program.
//
// Profiles have attributes that are nil when unknown (recency_days of a
// customer who never ordered). koi promises that a comparison against nil is
// false, never an error, but expr panics on `nil > 45`. A patch before type
// checking would have to rewrite every comparison and lose type errors such
// as `tier > 5`, so we check first, then rewrite only the operators whose
// operand types can hold nil, then compile.
func compileExpr(src string, env *Env) (*Condition, []exprError) {
	return compileWith(src, env, true)
}

// compileWith is compileExpr; asBool false compiles an expression of any
// type (a part of a condition, for Explain), without native closures.
func compileWith(src string, env *Env, asBool bool) (*Condition, []exprError) {
	if err := checkShape(src); err != nil {
		return nil, []exprError{*err}
	}
	cfg := newConfig(env, asBool)
	tree, err := checker.ParseCheck(src, cfg)
	if err != nil {
		return nil, []exprError{toExprError(err)}
	}
	var errs []exprError
	ast.Walk(&tree.Node, &argChecker{src: src, env: env, errs: &errs})
	if len(errs) > 0 {
		return nil, errs
	}
	ast.Walk(&tree.Node, nilSafeRewriter{})
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, []exprError{toExprError(fmt.Errorf("internal: nil-safe rewrite: %w", err))}
	}
	names := &nameCollector{env: env}
	ast.Walk(&tree.Node, names)
	// Before the optimizer rewrites the tree into forms only the VM knows.
	var native boolFn
	var wholeMaps []string
	if asBool {
		native, wholeMaps = nativeCompile(tree.Node, env)
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		return nil, []exprError{toExprError(err)}
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		return nil, []exprError{toExprError(err)}
	}
	return &Condition{Source: src, program: prog, native: native, envType: reflect.TypeOf(env.Profile), env: env, names: names.names, anyName: names.anyName, wholeMaps: wholeMaps, entry: names.entry, calls: names.calls}, nil
}

// nameCollector lists the names an expression reads from its environment,
// and where it first reads each entry attribute (EntryAttributes).
type nameCollector struct {
	env     *Env
	names   []string
	anyName bool // it reads $env, or calls a method such as Values(): any name
	entry   []nameRead
	calls   []callArg
}

// callArg is a call of a function by name, with its first argument when
// that is a string literal (literal false: it is not, or there is none).
type callArg struct {
	fn, arg string
	literal bool
}

// nameRead is an entry attribute an expression reads, at the rune offset
// of its first use.
type nameRead struct {
	name string
	from int
}

func (c *nameCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		if callee, ok := n.Callee.(*ast.IdentifierNode); ok {
			c.call(callee.Value, n.Arguments)
			if c.env.plainMethod(callee.Value) {
				c.anyName = true
			}
		}
	case *ast.BuiltinNode:
		c.call(n.Name, n.Arguments)
	}
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "$env" {
		c.anyName = true
	}
	if !slices.Contains(c.names, id.Value) {
		c.names = append(c.names, id.Value)
		if written, ok := EntryAttributes[id.Value]; ok {
			c.entry = append(c.entry, nameRead{name: written, from: id.Location().From})
		}
	}
}

// plainMethod reports whether name is a method of the environment's
// profile that is not one of its Functions: expr lets a condition call any
// exported method (Values().tier), and such a method may read any
// attribute.
func (env *Env) plainMethod(name string) bool {
	t := reflect.TypeOf(env.Profile)
	if t == nil {
		return false
	}
	if _, ok := t.MethodByName(name); !ok {
		return false
	}
	for _, f := range env.Functions {
		if f.Method == name {
			return false
		}
	}
	return true
}

func (c *nameCollector) call(fn string, args []ast.Node) {
	ca := callArg{fn: fn}
	if len(args) > 0 {
		if s, ok := args[0].(*ast.StringNode); ok {
			ca.arg, ca.literal = s.Value, true
		}
	}
	c.calls = append(c.calls, ca)
}

// StringArgs returns the distinct string literals the condition passes as
// first argument to the function fn (count_since_entry("order")); all is
// true when it may call fn with something else too (an argument that is
// not a literal, or through $env), so a caller cannot know them all.
func (c *Condition) StringArgs(fn string) (args []string, all bool) {
	// Compiling renames the environment's functions to their methods.
	method := fn
	if f, ok := c.env.Functions[fn]; ok {
		method = f.Method
	}
	for _, ca := range c.calls {
		if ca.fn != method {
			continue
		}
		if !ca.literal {
			all = true
		} else if !slices.Contains(args, ca.arg) {
			args = append(args, ca.arg)
		}
	}
	return args, all || c.anyName
}

// entryRead is an entry attribute a condition reads and where.
type entryRead struct {
	name string
	at   exprError // its position; msg unused
}

// entryReads returns the entry attributes the condition reads (by the
// names playbooks write), each at its first use, in the order of the
// source.
func (c *Condition) entryReads() []entryRead {
	reads := slices.Clone(c.entry)
	slices.SortFunc(reads, func(a, b nameRead) int { return a.from - b.from })
	src := []rune(c.Source)
	out := make([]entryRead, 0, len(reads))
	for _, r := range reads {
		line, start := 1, 0
		for i := 0; i < r.from && i < len(src); i++ {
			if src[i] == '\n' {
				line, start = line+1, i+1
			}
		}
		out = append(out, entryRead{name: r.name, at: exprError{line: line, col: r.from - start}})
	}
	return out
}

// Reads reports whether the condition may read the environment's name
// (an attribute such as attrs, or a function such as has_tag), so that a
// caller can leave out what no condition reads. It errs on the side of
// true.
func (c *Condition) Reads(name string) bool {
	// Compiling renames the environment's functions to their methods.
	if f, ok := c.env.Functions[name]; ok && f.Method != "" {
		name = f.Method
	}
	return c.anyName || slices.Contains(c.names, name)
}

// NeedsMap reports whether evaluating the condition may read the
// map-typed attribute name (attrs) as a map: it reads it, and not only
// key by key through Env.Lookups in native closures. Eval runs
// Env.BeforeVM before falling back to the VM, so an environment whose map
// the caller left unfilled is still answered right.
func (c *Condition) NeedsMap(name string) bool {
	return c.Reads(name) && (c.native == nil || slices.Contains(c.wholeMaps, name))
}

// checkShape refuses an expression longer than MaxExprBytes, or whose
// brackets nest deeper than MaxExprDepth, before anything parses it. It
// only counts: brackets inside string literals are text.
func checkShape(src string) *exprError {
	if len(src) > MaxExprBytes {
		return &exprError{line: 1, msg: fmt.Sprintf("the expression is %d bytes long; at most %d", len(src), MaxExprBytes)}
	}
	depth := 0
	var quote byte // the open string literal's quote, or 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote == 0 && strings.HasPrefix(src[i:], "//"):
			// A comment to the end of the line: its brackets and quotes
			// are text, as they are to expr.
			if nl := strings.IndexByte(src[i:], '\n'); nl >= 0 {
				i += nl
			} else {
				i = len(src)
			}
		case quote == 0 && strings.HasPrefix(src[i:], "/*"):
			if end := strings.Index(src[i+2:], "*/"); end >= 0 {
				i += end + 3
			} else {
				i = len(src)
			}
		case quote != 0:
			switch {
			case c == '\\' && quote != '`':
				i++ // an escaped character
			case c == quote:
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > MaxExprDepth {
				line, col := position(src, utf8.RuneCountInString(src[:i]))
				return &exprError{line: line, col: col, msg: fmt.Sprintf("brackets nest more than %d deep here; write the condition flatter", MaxExprDepth)}
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

func newConfig(env *Env, asBool bool) *conf.Config {
	cfg := conf.CreateNew()
	opts := []expr.Option{
		expr.Env(env.Profile),
		expr.MaxNodes(MaxExprNodes),
		// repeat allocates its result before expr's memory budget sees
		// it: repeat(repeat("x", 999999), 999999) asked for a terabyte and
		// killed the process. No condition over a customer needs it. The
		// parser honours Disabled; the checker looks in Builtins.
		expr.DisableBuiltin("repeat"),
		func(c *conf.Config) { delete(c.Builtins, "repeat") },
		expr.Patch(functionRenamer{env.Functions}),
	}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	for op, name := range nilSafe {
		opts = append(opts, nilSafeFunction(op, name))
	}
	for _, o := range opts {
		o(cfg)
	}
	cfg.Check()
	return cfg
}

func toExprError(err error) exprError {
	var fe *file.Error
	if errors.As(err, &fe) {
		return exprError{line: max(fe.Line, 1), col: fe.Column, msg: fe.Message}
	}
	return exprError{line: 1, col: 0, msg: err.Error()}
}

// functionRenamer maps helper names to profile methods before type checking.
type functionRenamer struct{ fns map[string]Function }

func (r functionRenamer) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if fn, ok := r.fns[id.Value]; ok && !fn.ShadowsBuiltin {
			id.Value = fn.Method
		}
	case *ast.BuiltinNode:
		// The parser turns calls of builtin names (count) into BuiltinNodes;
		// ours is the one whose first argument is a string literal.
		fn, ok := r.fns[n.Name]
		if !ok || !fn.ShadowsBuiltin || len(n.Arguments) == 0 {
			return
		}
		if _, lit := n.Arguments[0].(*ast.StringNode); !lit {
			return
		}
		args := make([]ast.Node, len(n.Arguments))
		for i, a := range n.Arguments {
			// The parser also wrapped later arguments as predicates (#).
			if p, ok := a.(*ast.PredicateNode); ok {
				a = p.Node
			}
			args[i] = a
		}
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn.Method}, Arguments: args})
	}
}

// argChecker runs each helper's load-time argument check.
type argChecker struct {
	src  string
	env  *Env
	errs *[]exprError
}

func (a *argChecker) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	for name, fn := range a.env.Functions {
		if fn.Method != id.Value || fn.Check == nil {
			continue
		}
		if err := fn.Check(call.Arguments); err != nil {
			line, col := position(a.src, call.Location().From)
			*a.errs = append(*a.errs, exprError{line: line, col: col, msg: fmt.Sprintf("%s: %v", name, err)})
		}
	}
}

// nilSafeRewriter replaces operators whose operands may be nil by calls to
// the nil-safe functions. The walk is post-order, so an operand that was
// itself rewritten (and so is untyped here) counts as nilable.
type nilSafeRewriter struct{}

func (nilSafeRewriter) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	name, ok := nilSafe[b.Operator]
	if !ok || !(nilable(b.Left) || nilable(b.Right)) {
		return
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: []ast.Node{b.Left, b.Right}}
	ast.Patch(node, call)
}

func nilable(n ast.Node) bool {
	if _, isNil := n.(*ast.NilNode); isNil {
		return true
	}
	t := n.Type()
	if t == nil {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		return true
	}
	return false
}

// nilSafeFunction returns an option defining name as op with nil semantics:
// a comparison with nil is false; arithmetic with nil is nil. The VM and the
// native closures call the same implementation, so they cannot disagree.
func nilSafeFunction(op, name string) expr.Option {
	impl := nilSafeImpl(op)
	if isComparison(op) {
		return expr.Function(name, func(p ...any) (any, error) { return impl(p[0], p[1]) }, new(func(any, any) bool))
	}
	return expr.Function(name, func(p ...any) (any, error) { return impl(p[0], p[1]) }, new(func(any, any) any))
}

func isComparison(op string) bool {
	switch op {
	case "<", ">", "<=", ">=":
		return true
	}
	return false
}

// nilSafeImpl implements op over values that may be nil or pointers.
func nilSafeImpl(op string) func(a, b any) (any, error) {
	compare := map[string]func(a, b any) bool{
		"<": runtime.Less, ">": runtime.More, "<=": runtime.LessOrEqual, ">=": runtime.MoreOrEqual,
	}[op]
	if compare != nil {
		return func(a, b any) (out any, err error) {
			a, b = deref(a), deref(b)
			if a == nil || b == nil {
				return false, nil
			}
			defer recoverOp(op, a, b, &err)
			return compare(a, b), nil
		}
	}
	arith := map[string]func(a, b any) any{
		"+": runtime.Add, "-": runtime.Subtract, "*": runtime.Multiply,
		"/":  func(a, b any) any { return runtime.Divide(a, b) },
		"%":  func(a, b any) any { return runtime.Modulo(a, b) },
		"**": func(a, b any) any { return runtime.Exponent(a, b) },
	}[op]
	return func(a, b any) (out any, err error) {
		a, b = deref(a), deref(b)
		if a == nil || b == nil {
			return nil, nil
		}
		defer recoverOp(op, a, b, &err)
		return arith(a, b), nil
	}
}

func recoverOp(op string, a, b any, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("invalid operation: %T %s %T", a, op, b)
	}
}

// explainUnknownName rewrites expr's "unknown name x" into the marketer's
// vocabulary, suggesting attributes that look alike.
func explainUnknownName(msg string, env *Env) string {
	if out, ok := explainNoField(msg, env); ok {
		return out
	}
	name, ok := strings.CutPrefix(msg, "unknown name ")
	if !ok {
		return msg
	}
	if name == "repeat" {
		return "repeat is not available in koi's expressions: it can ask for unbounded memory"
	}
	var similar []string
	for _, a := range attributeNames(env) {
		if strings.HasPrefix(a, name) || strings.HasPrefix(name, a) || strings.Contains(a, name) {
			similar = append(similar, a)
		}
	}
	out := fmt.Sprintf("unknown attribute %q", name)
	if len(similar) > 0 {
		out += fmt.Sprintf(" (did you mean %s?)", strings.Join(similar, ", "))
	}
	return out
}

// explainNoField rewrites expr's "type pkg.T has no field x", about a
// nested attribute such as rfm, into the attribute's path and the names it
// does have: a marketer knows rfm.segment, not the Go type behind it.
func explainNoField(msg string, env *Env) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "type ")
	if !ok {
		return "", false
	}
	typeName, field, ok := strings.Cut(rest, " has no field ")
	if !ok {
		return "", false
	}
	t := reflect.TypeOf(env.Profile)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("expr")
		if tag == "" || tag == "-" || f.Type.Kind() != reflect.Struct || f.Type.String() != typeName {
			continue
		}
		var names []string
		for k := 0; k < f.Type.NumField(); k++ {
			if sub := f.Type.Field(k).Tag.Get("expr"); sub != "" && sub != "-" {
				names = append(names, tag+"."+sub)
			}
		}
		return fmt.Sprintf("unknown attribute %q (%s has %s)", tag+"."+field, tag, strings.Join(names, ", ")), true
	}
	return "", false
}

// attributeNames lists the expression names of the profile type.
func attributeNames(env *Env) []string {
	t := reflect.TypeOf(env.Profile)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	for name := range env.Functions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// position turns a rune offset into a 1-based line and 0-based column.
func position(src string, offset int) (line, col int) {
	line = 1
	for i, r := range []rune(src) {
		if i == offset {
			break
		}
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
	}
	return line, col
}

func deref(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	return rv.Interface()
}
