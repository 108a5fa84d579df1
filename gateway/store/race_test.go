//go:build race

package store_test

// raceEnabled shrinks the largest test tables under the race detector,
// which makes every memory access several times slower.
const raceEnabled = true
