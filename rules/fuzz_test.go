package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/koihq/koi/rules"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and
// every error it reports must point at a real position.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/playbooks/*.yaml")
	bad, _ := filepath.Glob("testdata/*.bad.yaml")
	for _, p := range append(seeds, bad...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	opts := options()
	f.Fuzz(func(t *testing.T, src []byte) {
		pb, err := rules.Load("fuzz.yaml", src, opts)
		if err == nil {
			if pb == nil || pb.Name == "" || len(pb.Rules) == 0 {
				t.Fatalf("loaded an incomplete playbook: %+v", pb)
			}
			return
		}
		list, ok := err.(rules.ErrorList)
		if !ok || len(list) == 0 {
			t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if e.Line < 1 || e.Col < 1 || e.Msg == "" {
				t.Fatalf("error without a position: %+v", e)
			}
		}
	})
}
