package pins

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

// Pull is the bias of an input line.
type Pull uint8

const (
	// PullUp biases the line high; the zero value, right for Wiegand data
	// lines and for contacts and buttons that short to ground.
	PullUp Pull = iota
	// PullDown biases the line low.
	PullDown
	// PullNone leaves the line floating (external resistors).
	PullNone
)

func (p Pull) periph() gpio.Pull {
	switch p {
	case PullDown:
		return gpio.PullDown
	case PullNone:
		return gpio.Float
	default:
		return gpio.PullUp
	}
}

// Host is this machine's GPIO chips, opened through periph.io's gpioioctl
// driver (/dev/gpiochipN). It is the Provider of a real gateway; its
// methods are safe for concurrent use, and the kernel refuses a line that
// is already requested.
type Host struct {
	chips []*gpioioctl.GPIOChip
}

var _ Provider = (*Host)(nil)

// Open initialises periph.io's gpioioctl driver and lists the chips.
func Open() (*Host, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("pins: open gpio: %w", err)
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, errors.New("pins: open gpio: no /dev/gpiochip* devices")
	}
	return &Host{chips: gpioioctl.Chips}, nil
}

// Chips describes the chips for Resolve.
func (h *Host) Chips() []ChipLines {
	out := make([]ChipLines, len(h.chips))
	for i, c := range h.chips {
		cl := ChipLines{Name: c.Name(), Lines: make([]string, c.LineCount())}
		for _, l := range c.Lines() {
			if n := l.Number(); n >= 0 && n < len(cl.Lines) {
				cl.Lines[n] = l.Name()
			}
		}
		out[i] = cl
	}
	return out
}

// Reader requests a reader's D0 and D1 lines as one line set with both
// edges detected.
func (h *Host) Reader(d0, d1 string) (EdgeSource, error) {
	l0, l1, err := ResolvePair(h.Chips(), d0, d1)
	if err != nil {
		return nil, err
	}
	if err := requestable(l0, l1); err != nil {
		return nil, err
	}
	chip := h.chips[l0.Chip]
	ls, err := chip.LineSetFromConfig(&gpioioctl.LineSetConfig{
		Lines:            []string{l0.Name, l1.Name},
		DefaultDirection: gpioioctl.LineInput,
		DefaultEdge:      gpio.BothEdges,
		DefaultPull:      gpio.PullUp,
	})
	if err != nil {
		return nil, fmt.Errorf("pins: request reader lines %s, %s: %w", l0.Name, l1.Name, err)
	}
	return &lineSetSource{ls: ls, lines: lineMap{d0: l0.Offset, d1: l1.Offset}}, nil
}

// Input requests one input line with both edges detected.
func (h *Host) Input(name string, pull Pull) (Input, error) {
	ls, _, err := h.requestLine(name, "input", gpioioctl.LineSetConfig{
		DefaultDirection: gpioioctl.LineInput,
		DefaultEdge:      gpio.BothEdges,
		DefaultPull:      pull.periph(),
	})
	if err != nil {
		return nil, err
	}
	return &lineSetInput{ls: ls}, nil
}

// Output requests one output line and drives it to high at once. The kernel
// drives a newly requested output low until then, for microseconds, which no
// relay or LED reacts to.
func (h *Host) Output(name string, high bool) (Output, error) {
	ls, l, err := h.requestLine(name, "output", gpioioctl.LineSetConfig{DefaultDirection: gpioioctl.LineOutput})
	if err != nil {
		return nil, err
	}
	o := &lineSetOutput{ls: ls, name: l.Name}
	if err := o.Out(high); err != nil {
		ls.Close()
		return nil, err
	}
	return o, nil
}

// requestLine resolves a line by name and requests it alone with cfg;
// what ("input", "output") names the request in the kernel's error.
func (h *Host) requestLine(name, what string, cfg gpioioctl.LineSetConfig) (*gpioioctl.LineSet, Line, error) {
	l, err := Resolve(h.Chips(), name)
	if err != nil {
		return nil, l, err
	}
	if err := requestable(l); err != nil {
		return nil, l, err
	}
	cfg.Lines = []string{l.Name}
	ls, err := h.chips[l.Chip].LineSetFromConfig(&cfg)
	if err != nil {
		return nil, l, fmt.Errorf("pins: request %s %s: %w", what, l.Name, err)
	}
	return ls, l, nil
}

// lineMap maps the chip offsets of a reader's lines to D0 and D1.
type lineMap struct{ d0, d1 int }

