package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// PlaybookFile is what the engine knows of one playbook file: the version
// it runs, and whether the file's latest content loaded.
type PlaybookFile struct {
	File string `json:"file"`
	// Playbook names the playbook the engine runs from this file; empty
	// when the file never loaded.
	Playbook string `json:"playbook,omitempty"`
	// Hash is the content hash of the running version.
	Hash string `json:"hash,omitempty"`
	// LoadedAt is when the running version was loaded.
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Errors are the problems of the file's latest content. When there are
	// any, the previous version (if there is one) keeps running.
	Errors []rules.Error `json:"errors,omitempty"`
}

// OK reports whether the file's latest content is what runs.
func (f PlaybookFile) OK() bool { return len(f.Errors) == 0 }

// Public is the file as callers outside the server see it (the API,
// /metrics): named by its base name, which is unique in the playbooks
// directory, not by where the directory is on the server.
func (f PlaybookFile) Public() PlaybookFile {
	dir := filepath.Dir(f.File) + string(filepath.Separator)
	f.File = filepath.Base(f.File)
	if len(f.Errors) > 0 {
		errs := slices.Clone(f.Errors)
		for i := range errs {
			errs[i].File = filepath.Base(errs[i].File)
			// Messages name other files too ("already used by …", "open …").
			errs[i].Msg = strings.ReplaceAll(errs[i].Msg, dir, "")
		}
		f.Errors = errs
	}
	return f
}

// ReloadResult is the outcome of a reload.
type ReloadResult struct {
	Files []PlaybookFile
	// Added, Changed and Removed name the playbooks the reload started
	// running, replaced by a new version, and stopped running.
	Added, Changed, Removed []string
}

// Load loads the playbooks at paths (files and directories) as the engine's
// whole set; see Reload. The error lists every problem found.
func (e *Engine) Load(paths ...string) error {
	_, err := e.Reload(paths...)
	return err
}

// Reload loads the playbooks at paths as the engine's whole set:
//   - a file that loads starts running, or replaces its previous version;
//   - a file that fails to load keeps its previous version running, so a
//     typo saved in an editor never stops a live playbook, and its errors
//     are kept for Files;
//   - a playbook whose file is gone stops running.
//
// The error lists every problem of every file, with file:line:col.
func (e *Engine) Reload(paths ...string) (ReloadResult, error) {
	pbs, loadErr := rules.LoadPaths(paths, e.LoadOptions())
	var list rules.ErrorList
	if loadErr != nil && !errors.As(loadErr, &list) {
		return ReloadResult{}, loadErr
	}
	if len(list) > 0 {
		loadErr = list
	}
	byFile := map[string][]rules.Error{}
	for _, le := range list {
		byFile[le.File] = append(byFile[le.File], le)
	}
	now := time.Now()

	e.mu.Lock()
	defer e.mu.Unlock()
	prevFiles := e.files
	next := map[string]*rules.Playbook{}
	files := map[string]*PlaybookFile{}
	var res ReloadResult
	for _, pb := range pbs {
		next[pb.Name] = pb
		f := &PlaybookFile{File: pb.File, Playbook: pb.Name, Hash: pb.Hash, LoadedAt: now}
		if old, ok := e.playbooks[pb.Name]; ok && old.Hash == pb.Hash {
			// Unchanged: keep the running value, so nothing that holds it
			// (a schedule, a cache) sees a change.
			next[pb.Name] = old
			if pf := prevFiles[pb.File]; pf != nil && pf.Hash == pb.Hash {
				f.LoadedAt = pf.LoadedAt
			}
		}
		files[pb.File] = f
	}
	for file, errs := range byFile {
		f := &PlaybookFile{File: file, Errors: errs}
		// Keep whatever ran from this file, or from under this path when
		// the path itself (a directory) could not be read.
		for _, pf := range prevFiles {
			if pf.Playbook == "" || (pf.File != file && !strings.HasPrefix(pf.File, file+string(filepath.Separator))) {
				continue
			}
			old := e.playbooks[pf.Playbook]
			if old == nil || next[old.Name] != nil {
				continue
			}
			next[old.Name] = old
			if pf.File == file {
				f.Playbook, f.Hash, f.LoadedAt = pf.Playbook, pf.Hash, pf.LoadedAt
			} else if files[pf.File] == nil {
				files[pf.File] = &PlaybookFile{File: pf.File, Playbook: pf.Playbook, Hash: pf.Hash, LoadedAt: pf.LoadedAt, Errors: errs}
			}
		}
		files[file] = f
	}
	for name, pb := range next {
		old, ok := e.playbooks[name]
		switch {
		case !ok:
			res.Added = append(res.Added, name)
		case old != pb:
			res.Changed = append(res.Changed, name)
		}
	}
	for name := range e.playbooks {
		if next[name] == nil {
			res.Removed = append(res.Removed, name)
		}
	}
	sort.Strings(res.Added)
	sort.Strings(res.Changed)
	sort.Strings(res.Removed)
	e.playbooks, e.files = next, files
	e.onTypes = onTypesOf(next)
	res.Files = e.filesLocked()
	if e.cfg.Observer != nil {
		e.cfg.Observer.PlaybooksLoaded(res.Files)
	}
	return res, loadErr
}

// Files returns the state of every playbook file of the last load, by path.
func (e *Engine) Files() []PlaybookFile {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.filesLocked()
}

func (e *Engine) filesLocked() []PlaybookFile {
	out := make([]PlaybookFile, 0, len(e.files))
	for _, f := range e.files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Playbook returns the running playbook with this name.
func (e *Engine) Playbook(name string) (*rules.Playbook, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	pb, ok := e.playbooks[name]
	return pb, ok
}

// groupRules lists the rules of pb's benefit groups across every loaded
// playbook (and pb itself, which may not be loaded: a preview's).
func (e *Engine) groupRules(pb *rules.Playbook) evaluate.GroupRules {
	groups := pb.Groups()
	if len(groups) == 0 {
		return nil
	}
	out := evaluate.GroupRules{}
	add := func(p *rules.Playbook) {
		for _, r := range p.Rules {
			if slices.Contains(groups, r.Group) {
				ref := evaluate.RuleRef{Playbook: p.Name, Rule: r.ID}
				if !slices.Contains(out[r.Group], ref) {
					out[r.Group] = append(out[r.Group], ref)
				}
			}
		}
	}
	add(pb)
	for _, p := range e.Playbooks() {
		if p.Name != pb.Name {
			add(p)
		}
	}
	return out
}

// RecordPlaybookSave records that a playbook file was saved through koi.
func (e *Engine) RecordPlaybookSave(ctx context.Context, s domain.PlaybookSave) error {
	return e.store.RecordPlaybookSave(ctx, s)
}

// PlaybookSaves returns a playbook file's latest saves through koi, newest
// first.
func (e *Engine) PlaybookSaves(ctx context.Context, file string, limit int) ([]domain.PlaybookSave, error) {
	return e.store.PlaybookSaves(ctx, file, limit)
}
