package reader

import (
	"fmt"
	"time"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

// core is a reader's logic without I/O or a clock: edges and the time go in,
// frames and fault events come out. Run drives it; tests drive it directly.
type core struct {
	cfg    Config
	framer *wiegand.Framer

	rejects []time.Time      // times of recent rejected frames, oldest first
	faults  map[string]Fault // active faults by cause
	order   []string         // active fault causes in the order raised
	lows    [2]bool          // line levels at the last levelsChanged

	frames []wiegand.Frame // closed since the last publish
	events []Event         // raised since the last publish
}

func newCore(cfg Config, dec *wiegand.Decoder, start time.Time) *core {
	return &core{cfg: cfg, framer: wiegand.NewFramer(cfg.Framer, dec, start), faults: map[string]Fault{}}
}

// edge feeds one edge; a frame it closes is handled at its end time.
func (c *core) edge(e wiegand.Edge) {
	if f, ok := c.framer.Edge(e); ok {
		c.frame(f)
	}
	if e.Rising {
		c.clearStuck(e.Time)
	}
}

// tick closes a due frame and updates the faults as of now.
func (c *core) tick(now time.Time) {
	c.expire(now)
	c.supervise(now)
}

// expire closes the current frame if its deadline is at or before now.
func (c *core) expire(now time.Time) {
	if f, ok := c.framer.Expire(now); ok {
		c.frame(f)
	}
}

// supervise updates the faults as of now.
func (c *core) supervise(now time.Time) {
	for _, l := range []wiegand.Line{wiegand.D0, wiegand.D1} {
		cause := stuckCause(l)
		since, low := c.framer.LowSince(l)
		switch {
		case low && now.Sub(since) >= c.cfg.StuckLow:
			c.raise(cause, fmt.Sprintf("%s held low for %v", l, now.Sub(since).Round(time.Millisecond)), now)
		case !low:
			c.clear(cause, now)
		}
	}
	if n := len(c.rejects); n > 0 && now.Sub(c.rejects[n-1]) >= c.cfg.RejectWindow {
		c.rejects = c.rejects[:0]
		c.clear(CauseRejectBurst, now)
	}
}

// lineLowLong reports whether a line has been low for StuckLow or more.
func (c *core) lineLowLong(now time.Time) bool {
	for _, l := range []wiegand.Line{wiegand.D0, wiegand.D1} {
		if since, low := c.framer.LowSince(l); low && now.Sub(since) >= c.cfg.StuckLow {
			return true
		}
	}
	return false
}

// levelsChanged reports whether a line's level changed since the last call.
func (c *core) levelsChanged() bool {
	_, d0 := c.framer.LowSince(wiegand.D0)
	_, d1 := c.framer.LowSince(wiegand.D1)
	changed := [2]bool{d0, d1} != c.lows
	c.lows = [2]bool{d0, d1}
	return changed
}

func (c *core) clearStuck(now time.Time) {
	for _, l := range []wiegand.Line{wiegand.D0, wiegand.D1} {
		if _, low := c.framer.LowSince(l); !low {
			c.clear(stuckCause(l), now)
		}
	}
}

func stuckCause(l wiegand.Line) string {
	if l == wiegand.D0 {
		return CauseD0StuckLow
	}
	return CauseD1StuckLow
}

func (c *core) frame(f wiegand.Frame) {
	c.frames = append(c.frames, f)
	at := f.End
	if f.OK() {
		c.rejects = c.rejects[:0]
		c.clear(CauseRejectBurst, at)
		return
	}
	c.rejects = append(c.rejects, at)
	i := 0
	for i < len(c.rejects) && at.Sub(c.rejects[i]) >= c.cfg.RejectWindow {
		i++
	}
	c.rejects = c.rejects[i:]
	if len(c.rejects) >= c.cfg.RejectBurst {
		c.raise(CauseRejectBurst, fmt.Sprintf("%d rejected frames within %v, last: %s", len(c.rejects), c.cfg.RejectWindow, f.Reject), at)
	}
}

func (c *core) raise(cause, detail string, at time.Time) {
	if _, ok := c.faults[cause]; ok {
		return
	}
	c.faults[cause] = Fault{Cause: cause, Detail: detail, Since: at}
	c.order = append(c.order, cause)
	c.events = append(c.events, Event{Time: at, Type: EventFault, Name: NameFault, Cause: cause, Detail: detail})
}

func (c *core) clear(cause string, at time.Time) {
	if _, ok := c.faults[cause]; !ok {
		return
	}
	delete(c.faults, cause)
	for i, x := range c.order {
		if x == cause {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.events = append(c.events, Event{Time: at, Type: EventFaultCleared, Name: NameFaultCleared, Cause: cause})
}

func (c *core) activeFaults() []Fault {
	out := make([]Fault, 0, len(c.order))
	for _, cause := range c.order {
		out = append(out, c.faults[cause])
	}
	return out
}
