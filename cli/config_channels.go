package cli

import (
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/rules"
)

// outboxConfig is koi.yaml's outbox section.
type outboxConfig struct {
	// Concurrency is how many deliveries run at once.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts before a job is dead-lettered.
	MaxAttempts int    `yaml:"max_attempts"`
	Backoff     string `yaml:"backoff"`
	MaxBackoff  string `yaml:"max_backoff"`
	Timeout     string `yaml:"timeout"`
	Retention   string `yaml:"retention"`
}

// channelKeys are the keys every channel takes, whatever its type; the
// rest belong to the type.
var channelKeys = []string{"type", "rate"}

// channelSet is the configured channels, opened.
type channelSet struct {
	byName map[string]actions.Channel
	// rates are the deliveries per second by channel name.
	rates map[string]float64
	// client is the HTTP client the channels and workers share, so its
	// connections are kept alive across deliveries.
	client *http.Client
}

// openChannels builds, decodes and opens the configured channels. A channel
// named log, of type log, exists unless the config names one log.
func (c *config) openChannels(reg *actions.Registry, log *slog.Logger) (*channelSet, error) {
	set := &channelSet{byName: map[string]actions.Channel{}, rates: map[string]float64{}, client: actions.NewHTTPClient(c.Outbox.Concurrency)}
	oc := actions.OpenContext{Getenv: os.Getenv, Logger: log, HTTPClient: set.client, Guides: c.guides()}
	for name, node := range c.Channels {
		ch, rate, err := c.openChannel(reg, oc, name, node)
		if err != nil {
			return nil, err
		}
		if rate > 0 {
			set.rates[name] = rate
		}
		set.byName[name] = ch
	}
	if _, ok := set.byName["log"]; !ok {
		if ch, ok := reg.NewChannel("log"); ok {
			oc.Name = "log"
			if err := ch.Open(oc); err != nil {
				return nil, err
			}
			set.byName["log"] = ch
		}
	}
	return set, nil
}

// openChannel builds, decodes and opens one configured channel, and
// returns its rate (0 when it sets none).
func (c *config) openChannel(reg *actions.Registry, oc actions.OpenContext, name string, node yaml.Node) (actions.Channel, float64, error) {
	ch, rate, err := c.buildChannel(reg, name, node)
	if err != nil {
		return nil, 0, err
	}
	oc.Name = name
	if err := ch.Open(oc); err != nil {
		return nil, 0, &openError{err: c.channelError("channels."+name, err)}
	}
	return ch, rate, nil
}

// channelTraits are what playbooks are checked against and the contact
// policy obeys, from the configured channels: each channel's message
// shape (WeCom: 4000 bytes of text, 9 attachments, batched per guide), its
// limit per customer (WeCom's monthly mass messages) and the customer
// field it reaches customers by (WeCom: wecom_id), and the tags it shows
// in its own system (WeCom: corp tags).
type channelTraits struct {
	shapes    map[string]actions.MessageShape
	limits    map[string]actions.CustomerLimiter
	addresses map[string]string
	// tagSync maps, per channel that syncs tags, koi tags to its own.
	tagSync map[string]map[string]string
}

// channelTraits decodes the configured channels, without opening them (no
// secrets needed), for their traits. A channel that does not decode has
// none; koi serve and koi check report it.
func (c *config) channelTraits(reg *actions.Registry) channelTraits {
	tr := channelTraits{shapes: map[string]actions.MessageShape{}, limits: map[string]actions.CustomerLimiter{}, addresses: map[string]string{}}
	for name, node := range c.Channels {
		ch, _, err := c.buildChannel(reg, name, node)
		if err != nil {
			continue
		}
		if s, ok := ch.(actions.Shaper); ok {
			tr.shapes[name] = s.MessageShape()
		}
		if l, ok := ch.(actions.CustomerLimiter); ok {
			tr.limits[name] = l
		}
		if a, ok := ch.(actions.Addressed); ok {
			tr.addresses[name] = a.AddressField()
		}
		if ts, ok := ch.(actions.TagSyncer); ok && len(ts.TagMap()) > 0 && reg.HasWorker(actions.TagSyncKind) {
			if tr.tagSync == nil {
				tr.tagSync = map[string]map[string]string{}
			}
			tr.tagSync[name] = ts.TagMap()
		}
	}
	return tr
}

// policyWith returns the config's contact policy with the channels' own
// limits.
func (c *config) policyWith(limits map[string]actions.CustomerLimiter) rules.Policy {
	pol := c.policy
	if len(limits) > 0 {
		pol.Limits = limits
	}
	return pol
}

