package profile

import (
	"fmt"

	"github.com/expr-lang/expr/ast"

	"github.com/koihq/koi/rules"
)

// ExprEnv is the environment playbook conditions compile against: the
// Profile type and its helper functions.
func ExprEnv() *rules.Env {
	return &rules.Env{
		Profile: &Profile{},
		Functions: map[string]rules.Function{
			"has_tag": {Method: "HasTag", Fast: func(env any, args []any) any {
				return env.(*Profile).HasTag(args[0].(string))
			}},
			"count": {Method: "CountEvents", ShadowsBuiltin: true, Check: checkCountArgs, Fast: func(env any, args []any) any {
				return env.(*Profile).CountEvents(args[0].(string), args[1].(string))
			}},
			"count_since_entry": {Method: "CountSinceEntry", Check: checkSinceEntryArgs, Fast: func(env any, args []any) any {
				return env.(*Profile).CountSinceEntry(args[0].(string))
			}},
		},
		// attrs.city reads the customer's list of attrs: an evaluation need
		// not make each customer a map (ProfileBuf.WithoutAttrs).
		Lookups: map[string]func(env any, key string) any{
			"attrs": func(env any, key string) any { return env.(*Profile).Attr(key) },
		},
		BeforeVM: func(env any) {
			if p, ok := env.(*Profile); ok && p.Attrs == nil && p.attrList.Len() > 0 {
				p.Attrs = p.attrList.Map()
			}
		},
	}
}

// checkSinceEntryArgs validates count_since_entry("type").
func checkSinceEntryArgs(args []ast.Node) error {
	if len(args) != 1 {
		return fmt.Errorf("want count_since_entry(type), like count_since_entry(\"visit\")")
	}
	return nil
}

// checkCountArgs validates count("type", "window") when its window is a literal.
func checkCountArgs(args []ast.Node) error {
	if len(args) != 2 {
		return fmt.Errorf("want count(type, window), like count(\"visit\", \"7d\")")
	}
	if w, ok := args[1].(*ast.StringNode); ok {
		if _, err := parseWindow(w.Value); err != nil {
			return err
		}
	}
	return nil
}
