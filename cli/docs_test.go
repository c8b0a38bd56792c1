package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
)

// The runnable-docs convention. An HTML comment on the line right before a
// fenced block says what the block is, and TestDocs holds the block to it:
//
//	<!-- koi:playbook [name=FILE] --> a yaml playbook that koi check passes
//	<!-- koi:test [name=FILE] -->     a yaml test file for the page's latest
//	                                  koi:playbook; koi test on the pair passes
//	<!-- koi:config -->               a yaml koi.yaml (or part of one) the
//	                                  config loader accepts
//	<!-- koi:run -->                  a sh block whose `koi ...` and
//	                                  `go run ./cmd/koi ...` lines exit 0
//	<!-- koi:skip -->                 a yaml illustration, deliberately partial
//
// Every yaml block must carry a marker, so a new example cannot escape the
// test by accident.
var docMarker = regexp.MustCompile(`^\s*<!--\s*koi:([a-z]+)(?:\s+name=(\S+))?\s*-->\s*$`)

// docFence opens or closes a fenced code block; its indentation is the
// block's (a block in a list item is indented).
var docFence = regexp.MustCompile("^(\\s*)```\\s*([A-Za-z0-9_-]*)\\s*$")

// docLink is a Markdown link or image: [text](target "title").
var docLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// docLine is a line of a page outside its code blocks.
type docLine struct {
	n    int
	text string
}

// docBlock is one fenced block of a page with its marker.
type docBlock struct {
	page      string // path from the repository root
	line      int    // the fence's line, 1-based
	lang      string
	kind      string // the marker's kind, "" without one
	name      string // the marker's name=, if any
	body      string
	markerErr string // a marker that is not followed by a block
}

func (b docBlock) where() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

// docPages lists the pages the convention covers, from the repository
// root: README.md, README.zh-CN.md when present, and docs/*.md.
func docPages(t *testing.T, root string) []string {
	t.Helper()
	pages := []string{"README.md"}
	if _, err := os.Stat(filepath.Join(root, "README.zh-CN.md")); err == nil {
		pages = append(pages, "README.zh-CN.md")
	}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		pages = append(pages, filepath.ToSlash(rel))
	}
	return pages
}

// parseDocBlocks returns the fenced blocks of a page, and the lines outside
// them (for links), by line number.
func parseDocBlocks(page, src string) (blocks []docBlock, prose []docLine) {
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		m := docFence.FindStringSubmatch(lines[i])
		if m == nil {
			prose = append(prose, docLine{i + 1, lines[i]})
			if mk := docMarker.FindStringSubmatch(lines[i]); mk != nil {
				if i+1 >= len(lines) || docFence.FindStringSubmatch(lines[i+1]) == nil {
					blocks = append(blocks, docBlock{page: page, line: i + 1, kind: mk[1], markerErr: "a koi:" + mk[1] + " marker must be on the line right before a fenced block"})
				}
			}
			continue
		}
		// yml and bash/shell are spellings of yaml and sh: an example
		// cannot escape the convention by its fence's spelling.
		lang := map[string]string{"yml": "yaml", "bash": "sh", "shell": "sh"}[m[2]]
		if lang == "" {
			lang = m[2]
		}
		b := docBlock{page: page, line: i + 1, lang: lang}
		if i > 0 {
			if mk := docMarker.FindStringSubmatch(lines[i-1]); mk != nil {
				b.kind, b.name = mk[1], mk[2]
			}
		}
		indent := m[1]
		var body []string
		for i++; i < len(lines); i++ {
			if c := docFence.FindStringSubmatch(lines[i]); c != nil && c[2] == "" {
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		b.body = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks, prose
}

// TestDocs keeps the manual runnable: every marked block of README.md,
// README.zh-CN.md and docs/*.md does what its marker promises, every yaml
// block is marked, and every relative link leads to a file of the
// repository. The CLI runs in-process, from the repository root, each page
// with its own temporary database.
func TestDocs(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	for _, page := range docPages(t, root) {
		t.Run(page, func(t *testing.T) {
			src, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			blocks, prose := parseDocBlocks(page, string(src))
			checkDocLinks(t, root, page, prose)
			d := &docPage{t: t, dir: t.TempDir()}
			for _, b := range blocks {
				d.check(b)
			}
		})
	}
}

// docPage is the state a page's blocks share, in order: its database, and
// the files its playbook and test blocks wrote.
type docPage struct {
	t        *testing.T
	dir      string
	playbook string // the latest koi:playbook's file, relative to dir
	written  int
}

func (d *docPage) check(b docBlock) {
	t := d.t
	t.Helper()
	if b.markerErr != "" {
		t.Errorf("%s: %s", b.where(), b.markerErr)
		return
	}
	wantLang := map[string]string{"playbook": "yaml", "test": "yaml", "config": "yaml", "skip": "yaml", "run": "sh"}
	if b.kind == "" {
		if b.lang == "yaml" {
			t.Errorf("%s: a yaml block without a marker: say what it is with <!-- koi:playbook -->, koi:test, koi:config or koi:skip on the line before", b.where())
		}
		return
	}
	lang, known := wantLang[b.kind]
	switch {
	case !known:
		t.Errorf("%s: unknown marker koi:%s (known: playbook, test, config, run, skip)", b.where(), b.kind)
		return
	case lang != b.lang:
		t.Errorf("%s: koi:%s marks a %s block, not %q", b.where(), b.kind, lang, b.lang)
		return
	}
	switch b.kind {
	case "playbook":
		d.written++
		name := b.name
		if name == "" {
			name = fmt.Sprintf("playbook%d.yaml", d.written)
		}
		d.write(b, name)
		d.playbook = name
		if r := koiInProcess(t, "check", filepath.Join(d.dir, name)); r.code != 0 {
			t.Errorf("%s: koi check on this playbook: exit %d\n%s", b.where(), r.code, r.stdout)
		}
	case "test":
		if d.playbook == "" {
			t.Errorf("%s: a koi:test block with no koi:playbook before it on the page", b.where())
			return
		}
		name := b.name
		if name == "" {
			name = strings.TrimSuffix(d.playbook, ".yaml") + "_test.yaml"
		}
		d.write(b, name)
		if r := koiInProcess(t, "test", filepath.Join(d.dir, name)); r.code != 0 {
			t.Errorf("%s: koi test on this file and the playbook before it: exit %d\n%s", b.where(), r.code, r.stdout)
		}
	case "config":
		if err := checkDocConfig(t, filepath.Join(d.dir, "koi.yaml"), b.body); err != nil {
			t.Errorf("%s: the config loader refuses this koi.yaml:\n%v", b.where(), err)
		}
	case "run":
		for _, args := range docCommands(b.body) {
			r := koiInProcess(t, d.localize(append([]string{"--db", filepath.Join(d.dir, "koi.db")}, args...))...)
			if r.code != 0 {
				t.Errorf("%s: koi %s: exit %d\n%s", b.where(), strings.Join(args, " "), r.code, r.stdout)
			}
		}
	}
}

// write puts a block's body into the page's directory.
func (d *docPage) write(b docBlock, name string) {
	d.t.Helper()
	if filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
		d.t.Fatalf("%s: name=%s must be a relative path", b.where(), name)
	}
	path := filepath.Join(d.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		d.t.Fatal(err)
	}
	write(d.t, path, b.body)
}

// localize points an argument naming a file or directory the page wrote
// (my-playbooks/recall-valuable.yaml) at the page's copy, so a walk-through
// that creates files and then runs koi on them is tested as written; any
// other argument, such as examples/playbooks, stays relative to the
// repository root.
func (d *docPage) localize(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.HasPrefix(a, "-") || filepath.IsAbs(a) {
			continue
		}
		if _, err := os.Stat(a); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d.dir, a)); err == nil {
			out[i] = filepath.Join(d.dir, a)
		}
	}
	return out
}

