package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// envOverrides are the settings the environment may override, by variable:
// an operator changes a container's database path or listen address
// without editing koi.yaml. The environment wins over the file; flags win
// over both.
func (c *config) envOverrides() map[string]*string {
	return map[string]*string{
		"KOI_DATABASE":         &c.Database,
		"KOI_PLAYBOOKS":        &c.Playbooks,
		"KOI_TIMEZONE":         &c.Timezone,
		"KOI_LISTEN":           &c.API.Listen,
		"KOI_LOG_LEVEL":        &c.Log.Level,
		"KOI_LOG_FORMAT":       &c.Log.Format,
		"KOI_RFM_WINDOW":       &c.RFM.Window,
		"KOI_RFM_PERIOD":       &c.RFM.Period,
		"KOI_TRIGGERS_MAX_AGE": &c.Triggers.MaxAge,
	}
}

// applyEnv applies the environment overrides that lookup finds.
func (c *config) applyEnv(lookup func(string) (string, bool)) error {
	for name, dst := range c.envOverrides() {
		if v, ok := lookup(name); ok {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("environment: %s is set but empty", name)
			}
			*dst = v
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

func (l *logConfig) validate(path string) error {
	var lv slog.Level
	if l.Level != "" {
		if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
			return fmt.Errorf("config %s: log.level: want debug, info, warn or error, got %q", path, l.Level)
		}
	}
	switch l.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("config %s: log.format: want text or json, got %q", path, l.Format)
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
