package apikey_test

import (
	"testing"

	"github.com/koihq/koi/engine/apikey"
)

func key(t *testing.T, name string, role apikey.Role, secret string) apikey.Key {
	t.Helper()
	sum, err := apikey.ParseKeyHash(apikey.HashKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	return apikey.Key{Name: name, Role: role, SHA256: sum}
}

// Find returns the key of the secret, or nil; Allows admits a key's own
// role, and every role to an admin key.
func TestFindAndAllows(t *testing.T) {
	keys := []apikey.Key{key(t, "a", apikey.RoleAdmin, "s-a"), key(t, "m", apikey.RoleMarketer, "s-m"), key(t, "i", apikey.RoleIngest, "s-i")}
	for secret, want := range map[string]string{"s-a": "a", "s-m": "m", "s-i": "i"} {
		if k := apikey.Find(keys, secret); k == nil || k.Name != want {
			t.Errorf("Find(%q) = %v, want %s", secret, k, want)
		}
	}
	for _, bad := range []string{"", "s-", "s-a ", "S-A"} {
		if k := apikey.Find(keys, bad); k != nil {
			t.Errorf("Find(%q) = %s", bad, k.Name)
		}
	}
	m, i, a := &keys[1], &keys[2], &keys[0]
	if !m.Allows(apikey.RoleMarketer) || m.Allows(apikey.RoleIngest) || m.Allows() {
		t.Error("marketer key: allowed the wrong roles")
	}
	if i.Allows(apikey.RoleMarketer) || !i.Allows(apikey.RoleIngest, apikey.RoleMarketer) {
		t.Error("ingest key: allowed the wrong roles")
	}
	if !a.Allows() || !a.Allows(apikey.RoleIngest) {
		t.Error("admin key: refused")
	}
	var none *apikey.Key
	if none.Allows(apikey.RoleMarketer) {
		t.Error("no key allowed")
	}
	if _, err := apikey.ParseRole("owner"); err == nil {
		t.Error("unknown role parsed")
	}
	if _, err := apikey.ParseKeyHash("abc"); err == nil {
		t.Error("short hash parsed")
	}
}
