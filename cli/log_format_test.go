package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What the database reports by itself (a damaged pond image here; compaction
// and checkpoint failures alike) goes through the configured logger: with
// log.format json an operator's log pipeline gets JSON lines, not a text
// line from Go's default logger in between.
func TestDatabaseLogsInTheConfiguredFormat(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	mustKoi(t, "demo", "--customers", "50", "--db", db)
	if err := os.WriteFile(db+".pond", []byte("not a pond image"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := koi(t, []string{"KOI_LOG_FORMAT=json"}, "--db", db, "export", "--format", "csv")
	if r.code != 0 || !strings.Contains(r.stdout, "c0000001") {
		t.Fatalf("export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line %q is not JSON: %v", line, err)
		}
		found = found || (rec.Level == "WARN" && strings.HasPrefix(rec.Msg, "pond image damaged"))
	}
	if !found {
		t.Fatalf("no JSON warning of the damaged pond image in stderr:\n%s", r.stderr)
	}
}
