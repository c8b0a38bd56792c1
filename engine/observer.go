package engine

// Observer is told what the engine does, for metrics. Its methods are
// called synchronously and must be quick.
type Observer interface {
	// RunFinished is called when a run (not a dry run) is finished:
	// done, held or failed.
	RunFinished(r *Run)
	// EventsAdded is called after a batch of events is stored.
	EventsAdded(inserted, duplicates, rejected int)
	// CustomersMerged is called after a store of customers merged n
	// pairs of them (DESIGN §11).
	CustomersMerged(n int)
	// PlaybooksLoaded is called after every load with every file's state.
	PlaybooksLoaded(files []PlaybookFile)
}
