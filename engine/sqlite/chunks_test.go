package sqlite

import "testing"

func TestChunkSizesCoverEveryRowWithFewShapes(t *testing.T) {
	shapes := map[int]bool{}
	for n := 0; n <= 2500; n++ {
		sum := 0
		for _, s := range chunkSizes(n) {
			if s <= 0 || s > rowsPerStatement {
				t.Fatalf("chunkSizes(%d) has a statement of %d rows", n, s)
			}
			sum += s
			shapes[s] = true
		}
		if sum != n {
			t.Fatalf("chunkSizes(%d) covers %d rows", n, sum)
		}
	}
	if len(shapes) > 10 {
		t.Errorf("%d statement sizes, want at most 10: %v", len(shapes), shapes)
	}
}