// edge translates a kernel event (chip offset, edge) into a Wiegand edge.
func (m lineMap) edge(offset int, e gpio.Edge, at time.Time) (wiegand.Edge, bool) {
	var out wiegand.Edge
	switch offset {
	case m.d0:
		out.Line = wiegand.D0
	case m.d1:
		out.Line = wiegand.D1
	default:
		return out, false
	}
	switch e {
	case gpio.FallingEdge:
	case gpio.RisingEdge:
		out.Rising = true
	default:
		return out, false
	}
	out.Time = at
	return out, true
}

// lowBits translates a line set read (bit 0 is D0, bit 1 is D1, set is
// high) into which lines are low.
func lowBits(v gpio.GPIOValue) (d0, d1 bool) { return v&1 == 0, v&2 == 0 }

// confirmWait is how long a wait that timed out is retried once, so a read
// deadline that passed while the goroutine was descheduled does not hide
// an event already queued (see the package doc, "Quiet waits").
const confirmWait = 250 * time.Microsecond

// edgeWaiter is the part of periph's gpioioctl.LineSet that waitEvent uses.
type edgeWaiter interface {
	WaitForEdge(timeout time.Duration) (number int, edge gpio.Edge, err error)
}

var _ edgeWaiter = (*gpioioctl.LineSet)(nil)

// waitEvent waits at most timeout for one line set event, then once more
// for confirmWait, and reports ok false when both timed out: the second
// read finds an event the kernel had queued. A timeout of zero or less is
// a poll, the confirming read alone. (periph's WaitForEdge never reads when
// its deadline has already passed, and waits forever on a zero timeout, so
// even a poll needs a deadline ahead.)
func waitEvent(ls edgeWaiter, timeout time.Duration) (offset int, e gpio.Edge, ok bool, err error) {
	waits := []time.Duration{timeout, confirmWait}
	if timeout <= 0 {
		waits = waits[1:]
	}
	for _, d := range waits {
		offset, e, err = ls.WaitForEdge(d)
		if err == nil {
			return offset, e, true, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, gpio.NoEdge, false, err
		}
	}
	return 0, gpio.NoEdge, false, nil
}

type lineSetSource struct {
	ls    *gpioioctl.LineSet
	lines lineMap
}

var _ EdgeSource = (*lineSetSource)(nil)

func (s *lineSetSource) NextEdge(timeout time.Duration) (wiegand.Edge, bool, error) {
	for {
		offset, e, ok, err := waitEvent(s.ls, timeout)
		if err != nil {
			return wiegand.Edge{}, false, fmt.Errorf("pins: wait for reader edge: %w", err)
		}
		if !ok {
			return wiegand.Edge{}, false, nil
		}
		if we, ok := s.lines.edge(offset, e, time.Now()); ok {
			return we, true, nil
		}
	}
}

func (s *lineSetSource) Low() (bool, bool, error) {
	v, err := s.ls.Read(0)
	if err != nil {
		return false, false, fmt.Errorf("pins: read reader lines: %w", err)
	}
	d0, d1 := lowBits(v)
	return d0, d1, nil
}

func (s *lineSetSource) Close() error { return s.ls.Close() }

type lineSetInput struct{ ls *gpioioctl.LineSet }

var _ Input = (*lineSetInput)(nil)

func (in *lineSetInput) WaitEdge(timeout time.Duration) (bool, error) {
	_, _, ok, err := waitEvent(in.ls, timeout)
	if err != nil {
		return false, fmt.Errorf("pins: wait for input edge: %w", err)
	}
	return ok, nil
}

func (in *lineSetInput) Read() (bool, error) {
	v, err := in.ls.Read(0)
	if err != nil {
		return false, fmt.Errorf("pins: read input: %w", err)
	}
	return v&1 == 1, nil
}

func (in *lineSetInput) Close() error { return in.ls.Close() }

// lineSetOutput drives one output line. It never reads the line back:
// reading an output through periph turns it into an input.
type lineSetOutput struct {
	name string
	mu   sync.Mutex // serialises writes
	ls   *gpioioctl.LineSet
}

var _ Output = (*lineSetOutput)(nil)

func (o *lineSetOutput) Out(high bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var bits gpio.GPIOValue
	if high {
		bits = 1
	}
	if err := o.ls.Out(bits, 1); err != nil {
		return fmt.Errorf("pins: set %s: %w", o.name, err)
	}
	return nil
}

func (o *lineSetOutput) Close() error { return o.ls.Close() }
