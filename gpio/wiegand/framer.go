package wiegand

import "time"

// Line is one of a reader's two data lines.
type Line uint8

const (
	// D0 carries the 0 bits.
	D0 Line = 0
	// D1 carries the 1 bits.
	D1 Line = 1
)

func (l Line) String() string {
	if l == D0 {
		return "D0"
	}
	return "D1"
}

// Edge is one level change on a data line.
type Edge struct {
	// Line is the line that changed.
	Line Line
	// Rising is true when the line went back high (end of a pulse); the
	// zero value, a falling edge, is the start of a pulse and so a bit.
	Rising bool
	// Time is when the edge happened (or was read).
	Time time.Time
}

// FramerConfig tunes end-of-frame detection. The zero value is the default
// for standard readers.
//
// A frame ends once the lines have been quiet for its gap: GapFactor times
// the longest interval between two of its bits so far, at least MinGap and
// at most MaxGap; MaxGap alone after its first bit, while no interval is
// known. See the package documentation for why the defaults are what they
// are.
type FramerConfig struct {
	// GapFactor is how many times the longest interval between two bits of
	// the frame the lines must stay quiet to end it. Zero means 1.5.
	GapFactor float64
	// MinGap is the shortest end-of-frame gap, whatever the bit rate. Zero
	// means 3 ms.
	MinGap time.Duration
	// MaxGap is the longest end-of-frame gap, used too after a frame's first
	// bit while no interval is known yet. Zero means 25 ms.
	MaxGap time.Duration
}

// Defaults for FramerConfig's zero fields.
const (
	DefaultGapFactor = 1.5
	DefaultMinGap    = 3 * time.Millisecond
	DefaultMaxGap    = 25 * time.Millisecond
)

func (c FramerConfig) withDefaults() FramerConfig {
	if c.GapFactor <= 0 {
		c.GapFactor = DefaultGapFactor
	}
	if c.MinGap <= 0 {
		c.MinGap = DefaultMinGap
	}
	if c.MaxGap <= 0 {
		c.MaxGap = DefaultMaxGap
	}
	if c.MaxGap < c.MinGap {
		c.MaxGap = c.MinGap
	}
	return c
}

// Framer cuts one reader's edges into frames and decodes them. It is not
// safe for concurrent use.
type Framer struct {
	cfg FramerConfig
	dec *Decoder

	buf     [MaxBits]byte
	n       int  // bits in the current frame, may exceed MaxBits
	bothLow bool // D0 and D1 were low together during the frame
	first   time.Time
	last    time.Time
	maxIv   time.Duration

	low      [2]bool
	lowSince [2]time.Time

	start      time.Time
	firstFrame bool
	counters   Counters
}

// NewFramer returns a framer that decodes with dec and considers itself
// started at start: a first frame whose first bit comes within MaxGap of
// start may have lost its beginning and is rejected as partial.
func NewFramer(cfg FramerConfig, dec *Decoder, start time.Time) *Framer {
	return &Framer{cfg: cfg.withDefaults(), dec: dec, start: start, firstFrame: true}
}

// SetLevels tells the framer the lines' levels read at t, before any edge
// (a reader may hold a line low when the framer starts).
func (f *Framer) SetLevels(d0Low, d1Low bool, t time.Time) {
	for i, low := range [2]bool{d0Low, d1Low} {
		if low && !f.low[i] {
			f.lowSince[i] = t
		}
		f.low[i] = low
	}
}

// Edge feeds one edge. If the edge arrives after the current frame's
// deadline, that frame is closed first and returned with ok true.
func (f *Framer) Edge(e Edge) (fr Frame, ok bool) {
	if f.n > 0 && !e.Time.Before(f.deadline()) {
		fr, ok = f.close()
	}
	li := e.Line & 1
	if e.Rising {
		f.low[li] = false
		return fr, ok
	}
	if f.low[li^1] {
		f.bothLow = true
	}
	if !f.low[li] {
		f.lowSince[li] = e.Time
	}
	f.low[li] = true
	if f.n == 0 {
		f.first = e.Time
	} else if iv := e.Time.Sub(f.last); iv > f.maxIv {
		f.maxIv = iv
	}
	if f.n < MaxBits {
		f.buf[f.n] = '0' + byte(li)
	}
	f.n++
	f.last = e.Time
	return fr, ok
}

// Deadline returns when the current frame ends if no further bit comes; ok
// is false when no frame is in progress.
func (f *Framer) Deadline() (t time.Time, ok bool) {
	if f.n == 0 {
		return time.Time{}, false
	}
	return f.deadline(), true
}

func (f *Framer) deadline() time.Time {
	gap := f.cfg.MaxGap
	if f.n >= 2 {
		gap = time.Duration(f.cfg.GapFactor * float64(f.maxIv))
		gap = min(max(gap, f.cfg.MinGap), f.cfg.MaxGap)
	}
	return f.last.Add(gap)
}

// Expire closes the current frame if now is at or past its deadline.
func (f *Framer) Expire(now time.Time) (Frame, bool) {
	if f.n == 0 || now.Before(f.deadline()) {
		return Frame{}, false
	}
	return f.close()
}

// close decodes and counts the current frame and starts a new one.
func (f *Framer) close() (Frame, bool) {
	var fr Frame
	switch {
	case f.n > MaxBits:
		fr = Frame{Bits: string(f.buf[:]), Len: f.n, Reject: CauseLength}
	default:
		fr = f.dec.Decode(string(f.buf[:f.n]))
	}
	if f.bothLow {
		fr = Frame{Bits: fr.Bits, Len: fr.Len, ParityOK: fr.ParityOK, Format: fr.Format, Reject: CauseBothLow}
	}
	if f.firstFrame {
		f.firstFrame = false
		if f.first.Sub(f.start) < f.cfg.MaxGap {
			fr = Frame{Bits: fr.Bits, Len: fr.Len, ParityOK: fr.ParityOK, Format: fr.Format, Reject: CausePartial}
		}
	}
	fr.Start, fr.End = f.first, f.last
	f.counters.Count(fr.Reject)
	f.n, f.bothLow, f.maxIv = 0, false, 0
	return fr, true
}

// Counters returns the counts of frames closed so far.
func (f *Framer) Counters() Counters { return f.counters }

// LowSince reports since when a line has been low, if it is low now.
func (f *Framer) LowSince(l Line) (time.Time, bool) {
	return f.lowSince[l&1], f.low[l&1]
}
