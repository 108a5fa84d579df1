package pins

import (
	"time"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

// EdgeSource delivers the edges of one reader's D0 and D1 lines in the order
// they happened. One goroutine calls NextEdge and Low; Close may be called
// from any goroutine once.
type EdgeSource interface {
	// NextEdge returns the next edge, waiting at most timeout for one; a
	// timeout of zero or less only polls. An edge already queued is
	// returned first, whatever the timeout, and once the wait has ended
	// the queue is looked at again: ok false means nothing was queued when
	// NextEdge gave up. So after a call that returned ok false, every edge
	// that happened before the call began has been returned, which is what
	// lets a caller end a frame on one quiet call past its deadline. The
	// wait may run past timeout (a scheduler's wake-up, a simulated frame
	// still being sent), never short of it unless an edge came.
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

// Provider opens the lines a site's readers and doors are wired to. Host
// opens them on this machine's GPIO chips; package sim's Board opens
// simulated ones. Code that wires readers and doors takes a Provider, so
// the wiring that runs on a box is the wiring the simulator tests.
//
// A Provider's methods are safe for concurrent use. Names are the ones
// CheckName accepts. A line is opened once: opening a line that is already
// open is an error, as the kernel refuses a busy line. What is opened keeps
// its own contract (see EdgeSource, Input, Output) and is released by its
// Close.
type Provider interface {
	// Output opens an output line and drives it high (true) or low at
	// once.
	Output(name string, high bool) (Output, error)
	// Input opens an input line with the given bias and both edges
	// detected.
	Input(name string, pull Pull) (Input, error)
	// Reader opens a reader's D0 and D1, two different lines, as one
	// edge source.
	Reader(d0, d1 string) (EdgeSource, error)
}
