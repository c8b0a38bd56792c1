package sqlite_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A reload replaces what changed, drops what is gone, and keeps the
// previous version of a file that no longer loads, with its errors.
func TestReloadKeepsTheLastGoodVersion(t *testing.T) {
	f := newFixture(t)
	f.playbook("recall", recall)
	f.playbook("other", strings.Replace(recall, "name: recall", "name: other", 1))
	e := f.engine()
	before, _ := e.Playbook("recall")

	// Unchanged files keep the very same playbook value.
	res, err := e.Reload(f.dir)
	if err != nil || len(res.Added)+len(res.Changed)+len(res.Removed) != 0 {
		t.Fatalf("no-op reload: %+v %v", res, err)
	}
	if pb, _ := e.Playbook("recall"); pb != before {
		t.Fatal("an unchanged playbook was replaced")
	}

	// A broken edit: the old version keeps running, the error is kept.
	f.playbook("recall", strings.Replace(recall, "recency_days > 45", "recency_dayz > 45", 1))
	res, err = e.Reload(f.dir)
	if err == nil || !strings.Contains(err.Error(), "recall.yaml:6:") {
		t.Fatalf("broken reload error = %v", err)
	}
	if pb, ok := e.Playbook("recall"); !ok || pb != before {
		t.Fatal("the broken playbook's previous version stopped running")
	}
	file := filepath.Join(f.dir, "recall.yaml")
	var st *struct{}
	for _, pf := range e.Files() {
		if pf.File == file {
			st = &struct{}{}
			if pf.OK() || pf.Playbook != "recall" || pf.Hash != before.Hash || pf.Errors[0].Line != 6 {
				t.Fatalf("file state = %+v", pf)
			}
		}
	}
	if st == nil {
		t.Fatalf("no state for %s in %+v", file, e.Files())
	}

	// Fixed: the new version runs; a deleted file's playbook stops.
	f.playbook("recall", strings.Replace(recall, "recency_days > 45", "recency_days > 40", 1))
	if err := os.Remove(filepath.Join(f.dir, "other.yaml")); err != nil {
		t.Fatal(err)
	}
	res, err = e.Reload(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Changed, []string{"recall"}) || !reflect.DeepEqual(res.Removed, []string{"other"}) {
		t.Fatalf("reload = %+v", res)
	}
	if pb, _ := e.Playbook("recall"); pb == before || !strings.Contains(pb.Source, "recency_days > 40") {
		t.Fatal("the fixed playbook did not replace the old one")
	}
	if n := len(e.Playbooks()); n != 1 {
		t.Fatalf("%d playbooks running, want 1", n)
	}
}
