// Package evaluate decides what a playbook does to each customer of a
// snapshot, without writing anything: which rules match, which of those
// cooldown, once, a benefit group, consent or the contact policy suppress,
// who is in the holdout, which A/B variant each fire takes and when its
// messages are due. The engine writes what it decides; previews, explain
// and approvals read it. It is pure: the fire history it decides by
// (Marks) is handed in.
package evaluate
