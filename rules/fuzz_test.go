package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/profile"
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
			if pb == nil || pb.Name == "" || (len(pb.Rules) == 0) == (pb.Journey == nil) || (pb.Journey != nil && len(pb.Journey.Steps) == 0) {
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

// FuzzExpr compiles arbitrary expressions: never a panic, never a stack
// overflow (which no recover could catch), and every refusal says why.
// The seeds nest brackets at and past the limit, in and out of strings.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`recency_days > 45 && spend_365d >= 1000`,
		`count("visit", "7d") > 0 || has_tag("vip")`,
		strings.Repeat("(", rules.MaxExprDepth) + "true" + strings.Repeat(")", rules.MaxExprDepth),
		strings.Repeat("(", rules.MaxExprDepth+1) + "true" + strings.Repeat(")", rules.MaxExprDepth+1),
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		`name == "` + strings.Repeat("(", 100) + `"`,
		strings.Repeat("!", 3000) + "true",
		strings.Repeat("-", 3000) + "1 > 0",
		`tier in ["gold", 'vip', ` + "`x`" + `] && attrs.city == "上海"`,
	} {
		f.Add(s)
	}
	env := profile.ExprEnv()
	f.Fuzz(func(t *testing.T, src string) {
		c, err := rules.CompileExpr(src, env)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if c == nil {
			t.Fatal("no condition and no error")
		}
	})
}

// Half a million parentheses must be an error at the condition's place,
// not a crash: as a file, and as a filter.
func TestDeepExpressionsAreRefusedNotCrashed(t *testing.T) {
	deep := strings.Repeat("(", 500000) + "true" + strings.Repeat(")", 500000)
	src := "name: deep\nrules:\n  - id: r1\n    when: " + deep + "\n    once: true\n    actions: [{ tag: { add: [x] } }]\n"
	_, err := rules.Load("deep.yaml", []byte(src), options())
	if err == nil || !strings.Contains(err.Error(), "deep.yaml:4:11: rule r1: when: the expression is 1000004 bytes long; at most 4096") {
		t.Errorf("deep file: %v", err)
	}
	shallow := strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40)
	src = "name: deep\nrules:\n  - id: r1\n    when: " + shallow + "\n    once: true\n    actions: [{ tag: { add: [x] } }]\n"
	_, err = rules.Load("deep.yaml", []byte(src), options())
	if err == nil || !strings.Contains(err.Error(), "deep.yaml:4:43: rule r1: when: brackets nest more than 32 deep here") {
		t.Errorf("40 levels: %v", err)
	}
	if _, err := rules.CompileExpr(deep, profile.ExprEnv()); err == nil || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("deep filter: %v", err)
	}
	// Brackets in a string are text, however many.
	if _, err := rules.CompileExpr(`name != "`+strings.Repeat("((", 100)+`"`, profile.ExprEnv()); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

// Evaluation must not be able to take the process down either: repeat,
// which allocates before expr's memory budget looks, is not available; a
// comment cannot hide nesting from the depth limit.
func TestExpressionsCannotAskForUnboundedMemory(t *testing.T) {
	env := profile.ExprEnv()
	_, err := rules.CompileExpr(`len(repeat(repeat("x", 999999), 999999)) > 0`, env)
	if err == nil || !strings.Contains(err.Error(), "repeat is not available") {
		t.Errorf("repeat: %v", err)
	}
	hidden := `/* " */ ` + strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40)
	if _, err := rules.CompileExpr(hidden, env); err == nil || !strings.Contains(err.Error(), "nest more than") {
		t.Errorf("nesting after a comment with a quote: %v", err)
	}
	hidden = "true // \"\n && " + strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40)
	if _, err := rules.CompileExpr(hidden, env); err == nil || !strings.Contains(err.Error(), "nest more than") {
		t.Errorf("nesting after a line comment with a quote: %v", err)
	}
}
