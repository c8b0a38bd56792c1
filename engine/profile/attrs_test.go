package profile

import (
	"encoding/json"
	"fmt"
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
	if want := NewAttrList(m); !reflect.DeepEqual(got, want) && !(got.Len() == 0 && want.Len() == 0) {
		t.Fatalf("%q: %#v, encoding/json gives %#v", src, got, want)
	}
	// Parsed through the interner's shared values, the second time too.
	again, _ := in.ParseJSON([]byte(src))
	if !reflect.DeepEqual(again, got) {
		t.Fatalf("%q parsed again: %#v, first %#v", src, again, got)
	}
}

// Customers with the same common values share one list of them; a value
// of their own (a member number) stays theirs. Every list still reads as
// the map it was made from.
func TestAttrListsShareCommonPairs(t *testing.T) {
	var in AttrInterner
	cities := []string{"上海", "北京", "杭州"}
	var lists []AttrList
	var maps []map[string]any
	for i := range 3000 {
		src := fmt.Sprintf(`{"city":%q,"children":%d,"vip":%v,"member_no":"M%06d","score":%d.5}`, cities[i%3], i%2, i%4 == 0, i, i)
		l, err := in.ParseJSON([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(src), &m); err != nil {
			t.Fatal(err)
		}
		lists, maps = append(lists, l), append(maps, m)
	}
	commons := map[*[]Attr]int{}
	for i, l := range lists {
		if !reflect.DeepEqual(l.Map(), maps[i]) || l.Len() != len(maps[i]) {
			t.Fatalf("customer %d: %v, want %v", i, l.Map(), maps[i])
		}
		for k, want := range maps[i] {
			if got, ok := l.Get(k); !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("customer %d: %s = %v, want %v", i, k, got, want)
			}
		}
		if _, ok := l.Get("nothing"); ok {
			t.Fatalf("customer %d has an attr it was not given", i)
		}
		if l.common == nil {
			t.Fatalf("customer %d: no common list", i)
		}
		commons[l.common]++
		// Past the first thousand, member numbers are known to be each
		// customer's own; fractional scores always are.
		if i >= 1100 && len(l.own) != 2 {
			t.Fatalf("customer %d: own %v, want the member number and the score", i, l.own)
		}
	}
	// 3 cities x 2 numbers of children x vip or not (every 4th: 6 of the
	// 12 pairings occur), plus the lists of the first customers whose
	// member numbers were still taken for common values.
	if len(commons) > 1100+12 {
		t.Errorf("%d common lists for 3000 customers: not shared", len(commons))
	}
	shared := 0
	for _, n := range commons {
		if n > 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Error("no common list is shared")
	}
}
