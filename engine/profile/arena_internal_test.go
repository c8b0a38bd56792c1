package profile

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// A carved string keeps its value when the buffer it was copied from is
// reused, and strings carved one after another do not overlap.
func TestArenaStringsOutliveTheirBuffer(t *testing.T) {
	var a arena
	buf := []byte("first")
	s1 := a.str(buf)
	copy(buf, "XXXXX")
	s2 := a.str([]byte("second"))
	if s1 != "first" || s2 != "second" {
		t.Fatalf("carved %q and %q", s1, s2)
	}
	long := strings.Repeat("x", arenaBytesChunk) // beyond a chunk: a string of its own
	if got := a.str([]byte(long)); got != long {
		t.Fatal("a long string changed")
	}
	var many []string
	for i := range 3 * arenaBytesChunk / 8 { // several chunks
		many = append(many, a.str([]byte{byte(i), 1, 2, 3, 4, 5, 6, byte(i >> 8)}))
	}
	for i, s := range many {
		if s != string([]byte{byte(i), 1, 2, 3, 4, 5, 6, byte(i >> 8)}) {
			t.Fatalf("string %d is %q", i, s)
		}
	}
}

// A list carved with room for n pairs takes n, and appending past them
// moves the list instead of writing over the next one.
func TestArenaListsDoNotOverlap(t *testing.T) {
	var a arena
	key := "k"
	l1 := a.attrList(2)
	l2 := a.attrList(1)
	l1 = append(l1, Attr{key: &key, Value: "a"}, Attr{key: &key, Value: "b"})
	l2 = append(l2, Attr{key: &key, Value: "c"})
	l1 = append(l1, Attr{key: &key, Value: "d"}) // past its room
	if l2[0].Value != "c" || len(l1) != 3 || l1[0].Value != "a" || l1[2].Value != "d" {
		t.Fatalf("lists %v and %v", l1, l2)
	}
	if big := a.attrList(arenaAttrsChunk); cap(big) != arenaAttrsChunk {
		t.Fatalf("a large list has room for %d", cap(big))
	}
}

// Values boxed in the arena are ordinary interface values: they compare,
// convert, print and encode as the runtime's own boxes do, and survive
// collections (the chunk they live in is kept alive by them alone).
func TestArenaBoxesAreOrdinaryValues(t *testing.T) {
	var a arena
	var strs, nums []any
	for i := range 3 * arenaBoxChunk { // several chunks
		strs = append(strs, a.boxString(a.str([]byte(fmt.Sprintf("m%07d", i)))))
		nums = append(nums, a.boxNumber(float64(i)+0.5))
	}
	if a.boxNumber(3) != any(3.0) {
		t.Fatal("a small number is not the shared box")
	}
	runtime.GC()
	runtime.GC()
	for i := range strs {
		want := fmt.Sprintf("m%07d", i)
		if strs[i] != any(want) || strs[i].(string) != want || fmt.Sprint(strs[i]) != want {
			t.Fatalf("string %d is %#v", i, strs[i])
		}
		if nums[i] != any(float64(i)+0.5) || reflect.ValueOf(nums[i]).Float() != float64(i)+0.5 {
			t.Fatalf("number %d is %#v", i, nums[i])
		}
	}
	enc, err := json.Marshal(map[string]any{"s": strs[5], "n": nums[5]})
	if err != nil || string(enc) != `{"n":5.5,"s":"m0000005"}` {
		t.Fatalf("encoded %s, %v", enc, err)
	}
}

// A loader's interner boxes the values customers do not share in the
// arena: parsing the attrs of many customers, each with a string and a
// number of their own, takes a handful of allocations per thousand, not
// one per value (every one of which each collection would visit).
func TestLoaderBoxesOwnValuesInChunks(t *testing.T) {
	const n = 20_000
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = fmt.Appendf(nil, `{"city":"上海","member_no":"m%07d","points":%d.25}`, i, i)
	}
	var in AttrInterner
	in.UseArena()
	lists := make([]AttrList, n)
	parse := func(from, to int) {
		for i := from; i < to; i++ {
			l, err := in.ParseJSON(raws[i])
			if err != nil {
				t.Fatal(err)
			}
			lists[i] = l
		}
	}
	// The first thousand values of a key are interned, until the
	// interner sees they are not shared.
	const warm = 2_000
	parse(0, warm)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parse(warm, n)
	runtime.ReadMemStats(&after)
	if got := after.Mallocs - before.Mallocs; got > (n-warm)/100 {
		t.Errorf("%d allocations for %d customers' attrs", got, n-warm)
	}
	for i, l := range lists {
		if v, _ := l.Get("member_no"); v != any(fmt.Sprintf("m%07d", i)) {
			t.Fatalf("customer %d: member_no %#v", i, v)
		}
		if v, _ := l.Get("points"); v != any(float64(i)+0.25) {
			t.Fatalf("customer %d: points %#v", i, v)
		}
	}
}
