package sim

import (
	"fmt"
	"sync"

	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// Board is simulated GPIO: a pins.Provider whose lines are simulated, with
// simulated readers and doors wired to them as on a site. Wire the devices
// first (WireReader, WireDoor), then give the Board to the code that opens
// the lines, which opens them as it would a real chip's. A line nothing is
// wired to opens idle: an input reads its pull's level, reader lines stay
// high. Names are checked with pins.CheckName and matched by pins.NameKey
// ("gpio17" is "GPIO17"), so a simulated site takes the names a real one
// takes; the Board has no chip layout, so "GPIO17" and "gpiochip0:17" are two
// lines here.
//
// As the kernel does, a Board refuses to open a line that is open already;
// unlike the kernel it keeps a line taken after Close, since a Board serves
// one run of the code that opened it. A Board is safe for concurrent use.
type Board struct {
	mu      sync.Mutex         // guards the maps
	wired   map[string]wire    // by line key: the device on the line
	open    map[string]bool    // by line key: opened through the Provider
	outputs map[string]*Output // by line key: the outputs opened
}

// wire is what a device connects to one line: a door's input, or one data
// line of a reader.
type wire struct {
	input  *Input
	reader *ReaderSim
	line   wiegand.Line
}

var _ pins.Provider = (*Board)(nil)

// NewBoard returns a board with nothing wired and no line open.
func NewBoard() *Board {
	return &Board{wired: map[string]wire{}, open: map[string]bool{}, outputs: map[string]*Output{}}
}

// WireReader connects a new simulated reader's data lines to d0 and d1.
func (b *Board) WireReader(d0, d1 string, cfg ReaderConfig) (*ReaderSim, error) {
	k0, k1, err := pairKeys(d0, d1)
	if err != nil {
		return nil, err
	}
	rs, err := NewReader(cfg)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.unwiredLocked(k0, k1); err != nil {
		return nil, err
	}
	b.wired[k0] = wire{reader: rs, line: wiegand.D0}
	b.wired[k1] = wire{reader: rs, line: wiegand.D1}
	return rs, nil
}

// WireDoor connects a new simulated door's contact and request-to-exit
// button to the lines named; an empty name leaves that input unwired (the
// DoorSim still has it, and nothing reads it).
func (b *Board) WireDoor(contact, rex string) (*DoorSim, error) {
	d := NewDoor()
	var keys []string
	for _, name := range []string{contact, rex} {
		if name == "" {
			keys = append(keys, "")
			continue
		}
		if err := pins.CheckName(name); err != nil {
			return nil, fmt.Errorf("sim: wire door: %w", err)
		}
		keys = append(keys, pins.NameKey(name))
	}
	if keys[0] != "" && keys[0] == keys[1] {
		return nil, fmt.Errorf("sim: wire door: contact and rex are the same line %q", contact)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.unwiredLocked(keys...); err != nil {
		return nil, err
	}
	for i, in := range []*Input{d.Contact, d.REX} {
		if keys[i] != "" {
			b.wired[keys[i]] = wire{input: in}
		}
	}
	return d, nil
}

func (b *Board) unwiredLocked(keys ...string) error {
	for _, k := range keys {
		if _, ok := b.wired[k]; ok && k != "" {
			return fmt.Errorf("sim: line %s is wired already", k)
		}
	}
	return nil
}

// takeLocked marks lines open, refusing a line that is open already.
func (b *Board) takeLocked(keys ...string) error {
	for _, k := range keys {
		if b.open[k] {
			return fmt.Errorf("sim: line %s is already open", k)
		}
	}
	for _, k := range keys {
		b.open[k] = true
	}
	return nil
}

// Output implements pins.Provider: a new simulated output driven to high.
func (b *Board) Output(name string, high bool) (pins.Output, error) {
	if err := pins.CheckName(name); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	k := pins.NameKey(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.wired[k]; ok {
		return nil, fmt.Errorf("sim: line %s is an input of a %s; it cannot be an output", name, w.device())
	}
	if err := b.takeLocked(k); err != nil {
		return nil, err
	}
	o := NewOutput(name)
	_ = o.Out(high) // a simulated output cannot fail
	b.outputs[k] = o
	return o, nil
}

// Input implements pins.Provider: the door input wired to the line, or an
// idle one at the level pull gives (high for PullUp, low otherwise).
func (b *Board) Input(name string, pull pins.Pull) (pins.Input, error) {
	if err := pins.CheckName(name); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	k := pins.NameKey(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	w, wired := b.wired[k]
	if wired && w.input == nil {
		return nil, fmt.Errorf("sim: line %s is a data line of a %s, not a door input", name, w.device())
	}
	if err := b.takeLocked(k); err != nil {
		return nil, err
	}
	if wired {
		return w.input, nil
	}
	return NewInput(pull == pins.PullUp), nil
}

// Reader implements pins.Provider: the lines of the reader wired to d0 and
// d1, or idle lines when no reader is.
func (b *Board) Reader(d0, d1 string) (pins.EdgeSource, error) {
	k0, k1, err := pairKeys(d0, d1)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w0, ok0 := b.wired[k0]
	w1, ok1 := b.wired[k1]
	switch {
	case !ok0 && !ok1:
	case w0.reader == nil || w0.reader != w1.reader || w0.line != wiegand.D0 || w1.line != wiegand.D1:
		return nil, fmt.Errorf("sim: %s and %s are not the d0 and d1 of one simulated reader", d0, d1)
	}
	if err := b.takeLocked(k0, k1); err != nil {
		return nil, err
	}
	if ok0 {
		return w0.reader.Lines(), nil
	}
	return NewLines(), nil
}

// OutputLine returns the output opened on the line named, so a test or the
// status page can see what was driven on it.
func (b *Board) OutputLine(name string) (*Output, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.outputs[pins.NameKey(name)]
	return o, ok
}

func (w wire) device() string {
	if w.reader != nil {
		return "simulated reader"
	}
	return "simulated door"
}

// pairKeys checks a reader's two line names and returns their keys.
func pairKeys(d0, d1 string) (string, string, error) {
	for _, n := range []string{d0, d1} {
		if err := pins.CheckName(n); err != nil {
			return "", "", fmt.Errorf("sim: %w", err)
		}
	}
	k0, k1 := pins.NameKey(d0), pins.NameKey(d1)
	if k0 == k1 {
		return "", "", fmt.Errorf("sim: d0 and d1 are the same line %q", d0)
	}
	return k0, k1, nil
}