// buildChannel builds and decodes one configured channel, and returns its
// rate (0 when it sets none).
func (c *config) buildChannel(reg *actions.Registry, name string, node yaml.Node) (actions.Channel, float64, error) {
	key := "channels." + name
	if !actions.IsName(name) {
		return nil, 0, c.keyError(key, "channel names are snake_case, like wecom or crm_hook")
	}
	if node.Kind != yaml.MappingNode {
		return nil, 0, c.keyError(key, "want a mapping with a type, like {type: webhook, url: …}")
	}
	var typ string
	var rate float64
	rest := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range rules.MappingPairs(&node) {
		k, v := kv.Key, kv.Value
		switch k.Value {
		case "type":
			typ = v.Value
		case "rate":
			r, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || r <= 0 {
				return nil, 0, c.keyError(key+".rate", "want deliveries per second, a positive number, got %q", v.Value)
			}
			rate = r
		default:
			// A key of the channel's own overrides one a merge brought.
			if i := keyIndex(rest, k.Value); i >= 0 {
				rest.Content[i+1] = v
				continue
			}
			rest.Content = append(rest.Content, k, v)
		}
	}
	ch, ok := reg.NewChannel(typ)
	if !ok {
		return nil, 0, c.keyError(key+".type", "unknown channel type %q (known types: %s)", typ, strings.Join(reg.ChannelTypes(), ", "))
	}
	if err := c.decodeChannel(key, rest, ch); err != nil {
		return nil, 0, err
	}
	return ch, rate, nil
}

// openError is a channel that decoded but would not open: its settings
// are well formed, but something it needs now (a secret in the
// environment) is missing.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// channelProblems opens each configured channel as koi serve would and
// returns what stops one from opening (a secret_env that is unset, a bad
// URL), one message per channel, by name. koi check prints them as
// warnings: a playbook that messages there would fire, and its messages
// would wait in the outbox until the channel is fixed.
func (c *config) channelProblems(reg *actions.Registry) map[string]error {
	out := map[string]error{}
	oc := actions.OpenContext{Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), HTTPClient: actions.NewHTTPClient(0), Guides: c.guides()}
	for name, node := range c.Channels {
		if _, _, err := c.openChannel(reg, oc, name, node); err != nil {
			out[name] = err
		}
	}
	return out
}

// keyIndex returns the index of key's node in mapping n, or -1.
func keyIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// decodeChannel decodes a channel's own keys strictly: an unknown key is an
// error naming the keys the type has.
func (c *config) decodeChannel(key string, n *yaml.Node, ch actions.Channel) error {
	known := yamlKeys(reflect.TypeOf(ch).Elem())
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(known, k) {
			return c.keyError(key+"."+k, "unknown key (this channel type takes: %s)", strings.Join(append(slices.Clone(channelKeys), known...), ", "))
		}
	}
	if err := n.Decode(ch); err != nil {
		return c.keyError(key, "%v", err)
	}
	return nil
}

// yamlKeys lists a struct's yaml keys.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
	}
	return out
}

// channelError points a channel's validation errors at their keys.
func (c *config) channelError(key string, err error) error {
	errs, ok := err.(actions.Errors)
	if !ok {
		errs = actions.Errors{err}
	}
	var out configErrors
	for _, e := range errs {
		var ke error
		if fe, ok := e.(*actions.FieldError); ok {
			ke = c.keyError(key+"."+fe.Field, "%s", fe.Message)
		} else {
			ke = c.keyError(key, "%v", e)
		}
		out = append(out, ke.(*configError))
	}
	return out
}

// maxOutboxConcurrency bounds outbox.concurrency: each delivery in flight
// is a goroutine and a connection kept open to its channel.
const maxOutboxConcurrency = 1024

// dispatchOptions turns the outbox section into the dispatcher's options.
func (c *config) dispatchOptions(rates map[string]float64, log *slog.Logger) (dispatch.Options, error) {
	o := dispatch.Options{Concurrency: c.Outbox.Concurrency, Rates: rates, Logger: log}
	if c.Outbox.Concurrency < 0 || c.Outbox.Concurrency > maxOutboxConcurrency {
		return o, c.keyError("outbox.concurrency", "must be 1 to %d, got %d", maxOutboxConcurrency, c.Outbox.Concurrency)
	}
	for _, d := range []struct {
		key, val string
		dst      *time.Duration
	}{{"outbox.backoff", c.Outbox.Backoff, &o.Backoff}, {"outbox.max_backoff", c.Outbox.MaxBackoff, &o.MaxBackoff},
		{"outbox.timeout", c.Outbox.Timeout, &o.Timeout}, {"outbox.retention", c.Outbox.Retention, &o.Retention}} {
		if d.val == "" {
			continue
		}
		v, err := actions.ParseDuration(d.val)
		if err != nil || v <= 0 {
			return o, c.keyError(d.key, "want a positive duration like 10s, got %q", d.val)
		}
		*d.dst = v
	}
	return o, nil
}
