//go:build !race

package changeset

// raceEnabled: see race_test.go.
const raceEnabled = false
