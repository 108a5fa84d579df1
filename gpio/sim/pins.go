package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// ErrClosed is returned by a simulated pin after Close.
var ErrClosed = errors.New("sim: pin closed")

// queueLen is how many edges Lines buffers, like the kernel's event queue
// for a line request; a 64-bit frame is 128 edges.
const queueLen = 4096

// Lines is a simulated pair of Wiegand data lines, idle high. It implements
// pins.EdgeSource: every level change is queued as an edge stamped with the
// time it happened, in order across both lines.
type Lines struct {
	edges chan wiegand.Edge

	mu     sync.Mutex // guards low, closed, busy and dropped
	low    [2]bool
	closed bool
	busy   int // frames in transmission
	// dropped counts edges lost to a full queue.
	dropped uint64
}

var _ pins.EdgeSource = (*Lines)(nil)

// NewLines returns idle (high) lines.
func NewLines() *Lines { return &Lines{edges: make(chan wiegand.Edge, queueLen)} }

// Set drives a line low or releases it now, queuing an edge if the level
// changes.
func (l *Lines) Set(line wiegand.Line, low bool) { _ = l.setAt(line, low, time.Now()) }

// setAt changes a line's level with the edge stamped at: a simulated reader
// stamps each edge with the time it was scheduled for, as the kernel stamps
// an edge with when it happened rather than when it was read, so a stalled
// goroutine on a loaded machine does not move bits in time. It returns when
// the edge was queued by the wall clock (zero if the level did not change),
// which is later than at when the simulator's goroutine woke late.
func (l *Lines) setAt(line wiegand.Line, low bool, at time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := line & 1
	if l.closed || l.low[i] == low {
		return time.Time{}
	}
	l.low[i] = low
	queued := time.Now()
	select {
	case l.edges <- wiegand.Edge{Line: i, Rising: !low, Time: at}:
	default:
		l.dropped++
	}
	return queued
}

// transmitting marks a frame in progress (on true) or done. While a frame is
// in progress NextEdge does not time out: a real reader's bits keep coming
// whatever the machine's load, and a simulated one must not look as if it
// paused mid-frame because its goroutine was descheduled.
func (l *Lines) transmitting(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		l.busy++
	} else {
		l.busy--
	}
}

// Dropped returns how many edges were lost to a full queue.
func (l *Lines) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// NextEdge implements pins.EdgeSource. An edge already queued is returned
// first, whatever the timeout; a timeout of zero or less only polls. When
// the wait ends the queue is looked at once more, so ok is false only when
// no edge was queued then, never because the timer and an edge were ready
// together. While a frame is being sent it waits past timeout for the
// frame's next edge.
func (l *Lines) NextEdge(timeout time.Duration) (wiegand.Edge, bool, error) {
	if e, ok := l.queued(); ok {
		return e, true, nil
	}
	if l.isClosed() {
		return wiegand.Edge{}, false, ErrClosed
	}
	if timeout <= 0 && !l.isBusy() {
		return wiegand.Edge{}, false, nil
	}
	t := time.NewTimer(max(timeout, time.Microsecond))
	defer t.Stop()
	e, ok := l.await(t.C, func() { t.Reset(busyWait) })
	return e, ok, nil
}

// busyWait is how often NextEdge looks again while a frame is in progress.
const busyWait = 100 * time.Microsecond

// await waits for an edge until timer fires and then, while a frame is in
// progress, calls again (which rearms timer) and waits on. Once timer has
// fired it prefers a queued edge, so the select's random choice between
// two ready cases never decides the result.
func (l *Lines) await(timer <-chan time.Time, again func()) (wiegand.Edge, bool) {
	for {
		select {
		case e := <-l.edges:
			return e, true
		case <-timer:
			if e, ok := l.queued(); ok {
				return e, true
			}
			if !l.isBusy() {
				return wiegand.Edge{}, false
			}
			again()
		}
	}
}

// queued takes an edge already in the queue, without waiting.
func (l *Lines) queued() (wiegand.Edge, bool) {
	select {
	case e := <-l.edges:
		return e, true
	default:
		return wiegand.Edge{}, false
	}
}

func (l *Lines) isBusy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.busy > 0
}

// Low implements pins.EdgeSource.
func (l *Lines) Low() (bool, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.low[0], l.low[1], nil
}

// Close implements pins.EdgeSource; later Sets are ignored.
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

func (l *Lines) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Input is a simulated digital input. It implements pins.Input.
type Input struct {
	changed chan struct{}

	mu     sync.Mutex // guards high and closed
	high   bool
	closed bool
}

var _ pins.Input = (*Input)(nil)

// NewInput returns an input at the given level.
func NewInput(high bool) *Input {
	return &Input{high: high, changed: make(chan struct{}, 1)}
}

// Set changes the level; a change wakes WaitEdge.
func (in *Input) Set(high bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.high == high {
		return
	}
	in.high = high
	select {
	case in.changed <- struct{}{}:
	default:
	}
}

// WaitEdge implements pins.Input.
func (in *Input) WaitEdge(timeout time.Duration) (bool, error) {
	in.mu.Lock()
	closed := in.closed
	in.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	t := time.NewTimer(max(timeout, time.Microsecond))
	defer t.Stop()
	select {
	case <-in.changed:
		return true, nil
	case <-t.C:
		return false, nil
	}
}

// Read implements pins.Input.
func (in *Input) Read() (bool, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.high, nil
}

// Close implements pins.Input.
func (in *Input) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	return nil
}

// Change is one level an Output was driven to.
type Change struct {
	Time time.Time
	High bool
}

// maxHistory bounds an Output's recorded changes.
const maxHistory = 256

// Output is a simulated digital output. It implements pins.Output and
// remembers its recent changes.
type Output struct {
	name string

	mu      sync.Mutex // guards the fields below
	high    bool
	history []Change
	watch   []chan Change
	fault   error
}

var _ pins.Output = (*Output)(nil)

// NewOutput returns a low output named name ("front relay").
func NewOutput(name string) *Output { return &Output{name: name} }

// Name returns the output's name.
func (o *Output) Name() string { return o.name }

// Out implements pins.Output. Driving the level it already has is recorded
// too: a door re-asserting "locked" shows in the history.
func (o *Output) Out(high bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fault != nil {
		return fmt.Errorf("%s: %w", o.name, o.fault)
	}
	o.high = high
	c := Change{Time: time.Now(), High: high}
	o.history = append(o.history, c)
	if len(o.history) > maxHistory {
		o.history = o.history[len(o.history)-maxHistory:]
	}
	for _, w := range o.watch {
		select {
		case w <- c:
		default:
		}
	}
	return nil
}

// SetFault makes every later Out fail with err and leave the level as it
// is, as a driver whose chip has gone away would; nil heals it.
func (o *Output) SetFault(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = err
}

// High returns the level last driven.
func (o *Output) High() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.high
}

// History returns the recent changes, oldest first.
func (o *Output) History() []Change {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Change(nil), o.history...)
}

// Watch returns a channel that receives every later Out call; a slow
// reader misses changes beyond the channel's buffer of 64.
func (o *Output) Watch() <-chan Change {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := make(chan Change, 64)
	o.watch = append(o.watch, ch)
	return ch
}

// Close implements pins.Output.
func (o *Output) Close() error { return nil }
