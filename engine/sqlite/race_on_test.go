//go:build race

package sqlite_test

// raceOn: the race detector slows SQLite's C-to-Go code tenfold; long
// randomised tests run fewer rounds under it.
const raceOn = true
