package actions

import "time"

// Guide is a sales guide (导购) as the deployment configures them.
type Guide struct {
	ID   string
	Name string
	// Capacity is the most open follow-up tasks the guide carries before
	// assignment passes them over; 0 means no limit.
	Capacity int
	// WeComUser is the guide's WeCom userid: messages to their customers
	// go out from this account. Empty: the guide's ID is their userid.
	WeComUser string
}

// Sender returns the WeCom userid to send from on the guide's behalf.
func (g Guide) Sender() string {
	if g.WeComUser != "" {
		return g.WeComUser
	}
	return g.ID
}

// GuideLoad is a guide with their open tasks, as the fire's batch has
// left them so far.
type GuideLoad struct {
	Guide
	Open int
}

// Full reports whether the guide is at capacity.
func (g GuideLoad) Full() bool { return g.Capacity > 0 && g.Open >= g.Capacity }

// GuideRoster is the guides an assignment chooses among.
type GuideRoster struct {
	// Guides are the configured guides, in configuration order.
	Guides []GuideLoad
	// Last is the guide most recently given a task, "" if none: round
	// robin continues after them.
	Last string
}

// Guides assigns customers to sales guides.
type Guides interface {
	// GuideRoster returns the guides with their loads.
	GuideRoster() (GuideRoster, error)
	// CustomerGuide returns the customer's guide, "" when they have none.
	CustomerGuide(customerID string) (string, error)
	// AssignGuide makes guideID the customer's guide.
	AssignGuide(customerID, guideID string) error
}

// Task is a follow-up for a guide: call the customer, invite them in.
type Task struct {
	Guide      string
	CustomerID string
	Note       string
	DueAt      time.Time
}

// Tasks hands follow-up tasks to guides.
type Tasks interface {
	// CreateTask stores a task with the fire; the guide's tools read it
	// through the API. A re-run of the same fire creates nothing twice.
	CreateTask(t Task) error
}
