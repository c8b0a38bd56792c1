package rules

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
)

// decoder decodes YAML nodes into Go structs strictly: unknown and duplicate
// keys are errors, and every error carries the position of the node at fault.
// yaml.v3's own KnownFields only works on a Decoder over bytes, loses nothing
// but positions inside Node.Decode, and stops at the first error; walking the
// nodes ourselves gives all errors with line:col.
type decoder struct {
	file string
	errs *ErrorList
}

var (
	yamlNodeType    = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	scalarDecType   = reflect.TypeOf((*actions.ScalarDecoder)(nil)).Elem()
)

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	*d.errs = append(*d.errs, Error{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// DecodeNode decodes n into v, a pointer, as strictly as playbooks are
// decoded: an unknown key (with the keys it might have meant), a key given
// twice or a value of the wrong type is an error at its file:line:col, and
// all of them are returned at once. what prefixes the messages. koi.yaml
// is read with it.
func DecodeNode(file string, n *yaml.Node, v any, what string) ErrorList {
	var errs ErrorList
	d := decoder{file: file, errs: &errs}
	if n.Kind == 0 { // an empty document, or comments only
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	d.decode(n, reflect.ValueOf(v).Elem(), what)
	return errs
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == yamlNodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Tag == "!!null" && v.Kind() != reflect.Interface {
		return
	}
	if reflect.PointerTo(v.Type()).Implements(scalarDecType) && n.Kind == yaml.ScalarNode {
		if err := v.Addr().Interface().(actions.ScalarDecoder).DecodeScalar(n.Value); err != nil {
			d.errorf(n, "%s: %v", what, err)
		}
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errorf(n, "%s: %s", what, cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), what)
	case reflect.Struct:
		d.decodeStruct(n, v, what)
	case reflect.Interface:
		// Free-form values (attributes): whatever YAML holds.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errorf(n, "%s: %s", what, cleanYAMLError(err))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: want a list, got %s", what, describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), what)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			if err := n.Decode(v.Addr().Interface()); err != nil {
				d.errorf(n, "%s: %s", what, cleanYAMLError(err))
			}
			return
		}
		// Value by value, so that a struct under a name (a channel's
		// cap) is as strict as one under a fixed key.
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		put := func(k, val *yaml.Node) {
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, join(what, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
		seen := map[string]bool{}
		for _, kv := range MappingPairs(n) {
			if !kv.Merged {
				if seen[kv.Key.Value] {
					d.errorf(kv.Key, "%s: key %q appears twice", what, kv.Key.Value)
					continue
				}
				seen[kv.Key.Value] = true
			}
			put(kv.Key, kv.Value)
		}
		v.Set(m)
	default:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want %s, got %s", what, kindName(v.Kind()), describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errorf(n, "%s: want %s, got %q", what, kindName(v.Kind()), n.Value)
		}
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return
	}
	// YAML merge keys (<<: *defaults) first, so that the mapping's own
	// keys override what they bring.
	for _, m := range mergedMappings(n) {
		d.decodeStruct(m, v, what)
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue // merged first, below
		}
		if seen[k.Value] {
			d.errorf(k, "%s: key %q appears twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			known := fieldNames(v.Type())
			hint := ""
			if similar := Suggest(k.Value, known); len(similar) > 0 {
				hint = "did you mean " + strings.Join(similar, " or ") + "? "
			}
			d.errorf(k, "%s: unknown key %q (%sknown keys: %s)", what, k.Value, hint, strings.Join(known, ", "))
			continue
		}
		d.decode(val, v.Field(idx), join(what, k.Value))
	}
}

// Pair is a key and its value in a YAML mapping.
type Pair struct {
	Key, Value *yaml.Node
	// Merged says the pair came in through a merge key.
	Merged bool
}

// MappingPairs returns the key/value pairs of mapping n with YAML merge
// keys (<<: *defaults, or a list of them) resolved: the merged pairs
// first, then n's own, so that a later pair with the same key overrides
// an earlier one.
func MappingPairs(n *yaml.Node) []Pair {
	var out []Pair
	for _, m := range mergedMappings(n) {
		for _, p := range MappingPairs(m) {
			p.Merged = true
			out = append(out, p)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			out = append(out, Pair{Key: n.Content[i], Value: n.Content[i+1]})
		}
	}
	return out
}

// isMergeKey reports whether k is YAML's merge key, <<.
func isMergeKey(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.Tag == "!!merge" }

// mergedMappings returns the mappings n's merge keys bring in, in order:
// <<: *a or <<: [*a, *b].
func mergedMappings(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			continue
		}
		val := n.Content[i+1]
		items := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			items = val.Content
		}
		for _, it := range items {
			if it.Kind == yaml.AliasNode {
				it = it.Alias
			}
			if it.Kind == yaml.MappingNode {
				out = append(out, it)
			}
		}
	}
	return out
}

// join builds the path an error names: "rule r1: coupon: amount".
func join(what, key string) string {
	if what == "" {
		return key
	}
	return what + ": " + key
}

// structFields maps YAML keys to field indexes, from `yaml:"name"` tags.
func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// keyNode returns the key node of key in mapping n, for pointing at a field.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	default:
		return "a " + k.String()
	}
}

// cleanYAMLError strips yaml.v3's "yaml: unmarshal errors:\n  line N:" framing,
// since our errors carry the position themselves.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			s = rest
		}
	}
	return strings.TrimPrefix(s, "yaml: ")
}
