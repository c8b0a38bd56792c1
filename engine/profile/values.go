package profile

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// The attribute lists derive from the Profile type's tags, so an attribute
// is declared once: its `expr` tag names it for playbooks, exports and
// templates (in field order), its `sample` tag gives the value templates
// are checked against when a playbook loads, and `values:"-"` keeps a
// field (now) out of the customer's values.

// attribute is one exported field of Profile (or of a nested struct such
// as RFM), found once by reflection.
type attribute struct {
	name   string
	index  int
	kind   reflect.Kind
	nested []attribute // for a struct field
}

var profileAttributes = attributesOf(reflect.TypeFor[Profile]())

// ValueNames lists the attribute names of Values, in export order.
var ValueNames = func() []string {
	names := make([]string, len(profileAttributes))
	for i, a := range profileAttributes {
		names[i] = a.name
	}
	return names
}()

func attributesOf(t reflect.Type) []attribute {
	var out []attribute
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("expr")
		if name == "" || name == "-" || f.Tag.Get("values") == "-" {
			continue
		}
		a := attribute{name: name, index: i, kind: f.Type.Kind()}
		if a.kind == reflect.Struct {
			a.nested = attributesOf(f.Type)
		}
		out = append(out, a)
	}
	return out
}

// Values returns the profile as attribute names and values, the shape of
// `koi export` and of message templates. Nil attributes stay nil; tags
// and attrs are never nil.
func (p *Profile) Values() map[string]any {
	out := valuesOf(reflect.ValueOf(p).Elem(), profileAttributes)
	if p.Tags == nil {
		out["tags"] = []string{}
	}
	if p.Attrs == nil {
		out["attrs"] = map[string]any{}
	}
	return out
}

func valuesOf(v reflect.Value, attrs []attribute) map[string]any {
	out := make(map[string]any, len(attrs))
	for _, a := range attrs {
		f := v.Field(a.index)
		switch a.kind {
		case reflect.Pointer:
			if f.IsNil() {
				out[a.name] = nil
			} else {
				out[a.name] = f.Elem().Interface()
			}
		case reflect.Struct:
			out[a.name] = valuesOf(f, a.nested)
		default:
			out[a.name] = f.Interface()
		}
	}
	return out
}

// sampleProfile is a made-up profile with every attribute set from its
// `sample` tag.
func sampleProfile() *Profile {
	p := &Profile{}
	if err := fillSample(reflect.ValueOf(p).Elem()); err != nil {
		panic(err) // a Profile tag is wrong: a programming error, caught by tests
	}
	return p
}

func fillSample(v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		s, ok := f.Tag.Lookup("sample")
		if !ok {
			if f.Type.Kind() == reflect.Struct && f.Tag.Get("expr") != "" && f.Tag.Get("values") != "-" {
				if err := fillSample(v.Field(i)); err != nil {
					return err
				}
			}
			continue
		}
		if err := setSample(v.Field(i), s); err != nil {
			return fmt.Errorf("sample tag of Profile.%s %q: %w", f.Name, s, err)
		}
	}
	return nil
}

func setSample(f reflect.Value, s string) error {
	switch f.Kind() {
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
		return setSample(f.Elem(), s)
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		f.SetBool(b)
		return err
	case reflect.Int:
		n, err := strconv.Atoi(s)
		f.SetInt(int64(n))
		return err
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		f.SetFloat(x)
		return err
	case reflect.Slice:
		f.Set(reflect.ValueOf(strings.Split(s, ",")))
	default:
		return fmt.Errorf("no sample for a %s", f.Kind())
	}
	return nil
}

// SampleValues returns the values of a made-up profile with every
// attribute set, for checking templates when a playbook loads.
func SampleValues() map[string]any { return sampleProfile().Values() }
