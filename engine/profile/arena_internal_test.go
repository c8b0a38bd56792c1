package profile

import (
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
