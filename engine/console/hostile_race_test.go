package console_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Two "new file" saves of the same name at once: one is written, the
// other refused ("a new file over one that exists"), never both.
func TestReviewNewFileRace(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	_, page := f.get(c, "/editor")
	tok := csrf(t, page)
	for round := 0; round < 20; round++ {
		file := fmt.Sprintf("race%d.yaml", round)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				src := fmt.Sprintf("name: race%d-%d\nrules:\n  - id: r\n    when: \"true\"\n    once: true\n    actions:\n      - tag: { add: [x] }\n", round, i)
				res, err := c.PostForm(f.srv.URL+"/editor", url.Values{"csrf": {tok}, "new": {"1"}, "file": {file}, "source": {src}, "action": {"save"}})
				if err == nil {
					codes[i] = res.StatusCode
					res.Body.Close()
				}
			}(i)
		}
		wg.Wait()
		if codes[0] == 303 && codes[1] == 303 {
			b, _ := os.ReadFile(filepath.Join(f.dir, file))
			t.Fatalf("round %d: both new-file saves of %s succeeded (%v); the first was overwritten, the file now holds %q", round, file, codes, strings.SplitN(string(b), "\n", 2)[0])
		}
	}
}
