package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/rules"
)

// maxSource bounds a playbook the editor takes.
const maxSource = 256 << 10

// previewBudget bounds one preview from the editor.
const previewBudget = time.Minute

// savesShown is how many saves of a file the editor lists.
const savesShown = 10

// fileName is what a playbook file the editor writes may be called: a
// plain name in the playbooks directory, never a path.
var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$`)

// skeleton is a new playbook's text when it starts from nothing.
const skeleton = `name: my-playbook
description: What it is for
schedule: "0 10 * * *"
timezone: Asia/Shanghai
rules:
  - id: first-rule
    when: recency_days > 30
    cooldown: 30d
    actions:
      - tag: { add: [recall] }
`

type editorData struct {
	// Enabled is false when the server has no playbooks directory to write.
	Enabled bool
	// New is true for a file not written yet: its name is asked for.
	New    bool
	File   string
	Source string
	// Lines numbers the source's lines for the gutter.
	Lines []int
	// ErrLines are the lines with an error.
	ErrLines map[int]bool
	Errors   []rules.Error
	// Notice is a message of success (saved, valid).
	Notice  string
	Preview *engine.Preview
	// SampleValues are the sample's customers' values, names sorted.
	SampleValues [][]nameValue
	Saves        []domain.PlaybookSave
	// Examples are the files a new playbook can start from.
	Examples []string
	// TestFile is the file's *_test.yaml when it has one (and the server
	// can run it); Tests and TestError what running it gave.
	TestFile  string
	Tests     []TestCaseResult
	TestError string
	TestsRun  bool
}

// editorPage shows the editor: ?file= edits a file of the playbooks
// directory, ?from= starts a new one from a file (or from a skeleton).
func (s *server) editorPage(w http.ResponseWriter, r *http.Request, v *view) {
	d := &editorData{Enabled: s.cfg.PlaybooksDir != ""}
	v.Title, v.Data = "editor.title", d
	if !d.Enabled {
		s.render(w, r, http.StatusOK, "editor", v)
		return
	}
	q := r.URL.Query()
	d.Examples = s.playbookFiles()
	switch file := q.Get("file"); {
	case file != "":
		if !fileName.MatchString(file) {
			s.fail(w, r, v, http.StatusNotFound, "error.notfound")
			return
		}
		src, err := readBounded(filepath.Join(s.cfg.PlaybooksDir, file))
		if err != nil {
			s.fail(w, r, v, http.StatusNotFound, "error.notfound")
			return
		}
		d.File, d.Source = file, string(src)
		if q.Get("saved") != "" {
			d.Notice = translate(v.Lang, "editor.saved", file)
		}
	default:
		d.New, d.Source = true, skeleton
		if from := q.Get("from"); from != "" {
			if !fileName.MatchString(from) { // before anything is opened
				s.fail(w, r, v, http.StatusNotFound, "error.notfound")
				return
			}
			src, err := readBounded(filepath.Join(s.cfg.PlaybooksDir, from))
			if err != nil {
				s.fail(w, r, v, http.StatusNotFound, "error.notfound")
				return
			}
			d.Source = string(src)
		}
	}
	if err := s.editorExtras(r.Context(), d); err != nil {
		s.internal(w, r, v, err)
		return
	}
	s.render(w, r, http.StatusOK, "editor", v)
}

// editorPost validates, previews or saves the posted source
// (action=validate|preview|save).
func (s *server) editorPost(w http.ResponseWriter, r *http.Request, v *view) {
	d := &editorData{Enabled: s.cfg.PlaybooksDir != "", New: r.PostForm.Get("new") != "",
		File: strings.TrimSpace(r.PostForm.Get("file")), Source: strings.ReplaceAll(r.PostForm.Get("source"), "\r\n", "\n")}
	v.Title, v.Data = "editor.title", d
	if !d.Enabled {
		s.render(w, r, http.StatusOK, "editor", v)
		return
	}
	d.Examples = s.playbookFiles()
	status := http.StatusOK
	pb, errs := s.check(d, v.Lang)
	if len(errs) > 0 {
		d.Errors, status = errs, http.StatusUnprocessableEntity
	} else {
		switch r.PostForm.Get("action") {
		case "preview":
			ctx, cancel := context.WithTimeout(r.Context(), previewBudget)
			p, err := s.engine.PreviewPlaybook(ctx, pb, engine.PreviewRequest{At: s.cfg.Now(), Sample: 10})
			cancel()
			if err != nil {
				s.internal(w, r, v, err)
				return
			}
			d.Preview = p
			for _, c := range p.Sample {
				var vals []nameValue
				for k, val := range c.Values {
					vals = append(vals, nameValue{k, formatValue(val)})
				}
				sort.Slice(vals, func(i, j int) bool { return vals[i].Name < vals[j].Name })
				d.SampleValues = append(d.SampleValues, vals)
			}
		case "test":
			if d.TestFile = s.testFileOf(d); d.TestFile == "" {
				s.fail(w, r, v, http.StatusNotFound, "error.notfound")
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), previewBudget)
			res, err := s.cfg.RunTest(ctx, filepath.Join(s.cfg.PlaybooksDir, d.TestFile), d.File, []byte(d.Source))
			cancel()
			d.Tests, d.TestsRun = res, true
			if err != nil {
				d.TestError = err.Error()
			}
			failed := 0
			for _, t := range res {
				if !t.Passed {
					failed++
				}
			}
			if failed > 0 || err != nil {
				status = http.StatusUnprocessableEntity
			}
		case "save":
			saveErrs, err := s.save(r.Context(), d.File, []byte(d.Source), pb, v.Key.Name, d.New, v.Lang)
			if err != nil {
				s.internal(w, r, v, err)
				return
			}
			if len(saveErrs) == 0 {
				http.Redirect(w, r, "/editor?file="+url.QueryEscape(d.File)+"&saved=1", http.StatusSeeOther)
				return
			}
			d.Errors, status = saveErrs, http.StatusUnprocessableEntity
		default:
			d.Notice = translate(v.Lang, "editor.valid", pb.Name, len(pb.Rules))
		}
	}
	if err := s.editorExtras(r.Context(), d); err != nil {
		s.internal(w, r, v, err)
		return
	}
	s.render(w, r, status, "editor", v)
}

// check loads the source as the file would be, and says what is wrong:
// the loader's errors at line:col, a bad file name, a name another file's
// playbook has, or a new file that exists.
func (s *server) check(d *editorData, lang string) (*rules.Playbook, []rules.Error) {
	if !fileName.MatchString(d.File) || strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(d.File, ".yaml"), ".yml"), "_test") {
		return nil, []rules.Error{{File: d.File, Line: 1, Col: 1, Msg: translate(lang, "editor.bad_name")}}
	}
	if len(d.Source) > maxSource {
		return nil, []rules.Error{{File: d.File, Line: 1, Col: 1, Msg: translate(lang, "editor.too_long", maxSource>>10)}}
	}
	pb, err := rules.Load(d.File, []byte(d.Source), s.engine.LoadOptions())
	var list rules.ErrorList
	if errors.As(err, &list) {
		return nil, list
	}
	if err != nil {
		return nil, []rules.Error{{File: d.File, Line: 1, Col: 1, Msg: err.Error()}}
	}
	for _, f := range s.engine.Files() {
		if f.Playbook == pb.Name && filepath.Base(f.File) != d.File {
			return nil, []rules.Error{{File: d.File, Line: 1, Col: 1, Msg: translate(lang, "editor.name_taken", pb.Name, filepath.Base(f.File))}}
		}
	}
	if d.New {
		if _, err := os.Stat(filepath.Join(s.cfg.PlaybooksDir, d.File)); err == nil {
			return nil, []rules.Error{{File: d.File, Line: 1, Col: 1, Msg: translate(lang, "editor.exists", d.File)}}
		}
	}
	return pb, nil
}

// save writes src as file in the playbooks directory, atomically, and
// reloads. Should the reload find the file wanting after all, the old
// content is put back (or the new file removed) and its errors returned.
// Saves are one at a time.
func (s *server) save(ctx context.Context, file string, src []byte, pb *rules.Playbook, by string, isNew bool, lang string) ([]rules.Error, error) {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	path := filepath.Join(s.cfg.PlaybooksDir, file)
	// Checked again under the lock: two new files of one name posted at
	// once must not both be written.
	if _, err := os.Stat(path); isNew && err == nil {
		return []rules.Error{{File: file, Line: 1, Col: 1, Msg: translate(lang, "editor.exists", file)}}, nil
	}
	old, readErr := os.ReadFile(path)
	if err := writeAtomic(path, src); err != nil {
		return nil, fmt.Errorf("save %s: %w", file, err)
	}
	errs, err := s.reloadErrors(ctx, file)
	if err != nil || len(errs) > 0 {
		if readErr == nil {
			_ = writeAtomic(path, old)
		} else {
			_ = os.Remove(path)
		}
		if _, rerr := s.reloadErrors(ctx, file); rerr != nil && err == nil {
			err = rerr
		}
		return errs, err
	}
	if err := s.engine.RecordPlaybookSave(ctx, domain.PlaybookSave{File: file, Hash: pb.Hash, By: by, At: s.cfg.Now()}); err != nil {
		return nil, err
	}
	return nil, nil
}

// reloadErrors reloads the playbooks and returns the errors of file.
func (s *server) reloadErrors(ctx context.Context, file string) ([]rules.Error, error) {
	if s.cfg.Reload == nil {
		return nil, errors.New("this server cannot reload its playbooks")
	}
	res, err := s.cfg.Reload(ctx)
	var list rules.ErrorList
	if err != nil && !errors.As(err, &list) {
		return nil, err
	}
	for _, f := range res.Files {
		if filepath.Base(f.File) == file && len(f.Errors) > 0 {
			return f.Public().Errors, nil
		}
	}
	return nil, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory, synced, then renamed over it: a reader sees the old content
// or the new, never half of one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".koi-edit-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename, nothing is there
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}

// editorExtras fills the gutter, the error lines and the saves.
func (s *server) editorExtras(ctx context.Context, d *editorData) error {
	n := strings.Count(d.Source, "\n") + 1
	d.Lines = make([]int, n)
	for i := range d.Lines {
		d.Lines[i] = i + 1
	}
	if d.TestFile == "" {
		d.TestFile = s.testFileOf(d)
	}
	d.ErrLines = map[int]bool{}
	for _, e := range d.Errors {
		d.ErrLines[e.Line] = true
	}
	if d.File != "" && !d.New {
		saves, err := s.engine.PlaybookSaves(ctx, d.File, savesShown)
		if err != nil {
			return err
		}
		d.Saves = saves
	}
	return nil
}

// playbookFiles lists the playbook files of the directory, for starting
// a new one from.
func (s *server) playbookFiles() []string {
	var out []string
	for _, f := range s.engine.Files() {
		if name := filepath.Base(f.File); fileName.MatchString(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// validateJSON answers the editor's script as it types: the errors of
// the posted source, as JSON.
func (s *server) validateJSON(w http.ResponseWriter, r *http.Request, v *view) {
	d := &editorData{New: r.PostForm.Get("new") != "", File: strings.TrimSpace(r.PostForm.Get("file")),
		Source: strings.ReplaceAll(r.PostForm.Get("source"), "\r\n", "\n")}
	type jsonErr struct {
		Line    int    `json:"line"`
		Col     int    `json:"col"`
		Message string `json:"message"`
	}
	out := struct {
		Valid  bool      `json:"valid"`
		Errors []jsonErr `json:"errors"`
	}{Errors: []jsonErr{}}
	_, errs := s.check(d, v.Lang)
	for _, e := range errs {
		out.Errors = append(out.Errors, jsonErr{e.Line, e.Col, e.Msg})
	}
	out.Valid = len(errs) == 0
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// testFileOf names the *_test.yaml beside the edited file, when there is
// one and the server can run tests.
func (s *server) testFileOf(d *editorData) string {
	if s.cfg.RunTest == nil || d.New || !fileName.MatchString(d.File) {
		return ""
	}
	ext := filepath.Ext(d.File)
	name := strings.TrimSuffix(d.File, ext) + "_test" + ext
	if _, err := os.Stat(filepath.Join(s.cfg.PlaybooksDir, name)); err != nil {
		return ""
	}
	return name
}

// readBounded reads a playbook file of at most maxSource bytes: the name
// may be a regular file's only, so a device or pipe put there is refused.
func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSource {
		return nil, fmt.Errorf("%s is not a playbook file of at most %d bytes", filepath.Base(path), maxSource)
	}
	return os.ReadFile(path)
}
