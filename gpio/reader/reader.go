package reader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// Event types and names a reader emits.
const (
	EventFault        = "reader.fault"
	EventFaultCleared = "reader.fault_cleared"
	NameFault         = "Reader Fault"
	NameFaultCleared  = "Reader Fault Cleared"
)

// Fault causes.
const (
	CauseD0StuckLow  = "d0_stuck_low"
	CauseD1StuckLow  = "d1_stuck_low"
	CauseRejectBurst = "reject_burst"
)

// Event is a reader supervision event.
type Event struct {
	Time   time.Time
	Reader string
	Type   string // EventFault or EventFaultCleared
	Name   string // NameFault or NameFaultCleared
	Cause  string // one of the Cause constants
	Detail string // human detail, e.g. "D0 held low for 612ms"
}

// Config describes one reader. Zero values of the tuning fields mean the
// documented defaults.
type Config struct {
	// Name identifies the reader in events and status ("front").
	Name string
	// Decoder selects the formats the reader sends.
	Decoder wiegand.DecoderConfig
	// Framer tunes end-of-frame detection.
	Framer wiegand.FramerConfig
	// StuckLow is how long a data line may stay low before it is a fault.
	// Zero means 500 ms (a 64-bit frame at 2 ms per bit lasts 128 ms).
	StuckLow time.Duration
	// RejectBurst rejected frames within RejectWindow are a fault. Zero
	// means 5.
	RejectBurst int
	// RejectWindow, zero means 10 s.
	RejectWindow time.Duration
	// OnEvent receives fault events on Run's goroutine. Nil drops them.
	OnEvent func(Event)
	// Logger logs faults and source errors; never a frame's bits. Nil
	// discards.
	Logger *slog.Logger
}

// Defaults for Config's zero fields.
const (
	DefaultStuckLow     = 500 * time.Millisecond
	DefaultRejectBurst  = 5
	DefaultRejectWindow = 10 * time.Second
)

// idleWait bounds every wait so Run notices cancellation and supervises.
const idleWait = 100 * time.Millisecond

// preciseWait is the end of a frame's wait that Run sleeps with the
// kernel's timer (sleepPrecisely) rather than the source's. Go's timers can
// wake an otherwise idle process up to a millisecond late, since its poller
// sleeps in whole milliseconds: a third of a standard reader's 3 ms
// end-of-frame gap, half a millisecond on average. Sleeping the last
// millisecond on the kernel's high-resolution timer takes that off every
// card.
const preciseWait = time.Millisecond

