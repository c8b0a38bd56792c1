package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// config is koi.yaml.
type config struct {
	Database  string    `yaml:"database"`
	Playbooks string    `yaml:"playbooks"`
	Timezone  string    `yaml:"timezone"`
	Tiers     []string  `yaml:"tiers"`
	RFM       rfmConfig `yaml:"rfm"`
	API       apiConfig `yaml:"api"`
	Log       logConfig `yaml:"log"`
	Events    struct {
		// Types lists the custom event types the API accepts besides the
		// built-in ones; empty accepts any type.
		Types []string `yaml:"types"`
	} `yaml:"events"`
	Triggers struct {
		// MaxAge: events older than this when handled trigger no rule.
		MaxAge string `yaml:"max_age"`
	} `yaml:"triggers"`
	// Channels are the message channels by name, each with its type's keys.
	Channels map[string]yaml.Node `yaml:"channels"`
	Outbox   outboxConfig         `yaml:"outbox"`
	// Guides are the sales guides (导购) assign_guide chooses among.
	Guides []guideConfig `yaml:"guides"`
	// Policy is the contact policy every playbook obeys.
	Policy  rules.PolicyYAML `yaml:"policy"`
	Consent consentConfig    `yaml:"consent"`
	// WeComCallback receives WeCom's contact events at /wecom/callback.
	WeComCallback wecomCallbackConfig `yaml:"wecom_callback"`
	// Approvals configures runs held by the blast guard.
	Approvals struct {
		// ExpireAfter is how long a held run waits for a decision (default 72h).
		ExpireAfter string `yaml:"expire_after"`
	} `yaml:"approvals"`
	policy        rules.Policy
	heldFor       time.Duration
	location      *time.Location
	triggerMaxAge time.Duration
	// path and root are the file and its YAML tree, for errors' lines;
	// fromEnv names the keys the environment set, and the variable.
	path    string
	root    *yaml.Node
	fromEnv map[string]string
	profile profile.ProfileConfig
}

type rfmConfig struct {
	Window     string              `yaml:"window"`
	Period     string              `yaml:"period"`
	Thresholds *profile.Thresholds `yaml:"thresholds"`
}

// defaultTiers are the tiers when the config names none, lowest first.
var defaultTiers = []string{"normal", "silver", "gold", "vip"}

// loadConfig reads the config file; a missing default koi.yaml is fine.
func loadConfig(path string) (*config, error) {
	c := &config{Playbooks: "examples/playbooks", Timezone: "Asia/Shanghai"}
	explicit := path != ""
	if !explicit {
		path = "koi.yaml"
	}
	src, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	default:
		var root yaml.Node
		if err := yaml.Unmarshal(src, &root); err != nil {
			return nil, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		// Strictly, with every problem at its line and column, and the key
		// a typo most likely meant, as playbooks are read.
		if errs := rules.DecodeNode(path, &root, c, "config"); len(errs) > 0 {
			return nil, errs
		}
		c.root = &root
	}
	c.path = path
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	if len(c.Tiers) == 0 {
		c.Tiers = defaultTiers
	}
	if c.location, err = time.LoadLocation(c.Timezone); err != nil {
		return nil, c.keyError("timezone", "unknown timezone %q", c.Timezone)
	}
	c.profile = profile.ProfileConfig{Location: c.location, Thresholds: c.RFM.Thresholds}
	if err := c.API.resolve(path); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		key string
		val string
		dst *time.Duration
	}{{"rfm.window", c.RFM.Window, &c.profile.RFMWindow}, {"rfm.period", c.RFM.Period, &c.profile.Period},
		{"triggers.max_age", c.Triggers.MaxAge, &c.triggerMaxAge},
		{"api.read_timeout", c.API.ReadTimeout, &c.API.readTimeout}, {"api.write_timeout", c.API.WriteTimeout, &c.API.writeTimeout},
		{"api.idle_timeout", c.API.IdleTimeout, &c.API.idleTimeout}} {
		if d.val == "" {
			continue
		}
		if *d.dst, err = actions.ParseDuration(d.val); err != nil || *d.dst <= 0 {
			return nil, c.keyError(d.key, "want a positive duration like 365d, got %q", d.val)
		}
	}
	for _, d := range []struct {
		dst *time.Duration
		def time.Duration
	}{{&c.API.readTimeout, 30 * time.Second}, {&c.API.writeTimeout, 2 * time.Minute}, {&c.API.idleTimeout, 2 * time.Minute}} {
		if *d.dst == 0 {
			*d.dst = d.def
		}
	}
	if err := c.validateLog(); err != nil {
		return nil, err
	}
	if c.Outbox.MaxAttempts < 0 {
		return nil, c.keyError("outbox.max_attempts", "must be positive")
	}
	if err := c.validateGuides(); err != nil {
		return nil, err
	}
	if err := c.compilePolicy(); err != nil {
		return nil, err
	}
	if err := c.validateWeComCallback(); err != nil {
		return nil, err
	}
	return c, nil
}

// consentConfig says how customers opt out besides the API.
type consentConfig struct {
	// UnsubscribeEvent is the event type that opts its customer out of the
	// channel in attrs.channel, or of every channel (default unsubscribe).
	UnsubscribeEvent string `yaml:"unsubscribe_event"`
}

// compilePolicy checks the contact policy and the approval settings.
func (c *config) compilePolicy() error {
	pol, errs := c.Policy.Compile("koi.yaml", c.channelNames())
	if len(errs) > 0 {
		return c.keyError("policy."+errs[0].Field, "%s", errs[0].Msg)
	}
	c.policy = pol
	if c.Consent.UnsubscribeEvent == "" {
		c.Consent.UnsubscribeEvent = "unsubscribe"
	}
	c.heldFor = 72 * time.Hour
	if v := c.Approvals.ExpireAfter; v != "" {
		d, err := actions.ParseDuration(v)
		if err != nil || d <= 0 {
			return c.keyError("approvals.expire_after", "want a positive duration like 72h or 3d, got %q", v)
		}
		c.heldFor = d
	}
	return nil
}

// channelNames lists the configured channels, and log, which always exists.
func (c *config) channelNames() []string {
	names := []string{"log"}
	for n := range c.Channels {
		if n != "log" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// acceptedEventTypes are the custom event types the API accepts (none
// listed: any). The consent event is always among them: an opt-out must
// not be refused because the list forgot it.
func (c *config) acceptedEventTypes() []string {
	if len(c.Events.Types) == 0 || slices.Contains(c.Events.Types, c.Consent.UnsubscribeEvent) {
		return c.Events.Types
	}
	return append(slices.Clip(c.Events.Types), c.Consent.UnsubscribeEvent)
}
