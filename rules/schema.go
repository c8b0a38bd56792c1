package rules

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
)

// The JSON Schemas of playbooks and of playbook test files, for editors
// (yaml-language-server autocompletes and flags errors as one types). They
// are generated from the same YAML mirror types the loaders decode, and
// from the registry's action parameter types, so they cannot drift from
// what koi accepts; `koi schema` prints them. The loaders stay the
// authority: expressions, templates and cross-field rules are checked
// only there.

// SchemaDialect is the JSON Schema draft the schemas use.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

var (
	durationType = reflect.TypeOf(actions.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
	nodesType    = reflect.TypeOf([]yaml.Node{})
	scalarTypes  = []any{"string", "number", "boolean"}
)

// durationPattern is what actions.ParseDuration accepts: 7d, 2w, 12h, 1h30m.
const durationPattern = `^([0-9]+[dw]|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`

// schemaGen reflects YAML mirror types into schemas; nodes gives the
// schema of fields kept as yaml.Node (decoded by hand), by YAML key.
type schemaGen struct {
	nodes map[string]map[string]any
}

// PlaybookSchema returns the JSON Schema of a playbook file, with the
// parameters of every action in reg.
func PlaybookSchema(reg *actions.Registry) map[string]any {
	action := map[string]any{"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
		"description": "One action: kind: parameters, like coupon: {amount: 20, expires_in: 7d}"}
	props := map[string]any{}
	g := &schemaGen{}
	for _, kind := range reg.Kinds() {
		a, _ := reg.New(kind)
		s := g.schema(reflect.TypeOf(a).Elem(), "")
		if _, ok := a.(actions.ScalarDecoder); ok {
			s = map[string]any{"anyOf": []any{map[string]any{"type": "string"}, s}}
		}
		props[kind] = s
	}
	action["properties"] = props
	actionList := map[string]any{"type": "array", "items": action}
	variant := (&schemaGen{nodes: map[string]map[string]any{"actions": actionList}}).schema(reflect.TypeOf(variantYAML{}), "")
	rule := (&schemaGen{nodes: map[string]map[string]any{
		"actions":  actionList,
		"variants": {"type": "array", "items": variant, "minItems": 2},
	}}).schema(reflect.TypeOf(ruleYAML{}), "")
	step := (&schemaGen{nodes: map[string]map[string]any{
		"actions":  actionList,
		"variants": {"type": "array", "items": variant, "minItems": 2},
	}}).schema(reflect.TypeOf(stepYAML{}), "")
	journey := (&schemaGen{nodes: map[string]map[string]any{
		"steps": {"type": "array", "items": step, "minItems": 1},
	}}).schema(reflect.TypeOf(journeyYAML{}), "")
	root := (&schemaGen{nodes: map[string]map[string]any{
		"rules":   {"type": "array", "items": rule, "minItems": 1},
		"journey": journey,
	}}).schema(reflect.TypeOf(playbookYAML{}), "")
	// A playbook has rules or a journey, one of them.
	root["oneOf"] = []any{
		map[string]any{"required": []string{"rules"}, "not": map[string]any{"required": []string{"journey"}}},
		map[string]any{"required": []string{"journey"}, "not": map[string]any{"required": []string{"rules"}}},
	}
	root["$schema"] = SchemaDialect
	root["title"] = "koi playbook"
	return root
}

// TestFileSchema returns the JSON Schema of a playbook test file.
func TestFileSchema() map[string]any {
	expectation := (&schemaGen{nodes: map[string]map[string]any{
		"profile": {"type": "object", "description": "Attribute (or expression) to its value at the step's moment"},
	}}).schema(reflect.TypeOf(expectationYAML{}), "")
	expect := map[string]any{"type": "object", "additionalProperties": expectation,
		"description": "By customer id: what must happen to them; customers not listed must fire nothing"}
	step := (&schemaGen{nodes: map[string]map[string]any{"expect": expect}}).schema(reflect.TypeOf(testStepYAML{}), "")
	customer := (&schemaGen{}).schema(reflect.TypeOf(testCustomerYAML{}), "")
	tc := (&schemaGen{nodes: map[string]map[string]any{
		"customers": {"type": "array", "items": customer, "minItems": 1},
		"expect":    expect,
		"steps":     {"type": "array", "items": step, "minItems": 1},
	}}).schema(reflect.TypeOf(testCaseYAML{}), "")
	root := (&schemaGen{nodes: map[string]map[string]any{
		"cases": {"type": "array", "items": tc, "minItems": 1},
	}}).schema(reflect.TypeOf(testFileYAML{}), "")
	root["$schema"] = SchemaDialect
	root["title"] = "koi playbook test"
	return root
}

// schema returns the schema of t; key is the YAML key the value sits
// under, for yaml.Node fields.
func (g *schemaGen) schema(t reflect.Type, key string) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": durationPattern}
	case nodeType, nodesType:
		if s, ok := g.nodes[key]; ok {
			return s
		}
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem(), key)
	case reflect.Struct:
		return g.object(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), key)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), key)}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// object is a struct's schema: its YAML keys, no others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		s := g.schema(f.Type, name)
		tag := f.Tag.Get("jsonschema")
		for _, part := range splitTag(tag) {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "required":
				required = append(required, name)
			case "description":
				s = withKey(s, "description", v)
			case "minItems":
				if n, err := strconv.Atoi(v); err == nil {
					s = withKey(s, "minItems", n)
				}
			case "scalar":
				// yaml.v3 decodes any scalar into a string field: `when:
				// true` and `max_fires: 5000` are fine.
				s = withKey(s, "type", scalarTypes)
			}
		}
		props[name] = s
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

// splitTag splits a jsonschema tag at commas, except inside a
// description, which runs to the end.
func splitTag(tag string) []string {
	if tag == "" {
		return nil
	}
	var parts []string
	for tag != "" {
		if strings.HasPrefix(tag, "description=") {
			return append(parts, tag)
		}
		part, rest, _ := strings.Cut(tag, ",")
		parts = append(parts, part)
		tag = rest
	}
	return parts
}

// withKey returns a copy of s with k set, so shared schemas stay intact.
func withKey(s map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(s)+1)
	for key, val := range s {
		out[key] = val
	}
	out[k] = v
	return out
}