// Fault is one active fault.
type Fault struct {
	Cause  string    `json:"cause"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

// FrameInfo is the last frame as the status page shows it.
type FrameInfo struct {
	Time     time.Time `json:"time"`
	Bits     string    `json:"bits"`
	Length   int       `json:"length"`
	ParityOK bool      `json:"parity_ok"`
	Format   string    `json:"format"`
	Kind     string    `json:"kind"`
	Facility uint32    `json:"facility,omitempty"`
	Number   uint64    `json:"number,omitempty"`
	Reject   string    `json:"reject,omitempty"`
}

// Status is a snapshot of a reader.
type Status struct {
	Name      string           `json:"name"`
	Running   bool             `json:"running"`
	Formats   []string         `json:"formats"`
	Faults    []Fault          `json:"faults"`
	LastFrame *FrameInfo       `json:"last_frame,omitempty"`
	Counters  wiegand.Counters `json:"counters"`
	D0Low     bool             `json:"d0_low"`
	D1Low     bool             `json:"d1_low"`
}

// Reader runs one reader. Create it with New.
type Reader struct {
	cfg Config
	dec *wiegand.Decoder
	src pins.EdgeSource
	log *slog.Logger

	ready chan struct{} // closed once the start window has passed

	mu     sync.Mutex // guards status
	status Status
}

// New checks cfg and returns a reader reading src. The reader owns src and
// closes it when Run returns.
func New(cfg Config, src pins.EdgeSource) (*Reader, error) {
	if cfg.Name == "" {
		return nil, errors.New("reader: config needs a name")
	}
	if src == nil {
		return nil, fmt.Errorf("reader %s: no edge source", cfg.Name)
	}
	dec, err := wiegand.NewDecoder(cfg.Decoder)
	if err != nil {
		return nil, fmt.Errorf("reader %s: %w", cfg.Name, err)
	}
	if cfg.StuckLow <= 0 {
		cfg.StuckLow = DefaultStuckLow
	}
	if cfg.RejectBurst <= 0 {
		cfg.RejectBurst = DefaultRejectBurst
	}
	if cfg.RejectWindow <= 0 {
		cfg.RejectWindow = DefaultRejectWindow
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, dec: dec, src: src, log: log.With("reader", cfg.Name), ready: make(chan struct{})}
	r.status = Status{Name: cfg.Name, Formats: dec.Formats(), Faults: []Fault{}}
	return r, nil
}

// Name returns the reader's name.
func (r *Reader) Name() string { return r.cfg.Name }

// Decoder is the decoder of the reader's frames: the formats it reads.
func (r *Reader) Decoder() *wiegand.Decoder { return r.dec }

// Ready is closed once Run has read the lines for the framer's MaxGap: a
// frame whose first bit comes later is whole, never rejected as partial.
// The simulator's callers wait for it before sending.
func (r *Reader) Ready() <-chan struct{} { return r.ready }

// Status returns a snapshot; safe for concurrent use.
func (r *Reader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Faults = slices.Clone(s.Faults)
	s.Formats = slices.Clone(s.Formats)
	if s.LastFrame != nil {
		fi := *s.LastFrame
		s.LastFrame = &fi
	}
	return s
}

// Run reads the reader until ctx ends, calling onFrame with every accepted
// frame on Run's goroutine (keep it short: the next frame waits). It closes
// the edge source before returning, and returns nil when ctx ends or the
// source's error.
func (r *Reader) Run(ctx context.Context, onFrame func(wiegand.Frame)) error {
	defer r.src.Close()
	now := time.Now()
	c := newCore(r.cfg, r.dec, now)
	d0, d1, err := r.src.Low()
	if err != nil {
		return fmt.Errorf("reader %s: %w", r.cfg.Name, err)
	}
	c.framer.SetLevels(d0, d1, now)
	r.setRunning(true)
	defer r.setRunning(false)
	readyAt := now.Add(startWindow(r.cfg.Framer))
	for ctx.Err() == nil {
		wait := idleWait
		if !readyAt.IsZero() {
			if until := time.Until(readyAt); until <= 0 {
				close(r.ready)
				readyAt = time.Time{}
			} else {
				wait = min(wait, until)
			}
		}
		// When the frame's deadline is the wait, ask the source for all but
		// its last millisecond and sleep that precisely (see preciseWait);
		// once the deadline has passed, poll.
		dl, inFrame := c.framer.Deadline()
		early := false
		if until := time.Until(dl); inFrame && until <= wait {
			wait, early = until-preciseWait, until > 0
		}
		e, ok, err := r.src.NextEdge(wait)
		if err != nil {
			r.log.Error("reader lines failed", "err", err)
			return fmt.Errorf("reader %s: %w", r.cfg.Name, err)
		}
		if !ok && early {
			// An edge arriving meanwhile waits in the source's queue; the
			// next turn polls for it before the frame is expired.
			sleepPrecisely(time.Until(dl))
			continue
		}
		now := time.Now()
		if ok {
			c.edge(e)
		} else {
			// The source is quiet, and had nothing queued when it said so
			// (pins.EdgeSource): a frame whose deadline has passed is over.
			// Only here, never right after an edge, since edges may be read
			// later than they happened.
			c.expire(now)
		}
		if c.lineLowLong(now) {
			// Re-read the levels: a line that came back high without an
			// edge we saw must not stay faulted.
			if d0, d1, err := r.src.Low(); err == nil {
				c.framer.SetLevels(d0, d1, now)
			}
		}
		c.supervise(now)
		r.publish(c, onFrame)
	}
	return nil
}

// startWindow is the framer's MaxGap: a first frame starting sooner after
// Run began may have lost its first bits.
func startWindow(c wiegand.FramerConfig) time.Duration {
	return max(c.MaxGap, c.MinGap, wiegand.DefaultMaxGap)
}

func (r *Reader) setRunning(on bool) {
	r.mu.Lock()
	r.status.Running = on
	r.mu.Unlock()
}

// publish moves the core's output to the status, the callbacks and the log.
func (r *Reader) publish(c *core, onFrame func(wiegand.Frame)) {
	frames, events := c.frames, c.events
	c.frames, c.events = c.frames[:0], c.events[:0]
	if len(frames) > 0 || len(events) > 0 || c.levelsChanged() {
		r.mu.Lock()
		if n := len(frames); n > 0 {
			fi := frameInfo(frames[n-1])
			r.status.LastFrame = &fi
		}
		r.status.Counters = c.framer.Counters()
		r.status.Faults = c.activeFaults()
		_, r.status.D0Low = c.framer.LowSince(wiegand.D0)
		_, r.status.D1Low = c.framer.LowSince(wiegand.D1)
		r.mu.Unlock()
	}
	for _, ev := range events {
		ev.Reader = r.cfg.Name
		if ev.Type == EventFault {
			r.log.Warn("reader fault", "cause", ev.Cause, "detail", ev.Detail)
		} else {
			r.log.Info("reader fault cleared", "cause", ev.Cause)
		}
		if r.cfg.OnEvent != nil {
			r.cfg.OnEvent(ev)
		}
	}
	for _, f := range frames {
		if f.OK() && onFrame != nil {
			onFrame(f)
		}
	}
}

func frameInfo(f wiegand.Frame) FrameInfo {
	f = f.Redacted()
	return FrameInfo{
		Time: f.End, Bits: f.Bits, Length: f.Len, ParityOK: f.ParityOK, Format: f.Format,
		Kind: f.Kind.String(), Facility: f.Facility, Number: f.Number, Reject: string(f.Reject),
	}
}
