package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/koihq/koi/engine/apikey"
	"gopkg.in/yaml.v3"
)

// apiConfig is koi.yaml's api section:
//
//	api:
//	  listen: 127.0.0.1:8080
//	  keys:
//	    - { name: shop, role: ingest, sha256: 9f86d0…}   # koi key prints it
//	    - { name: ops, role: admin, env: KOI_ADMIN_KEY } # the secret in the environment
type apiConfig struct {
	Listen string         `yaml:"listen"`
	Keys   []apiKeyConfig `yaml:"keys"`
	// ReadTimeout bounds reading a request, body included (default 30s):
	// a client trickling a body cannot hold a connection for long.
	// WriteTimeout bounds handling and answering it (default 2m), and
	// IdleTimeout an idle keep-alive connection (default 2m).
	ReadTimeout  string `yaml:"read_timeout"`
	WriteTimeout string `yaml:"write_timeout"`
	IdleTimeout  string `yaml:"idle_timeout"`
	keys         []apikey.Key
	// timeouts are the three, parsed.
	readTimeout, writeTimeout, idleTimeout time.Duration
}

type apiKeyConfig struct {
	Name   string `yaml:"name"`
	Role   string `yaml:"role"`
	SHA256 string `yaml:"sha256"`
	Env    string `yaml:"env"`
	line   int
}

// UnmarshalYAML decodes a key strictly and remembers its line, so that a
// bad key is reported where it is.
func (k *apiKeyConfig) UnmarshalYAML(n *yaml.Node) error {
	// Node.Decode does not refuse unknown fields as the file's decoder
	// does; check them here.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch f := n.Content[i]; f.Value {
			case "name", "role", "sha256", "env":
			default:
				return fmt.Errorf("line %d: api.keys: unknown field %q (name, role, sha256, env)", f.Line, f.Value)
			}
		}
	}
	type plain apiKeyConfig
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*k = apiKeyConfig(p)
	k.line = n.Line
	return nil
}

// resolve checks the keys and turns them into the API's: a hash as
// written, or the hash of the secret in the named environment variable.
func (a *apiConfig) resolve(path string) error {
	if a.Listen == "" {
		a.Listen = "127.0.0.1:8080"
	}
	for i, k := range a.Keys {
		where := fmt.Sprintf("config %s:%d: api.keys[%d]", path, k.line, i)
		role, err := apikey.ParseRole(k.Role)
		if err != nil {
			return fmt.Errorf("%s.role: %v", where, err)
		}
		if k.Name == "" {
			return fmt.Errorf("%s.name: is required (it names the key in logs)", where)
		}
		hash := k.SHA256
		switch {
		case (k.SHA256 == "") == (k.Env == ""):
			return fmt.Errorf("%s: set exactly one of sha256 (the key's hash, from koi key) and env (a variable holding the key)", where)
		case k.Env != "":
			secret := os.Getenv(k.Env)
			if secret == "" {
				return fmt.Errorf("%s.env: the environment variable %s is not set", where, k.Env)
			}
			hash = apikey.HashKey(secret)
		}
		sum, err := apikey.ParseKeyHash(hash)
		if err != nil {
			return fmt.Errorf("%s.sha256: %v", where, err)
		}
		a.keys = append(a.keys, apikey.Key{Name: k.Name, Role: role, SHA256: sum})
	}
	return nil
}
