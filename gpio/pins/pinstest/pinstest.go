// Package pinstest helps test code that opens its lines through a
// pins.Provider: a Recorder sits in front of any Provider (a simulated
// board, usually) and keeps the list of what was opened, in order, so a test
// can check the wiring against the configuration it came from.
package pinstest

import (
	"sync"

	"github.com/lintel-access/lintel/gpio/pins"
)

// Open is one line, or pair of reader lines, a Provider was asked to open.
type Open struct {
	// What is "output", "input" or "reader".
	What string
	// Names are the line's name, or a reader's d0 and d1.
	Names []string
	// High is, for an output, the level it was driven to when opened.
	High bool
	// Pull is, for an input, the bias asked for.
	Pull pins.Pull
}

// Recorder is a pins.Provider that records every open and passes it on to
// P. It is safe for concurrent use, as P must be.
type Recorder struct {
	P pins.Provider

	mu    sync.Mutex // guards opens
	opens []Open
}

var _ pins.Provider = (*Recorder)(nil)

// Opens returns what was opened so far, in order.
func (r *Recorder) Opens() []Open {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Open(nil), r.opens...)
}

func (r *Recorder) record(o Open) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opens = append(r.opens, o)
}

// Output implements pins.Provider.
func (r *Recorder) Output(name string, high bool) (pins.Output, error) {
	r.record(Open{What: "output", Names: []string{name}, High: high})
	return r.P.Output(name, high)
}

// Input implements pins.Provider.
func (r *Recorder) Input(name string, pull pins.Pull) (pins.Input, error) {
	r.record(Open{What: "input", Names: []string{name}, Pull: pull})
	return r.P.Input(name, pull)
}

// Reader implements pins.Provider.
func (r *Recorder) Reader(d0, d1 string) (pins.EdgeSource, error) {
	r.record(Open{What: "reader", Names: []string{d0, d1}})
	return r.P.Reader(d0, d1)
}
