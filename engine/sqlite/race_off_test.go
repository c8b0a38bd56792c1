//go:build !race

package sqlite_test

// raceOn: see race_on_test.go.
const raceOn = false
