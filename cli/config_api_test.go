package cli

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/apikey"
)

// API keys in koi.yaml: a hash as written, or a secret from the
// environment; a bad key is reported with its line and field.
func TestConfigAPIKeys(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "koi.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("KOI_TEST_OPS_KEY", "ops-secret")
	c, err := loadConfig(write("api:\n  listen: 127.0.0.1:9000\n  keys:\n    - { name: shop, role: ingest, sha256: " +
		apikey.HashKey("shop-secret") + " }\n    - { name: ops, role: admin, env: KOI_TEST_OPS_KEY }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Listen != "127.0.0.1:9000" || len(c.API.keys) != 2 ||
		c.API.keys[1].Role != apikey.RoleAdmin || apikey.HashKey("ops-secret") != hexOf(c.API.keys[1].SHA256) {
		t.Fatalf("keys %+v", c.API)
	}
	for _, tc := range []struct{ body, want string }{
		{"api:\n  keys:\n    - { name: a, role: boss, sha256: x }\n", ":3: api.keys[0].role: unknown role"},
		{"api:\n  keys:\n    - { name: a, role: admin }\n", ":3: api.keys[0]: set exactly one of sha256"},
		{"api:\n  keys:\n    - { name: a, role: admin, sha256: abc }\n", ":3: api.keys[0].sha256: want 64 hex digits"},
		{"api:\n  keys:\n\n    - { name: a, role: admin, env: KOI_TEST_UNSET_KEY }\n", ":4: api.keys[0].env: the environment variable KOI_TEST_UNSET_KEY is not set"},
		{"api:\n  keys:\n    - { role: admin, env: KOI_TEST_OPS_KEY }\n", ":3: api.keys[0].name: is required"},
		{"api:\n  keys:\n    - { name: a, role: admin, env: KOI_TEST_OPS_KEY, colour: red }\n", "colour"},
	} {
		_, err := loadConfig(write(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.want)
		}
	}
}

func hexOf(b [32]byte) string { return hex.EncodeToString(b[:]) }
