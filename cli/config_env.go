package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// envOverrides are the settings the environment may override: an
// operator changes a container's database path or listen address without
// editing koi.yaml. The environment wins over the file; flags win over both.
func (c *config) envOverrides() []envOverride {
	return []envOverride{
		{"KOI_DATABASE", "database", &c.Database},
		{"KOI_PLAYBOOKS", "playbooks", &c.Playbooks},
		{"KOI_TIMEZONE", "timezone", &c.Timezone},
		{"KOI_LISTEN", "api.listen", &c.API.Listen},
		{"KOI_LOG_LEVEL", "log.level", &c.Log.Level},
		{"KOI_LOG_FORMAT", "log.format", &c.Log.Format},
		{"KOI_RFM_WINDOW", "rfm.window", &c.RFM.Window},
		{"KOI_RFM_PERIOD", "rfm.period", &c.RFM.Period},
		{"KOI_TRIGGERS_MAX_AGE", "triggers.max_age", &c.Triggers.MaxAge},
	}
}

type envOverride struct {
	env, key string
	dst      *string
}

// applyEnv applies the environment overrides that lookup finds.
func (c *config) applyEnv(lookup func(string) (string, bool)) error {
	for _, o := range c.envOverrides() {
		if v, ok := lookup(o.env); ok {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("environment: %s (%s) is set but empty", o.env, o.key)
			}
			*o.dst = v
			if c.fromEnv == nil {
				c.fromEnv = map[string]string{}
			}
			c.fromEnv[o.key] = o.env
		}
	}
	return nil
}

// keyError is an error about a config key, saying where its value came
// from: the file and line, or the environment variable.
func (c *config) keyError(key, format string, args ...any) error {
	e := &configError{Path: c.path, Key: key, Msg: fmt.Sprintf(format, args...), Env: c.fromEnv[key]}
	if n := findKey(c.root, strings.Split(key, ".")); n != nil && e.Env == "" {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// configError is a problem with one key of koi.yaml, or with the
// environment variable that set it.
type configError struct {
	Path      string
	Line, Col int // 0 when the key is not in the file
	Key, Msg  string
	// Env names the environment variable that set the key, if one did.
	Env string
}

func (e *configError) Error() string {
	switch {
	case e.Env != "":
		return fmt.Sprintf("environment %s: %s: %s", e.Env, e.Key, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("config %s:%d:%d: %s: %s", e.Path, e.Line, e.Col, e.Key, e.Msg)
	}
	return fmt.Sprintf("config %s: %s: %s", e.Path, e.Key, e.Msg)
}

// configErrors are several problems, one a line.
type configErrors []*configError

func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// findKey returns the value node of a dotted key in a YAML document; a
// number indexes a list (guides.2.id).
func findKey(n *yaml.Node, path []string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if len(path) == 0 {
		return n
	}
	if n.Kind == yaml.SequenceNode {
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil
		}
		return findKey(n.Content[i], path[1:])
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == path[0] {
			return findKey(n.Content[i+1], path[1:])
		}
	}
	return nil
}

// logConfig is koi.yaml's log section.
type logConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

func (c *config) validateLog() error {
	l := &c.Log
	var lv slog.Level
	if l.Level != "" {
		if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
			return c.keyError("log.level", "want debug, info, warn or error, got %q", l.Level)
		}
	}
	switch l.Format {
	case "", "text", "json":
	default:
		return c.keyError("log.format", "want text or json, got %q", l.Format)
	}
	return nil
}

// logger returns the structured logger the config asks for, writing to w.
func (l *logConfig) logger(w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(l.Level)) // validated at load; empty is info
	opts := &slog.HandlerOptions{Level: lv}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
