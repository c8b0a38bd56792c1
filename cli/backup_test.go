package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// koi backup copies the database, and the environment chooses the database
// when no --db flag does.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	mustKoi(t, "demo", "--customers", "200", "--db", db)
	out := filepath.Join(dir, "copy.db")
	if r := koi(t, []string{"KOI_DATABASE=" + db}, "backup", out); r.code != 0 || !strings.Contains(r.stdout, "backed up "+db) {
		t.Fatalf("koi backup: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if a, b := query(t, db, `SELECT count(*) FROM events`), query(t, out, `SELECT count(*) FROM events`); a != b || a == 0 {
		t.Fatalf("events: %d in the database, %d in the backup", a, b)
	}
	if r := koi(t, nil, "backup", out, "--db", db); r.code != exitFailed || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("backup over a file: %d %s", r.code, r.stderr)
	}
}
