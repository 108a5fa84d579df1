//go:build race

package changeset

// raceEnabled: the race detector makes a 100k-user apply about ten times
// slower, so the crash test runs its gateways from a binary built without it.
const raceEnabled = true
