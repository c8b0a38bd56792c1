package profile

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

var attrsCorpus = []string{
	`{}`, ` { } `, `{"city":"上海"}`, `{"city":"上海","children":2,"vip":true,"note":null}`,
	`{"b":1,"a":2}`, `{"n":-1.5e3}`, `{"n":0.25}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`,
	`{"s":"a\"b"}`, `{"s":"\u4e0a"}`, `{"nested":{"a":1}}`, `{"list":[1,2]}`, `{"a":1,"a":2}`,
	`{"a":1,}`, `{"a":1`, `{"a" 1}`, `[]`, `null`, `{"a":tru}`, `{"a":truex}`, `{"a":1}x`,
	"{\"s\":\"\xff\"}", "{\"s\":\"a\tb\"}", `{"k":"v","k2":"v"}`, `{"":""}`, `{"a":1e400}`,
	`{"n":-0}`, `{"n":0}`, `{"n":3}`, `{"n":3.0}`, `{"n":1023}`, `{"n":1024}`, `{"n":-3}`, `{"n":2.5}`,
}

// Small whole numbers are shared, and keep their value and sign.
func TestAttrNumbersKeepTheirValue(t *testing.T) {
	var in AttrInterner
	for src, want := range map[string]float64{`{"n":-0}`: math.Copysign(0, -1), `{"n":0}`: 0, `{"n":7}`: 7,
		`{"n":1023}`: 1023, `{"n":1024}`: 1024, `{"n":-7}`: -7, `{"n":7.5}`: 7.5} {
		l, err := in.ParseJSON([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := l.Get("n")
		if got, ok := v.(float64); !ok || got != want || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("%s: n = %#v, want %v", src, v, want)
		}
		m := NewAttrList(map[string]any{"n": want})
		if v, _ := m.Get("n"); v.(float64) != want || math.Signbit(v.(float64)) != math.Signbit(want) {
			t.Errorf("from a map: n = %#v, want %v", v, want)
		}
	}
}

// ParseJSON gives what encoding/json gives, for well-formed and broken
// text alike.
func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	for _, src := range attrsCorpus {
		checkParseJSON(t, src)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, src := range attrsCorpus {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) { checkParseJSON(t, src) })
}

func checkParseJSON(t *testing.T, src string) {
	t.Helper()
	var in AttrInterner
	got, gotErr := in.ParseJSON([]byte(src))
	var m map[string]any
	wantErr := json.Unmarshal([]byte(src), &m)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", src, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if want := NewAttrList(m); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%q: %#v, encoding/json gives %#v", src, got, want)
	}
	// Parsed through the interner's shared values, the second time too.
	again, _ := in.ParseJSON([]byte(src))
	if !reflect.DeepEqual(again, got) {
		t.Fatalf("%q parsed again: %#v, first %#v", src, again, got)
	}
}
