package cli

import (
	"fmt"
	"strings"

	"github.com/koihq/koi/actions"
)

// guideConfig is one entry of koi.yaml's guides list.
type guideConfig struct {
	// ID is how customers and tasks name the guide.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Capacity is the most open tasks the guide carries before
	// assign_guide passes them over; 0 means no limit.
	Capacity int `yaml:"capacity"`
	// WeComUser is the guide's WeCom userid, when it is not their ID.
	WeComUser string `yaml:"wecom_user"`
}

func (c *config) validateGuides() error {
	seen := map[string]bool{}
	for i, g := range c.Guides {
		key := fmt.Sprintf("guides.%d", i)
		switch {
		case strings.TrimSpace(g.ID) == "" || strings.ContainsAny(g.ID, " \t/"):
			return c.keyError(key+".id", "each guide needs an id without spaces or slashes, got %q", g.ID)
		case seen[g.ID]:
			return c.keyError(key+".id", "guide %q is listed twice", g.ID)
		case g.Capacity < 0:
			return c.keyError(key+".capacity", "want the most open tasks, 0 for no limit, got %d", g.Capacity)
		}
		seen[g.ID] = true
	}
	return nil
}

// guides returns the configured guides; never nil, so that a playbook
// using assign_guide without any is refused at load.
func (c *config) guides() []actions.Guide {
	out := make([]actions.Guide, len(c.Guides))
	for i, g := range c.Guides {
		out[i] = actions.Guide{ID: g.ID, Name: g.Name, Capacity: g.Capacity, WeComUser: g.WeComUser}
	}
	return out
}
