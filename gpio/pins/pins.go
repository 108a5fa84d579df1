package pins

import (
	"time"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

// EdgeSource delivers the edges of one reader's D0 and D1 lines in the order
// they happened. One goroutine calls NextEdge and Low; Close may be called
// from any goroutine once.
type EdgeSource interface {
	// NextEdge waits at most timeout (which must be positive) for the next
	// edge. It returns ok false when none came in time.
	NextEdge(timeout time.Duration) (e wiegand.Edge, ok bool, err error)
	// Low reads the two lines now: true means held low.
	Low() (d0, d1 bool, err error)
	// Close releases the lines.
	Close() error
}

// Input is one digital input (door contact, request-to-exit button). One
// goroutine calls WaitEdge and Read.
type Input interface {
	// WaitEdge waits at most timeout (positive) for a change of level; ok
	// is false when none came.
	WaitEdge(timeout time.Duration) (ok bool, err error)
	// Read returns the current level, true for high.
	Read() (high bool, err error)
	Close() error
}

// Output is one digital output (strike relay, LED, beeper). Implementations
// keep the level they last set in software and are safe for concurrent use.
type Output interface {
	// Out drives the line high (true) or low.
	Out(high bool) error
	Close() error
}
