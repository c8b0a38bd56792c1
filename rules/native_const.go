package rules

import "unsafe"

// Comparisons with a literal.
//
// Nearly every comparison in a playbook sets a profile field against a
// literal: tier == "gold", orders_30d >= 1, recency_days > 150. Compiled
// the general way, each is a closure calling three more (the field, the
// literal, the ordering); a million customers times twenty rules times a
// few comparisons made those calls most of the evaluation's time. Here
// such a comparison is one closure that reads the field in place and
// compares it with the literal it holds. The semantics are those of the
// general closures, which remain for everything else (and the VM's: the
// differential tests in engine/profile/native_test.go cover both orders
// of operands, mixed numbers and unknown values).

// scalar is what an ordering or equality with a literal compares.
type scalar interface{ int | float64 | string }

// literalSide returns the non-literal operand x and the literal k of a
// comparison, and whether the literal was on the left; ok is false unless
// exactly one side is a literal.
func literalSide(l, r nnode) (x, k nnode, left, ok bool) {
	switch {
	case r.isConst && !l.isConst:
		return l, r, false, true
	case l.isConst && !r.isConst:
		return r, l, true, true
	}
	return nnode{}, nnode{}, false, false
}

// flip turns an ordering around, so that 45 < x reads x > 45.
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	default:
		return "<="
	}
}

// compareConst compiles an ordering between a value and a literal number
// or string, as compare would (nilSafe: the rewritten form, where an
// unknown value compares false).
func compareConst(op string, l, r nnode, nilSafe bool) (boolFn, bool) {
	x, k, left, ok := literalSide(l, r)
	if !ok {
		return nil, false
	}
	if left {
		op = flip(op)
	}
	switch {
	case x.kind == nString && k.kind == nString:
		if x.leaf {
			return orderAt(op, x.off, k.konst.(string)), true
		}
		return orderOf(op, x.fn.(stringFn), k.konst.(string)), true
	case x.kind == nInt && k.kind == nInt:
		if x.leaf {
			return orderAt(op, x.off, k.konst.(int)), true
		}
		return orderOf(op, x.fn.(intFn), k.konst.(int)), true
	case isNumber(x.kind) && isNumber(k.kind):
		if x.leaf && x.kind == nFloat {
			return orderAt(op, x.off, literalFloat(k)), true
		}
		return orderOf(op, asFloat(x), literalFloat(k)), true
	case nilSafe && x.leaf && x.kind == nPtrInt && k.kind == nInt:
		return orderPtrAt(op, x.off, k.konst.(int)), true
	case nilSafe && x.leaf && x.kind == nPtrInt && k.kind == nFloat:
		return orderPtrAt(op, x.off, k.konst.(float64)), true
	}
	return nil, false
}

// equalConst compiles == between a value and a literal number or string,
// as equal would.
func equalConst(l, r nnode) (boolFn, bool) {
	x, k, _, ok := literalSide(l, r)
	if !ok {
		return nil, false
	}
	switch {
	case x.kind == nString && k.kind == nString:
		if x.leaf {
			return equalAt(x.off, k.konst.(string)), true
		}
		return equalOf(x.fn.(stringFn), k.konst.(string)), true
	case x.kind == nInt && k.kind == nInt:
		if x.leaf {
			return equalAt(x.off, k.konst.(int)), true
		}
		return equalOf(x.fn.(intFn), k.konst.(int)), true
	case isNumber(x.kind) && isNumber(k.kind):
		if x.leaf && x.kind == nFloat {
			return equalAt(x.off, literalFloat(k)), true
		}
		return equalOf(asFloat(x), literalFloat(k)), true
	case x.leaf && x.kind == nPtrInt && k.kind == nInt:
		return equalPtrAt(x.off, k.konst.(int)), true
	case x.leaf && x.kind == nPtrInt && k.kind == nFloat:
		return equalPtrAt(x.off, k.konst.(float64)), true
	}
	return nil, false
}

// literalFloat is a numeric literal widened, as asFloat widens it.
func literalFloat(k nnode) float64 {
	if v, ok := k.konst.(int); ok {
		return float64(v)
	}
	return k.konst.(float64)
}

// orderAt compares the field at off with k.
func orderAt[T scalar](op string, off uintptr, k T) boolFn {
	switch op {
	case "<":
		return func(p unsafe.Pointer, _ any) bool { return *(*T)(unsafe.Add(p, off)) < k }
	case ">":
		return func(p unsafe.Pointer, _ any) bool { return *(*T)(unsafe.Add(p, off)) > k }
	case "<=":
		return func(p unsafe.Pointer, _ any) bool { return *(*T)(unsafe.Add(p, off)) <= k }
	default:
		return func(p unsafe.Pointer, _ any) bool { return *(*T)(unsafe.Add(p, off)) >= k }
	}
}

// orderOf compares the value f computes with k.
func orderOf[T scalar](op string, f func(unsafe.Pointer, any) T, k T) boolFn {
	switch op {
	case "<":
		return func(p unsafe.Pointer, env any) bool { return f(p, env) < k }
	case ">":
		return func(p unsafe.Pointer, env any) bool { return f(p, env) > k }
	case "<=":
		return func(p unsafe.Pointer, env any) bool { return f(p, env) <= k }
	default:
		return func(p unsafe.Pointer, env any) bool { return f(p, env) >= k }
	}
}

// orderPtrAt compares the known-or-nil integer at off with k; nil
// compares false.
func orderPtrAt[T int | float64](op string, off uintptr, k T) boolFn {
	switch op {
	case "<":
		return func(p unsafe.Pointer, _ any) bool { v := *(**int)(unsafe.Add(p, off)); return v != nil && T(*v) < k }
	case ">":
		return func(p unsafe.Pointer, _ any) bool { v := *(**int)(unsafe.Add(p, off)); return v != nil && T(*v) > k }
	case "<=":
		return func(p unsafe.Pointer, _ any) bool { v := *(**int)(unsafe.Add(p, off)); return v != nil && T(*v) <= k }
	default:
		return func(p unsafe.Pointer, _ any) bool { v := *(**int)(unsafe.Add(p, off)); return v != nil && T(*v) >= k }
	}
}

// equalAt reports whether the field at off equals k.
func equalAt[T scalar](off uintptr, k T) boolFn {
	return func(p unsafe.Pointer, _ any) bool { return *(*T)(unsafe.Add(p, off)) == k }
}

// equalOf reports whether the value f computes equals k.
func equalOf[T scalar](f func(unsafe.Pointer, any) T, k T) boolFn {
	return func(p unsafe.Pointer, env any) bool { return f(p, env) == k }
}

// equalPtrAt reports whether the known-or-nil integer at off equals k;
// nil equals no number.
func equalPtrAt[T int | float64](off uintptr, k T) boolFn {
	return func(p unsafe.Pointer, _ any) bool { v := *(**int)(unsafe.Add(p, off)); return v != nil && T(*v) == k }
}