// checkDocConfig writes a koi.yaml and loads it as koi serve does: the
// file, its channels decoded (not opened: a secret may be unset) and its
// outbox settings. Variables the sample names with env: are set, as the
// operator following it would have.
func checkDocConfig(t *testing.T, path, body string) error {
	t.Helper()
	for _, m := range regexp.MustCompile(`\benv:\s*([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(body, -1) {
		t.Setenv(m[1], "docs-test-secret")
	}
	write(t, path, body)
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	reg := (&globals{register: []func(*actions.Registry){builtin.Register}}).registry()
	var errs []error
	for name, node := range cfg.Channels {
		if _, _, err := cfg.buildChannel(reg, name, node); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := cfg.dispatchOptions(nil, slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// docCommands returns the koi command lines of a sh block as arguments:
// lines starting with `koi ` or `go run ./cmd/koi `, with a trailing
// backslash joining the next line and a ` #` comment dropped. Other lines
// (exports, curl, comments) are not koi's and are left alone.
func docCommands(body string) [][]string {
	var cmds [][]string
	var joined []string
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur += rest + " "
			continue
		}
		joined = append(joined, cur+line)
		cur = ""
	}
	if cur != "" {
		joined = append(joined, cur)
	}
	for _, line := range joined {
		line = strings.TrimSpace(line)
		var rest string
		switch {
		case strings.HasPrefix(line, "koi "):
			rest = strings.TrimPrefix(line, "koi ")
		case strings.HasPrefix(line, "go run ./cmd/koi "):
			rest = strings.TrimPrefix(line, "go run ./cmd/koi ")
		default:
			continue
		}
		cmds = append(cmds, shellWords(rest))
	}
	return cmds
}

// shellWords splits a command line as sh would for the simple lines docs
// show: words, 'single' and "double" quotes, and a # comment after a space.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// checkDocLinks requires every relative link of a page to name a file or
// directory of the repository; anchors are not checked.
func checkDocLinks(t *testing.T, root, page string, prose []docLine) {
	t.Helper()
	inlineCode := regexp.MustCompile("`[^`]*`")
	for _, l := range prose {
		n := l.n
		for _, m := range docLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(l.text, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			path := filepath.Clean(filepath.Join(filepath.Dir(page), target))
			rel := filepath.ToSlash(path)
			if strings.HasPrefix(rel, "../") || rel == ".." {
				t.Errorf("%s:%d: link %s leaves the repository", page, n, m[1])
				continue
			}
			if _, err := os.Stat(filepath.Join(root, path)); err != nil {
				t.Errorf("%s:%d: link %s: no such file in the repository", page, n, m[1])
			}
		}
	}
}

// docResult is what an in-process koi command printed and its exit code.
type docResult struct {
	stdout string
	code   int
}

// koiInProcess runs the koi command in this process with the built-in
// actions, as cmd/koi does, and returns its output (stdout and stderr
// together) and exit code as run would compute it.
func koiInProcess(t *testing.T, args ...string) docResult {
	t.Helper()
	root := newRoot(builtin.Register)
	root.SetArgs(args)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	if err == nil {
		return docResult{out.String(), exitOK}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(&out, "koi:", ee.err)
		}
		return docResult{out.String(), ee.code}
	}
	fmt.Fprintln(&out, "koi:", err)
	if c := domain.ErrorCode(err); c == domain.EInvalid || c == domain.ENotFound {
		return docResult{out.String(), exitFailed}
	}
	return docResult{out.String(), exitUsage}
}
