package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The environment overrides koi.yaml; a bad value names its key.
func TestConfigEnvironmentOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koi.yaml")
	if err := os.WriteFile(path, []byte("database: file.db\nplaybooks: pb\napi:\n  listen: 127.0.0.1:9000\ntriggers:\n  max_age: 2d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KOI_DATABASE", "env.db")
	t.Setenv("KOI_LISTEN", "127.0.0.1:9100")
	t.Setenv("KOI_LOG_FORMAT", "json")
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "env.db" || c.API.Listen != "127.0.0.1:9100" || c.Playbooks != "pb" || c.Log.Format != "json" || c.triggerMaxAge != 48*time.Hour {
		t.Fatalf("config = %+v", c)
	}
	t.Setenv("KOI_LOG_LEVEL", "loud")
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("bad log level: %v", err)
	}
	t.Setenv("KOI_LOG_LEVEL", "debug")
	t.Setenv("KOI_TRIGGERS_MAX_AGE", "soon")
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "triggers.max_age") {
		t.Fatalf("bad max age: %v", err)
	}
}
