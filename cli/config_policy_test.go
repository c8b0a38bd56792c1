package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The contact policy, consent and approvals in koi.yaml; a mistake names
// the key and its line.
func TestPolicyConfig(t *testing.T) {
	load := func(body string) (*config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "koi.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return loadConfig(path)
	}
	c, err := load(`policy:
  cap: { messages: 3, per: 7d }
  channels:
    log: { messages: 1, per: 1d }
  quiet_hours: { from: "21:30", to: "09:00" }
approvals: { expire_after: 24h }
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.policy.Caps) != 2 || c.policy.Caps[1].Channel != "log" || len(c.policy.Quiet) != 1 || c.heldFor != 24*time.Hour {
		t.Errorf("policy %+v, held for %v", c.policy, c.heldFor)
	}
	if c.Consent.UnsubscribeEvent != "unsubscribe" {
		t.Errorf("unsubscribe event defaults to %q", c.Consent.UnsubscribeEvent)
	}
	for body, want := range map[string]string{
		"policy:\n  cap: { messages: 0, per: 7d }\n":                 "koi.yaml:2:20: policy.cap.messages: want the most messages per period, at least 1",
		"policy:\n  cap: { messages: 2 }\n":                          "policy.cap.per: is required",
		"policy:\n  channels:\n    sms: { messages: 1, per: 1d }\n":  "koi.yaml:3:10: policy.channels.sms: unknown channel \"sms\"",
		"policy:\n  quiet_hours: { from: \"9pm\", to: \"09:00\" }\n": "koi.yaml:2:24: policy.quiet_hours.from: want a time of day like 21:30",
		"approvals: { expire_after: soon }\n":                        "approvals.expire_after: want a positive duration",
	} {
		_, err := load(body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// A list of custom event types never shuts out the consent event: an
// opt-out the API refused because the list forgot it would be lost.
func TestAcceptedEventTypesKeepTheConsentEvent(t *testing.T) {
	load := func(body string) *config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "koi.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for body, want := range map[string][]string{
		"":                             nil,
		"events: { types: [visit] }\n": {"visit", "unsubscribe"},
		"events: { types: [visit, unsubscribe] }\n":                          {"visit", "unsubscribe"},
		"events: { types: [visit] }\nconsent: { unsubscribe_event: stop }\n": {"visit", "stop"},
	} {
		if got := load(body).acceptedEventTypes(); !slices.Equal(got, want) {
			t.Errorf("%q: accepted %v, want %v", body, got, want)
		}
	}
}
