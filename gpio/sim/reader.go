package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

// Timing is how a simulated reader pulses. Zero fields mean the defaults of
// a standard reader.
type Timing struct {
	// PulseWidth is how long a line is held low per bit. Zero means 50 µs.
	PulseWidth time.Duration
	// Interval is the time from one bit's start to the next. Zero means
	// 2 ms.
	Interval time.Duration
	// Jitter, when positive, moves each bit by a random amount less than
	// Jitter either way, each bit on its own. It may be at most
	// MaxJitter(Interval); NewReader refuses more.
	Jitter time.Duration
	// KeyGap is the pause between two key bursts. Zero means 150 ms.
	KeyGap time.Duration
}

// Default timing.
const (
	DefaultPulseWidth = 50 * time.Microsecond
	DefaultInterval   = 2 * time.Millisecond
	DefaultKeyGap     = 150 * time.Millisecond
)

func (t Timing) withDefaults() Timing {
	if t.PulseWidth <= 0 {
		t.PulseWidth = DefaultPulseWidth
	}
	if t.Interval <= 0 {
		t.Interval = DefaultInterval
	}
	if t.PulseWidth >= t.Interval {
		t.PulseWidth = t.Interval / 2
	}
	t.Jitter = max(t.Jitter, 0)
	if t.KeyGap <= 0 {
		t.KeyGap = DefaultKeyGap
	}
	return t
}

// MaxJitter is the most Jitter a simulated reader of the given bit
// interval I takes, so that the framer's default rule (package wiegand: a
// frame ends 1.5 times its longest interval after its last bit, never
// sooner than 3 ms) never cuts a frame. Bits move independently, so two
// neighbouring intervals can be I−2J and then I+2J. Up to 2.5 ms a bit the
// 3 ms floor must cover I+2J: J ≤ (3 ms − I)/2, capped at a quarter
// interval (a standard 2 ms reader's bit may be 500 µs early or late).
// Beyond that only 1.5×(I−2J) ≥ I+2J holds it: J ≤ I/10. More jitter than
// this splits frames, which is a broken reader, not a harder test.
func MaxJitter(interval time.Duration) time.Duration {
	byFloor := (wiegand.DefaultMinGap - interval) / 2
	return max(interval/10, min(interval/4, byFloor))
}

// check reports a timing a simulated reader cannot keep; t has its
// defaults.
func (t Timing) check() error {
	if m := MaxJitter(t.Interval); t.Jitter > m {
		return fmt.Errorf("sim: timing: jitter %v is more than %v, the most a reader of %v a bit may have (see MaxJitter)", t.Jitter, m, t.Interval)
	}
	return nil
}

// ReaderConfig describes a simulated reader.
type ReaderConfig struct {
	Timing Timing
	// KeyFormat is how key presses are sent: "KEY4" (the zero value),
	// "KEY8", or "PIN26" for a keypad that buffers the digits up to '#'
	// and sends them as one 26-bit frame.
	KeyFormat string
	// Seed seeds jitter and noise; zero means a random seed.
	Seed uint64
}

// ReaderSim drives a simulated reader's data lines.
type ReaderSim struct {
	lines     *Lines
	timing    Timing
	keyFormat string

	send sync.Mutex // one transmission at a time

	mu  sync.Mutex // guards rng, lastBit and lastBitSent
	rng *rand.Rand
	// lastBit is when the last transmission's last bit was scheduled to
	// start.
	lastBit time.Time
	// lastBitSent is when that bit actually started: its falling edge
	// was queued on the lines.
	lastBitSent time.Time
}

// NewReader returns a simulated reader with idle lines.
func NewReader(cfg ReaderConfig) (*ReaderSim, error) {
	kf := cfg.KeyFormat
	if kf == "" {
		kf = "KEY4"
	}
	canon, err := wiegand.CanonicalFormat(kf)
	if err != nil || (canon != "KEY4" && canon != "KEY8" && canon != "PIN26") {
		return nil, fmt.Errorf("sim: key format %q: want KEY4, KEY8 or PIN26", cfg.KeyFormat)
	}
	timing := cfg.Timing.withDefaults()
	if err := timing.check(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &ReaderSim{
		lines:     NewLines(),
		timing:    timing,
		keyFormat: canon,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

// Lines returns the reader's data lines, the pins.EdgeSource a
// reader.Reader reads.
func (s *ReaderSim) Lines() *Lines { return s.lines }

// LastBit returns when the last bit sent so far was scheduled to start.
func (s *ReaderSim) LastBit() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBit
}

// LastBitSent returns when the last bit sent so far actually started: the
// wall-clock time its falling edge was queued on the lines, which is its
// scheduled start (LastBit) or later when the simulator's goroutine woke
// late on a loaded machine. A latency measured from it (plus the pulse
// width, for the end of the bit) counts only what came after the bit was
// there to be read. It is the falling edge, not the release, because the
// framer times the end of a frame from a bit's fall: the release's own
// lateness (a short sleep that a Go timer makes longer) delays nothing. It
// is zero until a bit has been sent, and is set before SendCard and the
// other senders return.
func (s *ReaderSim) LastBitSent() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBitSent
}

// SendCard pulses the frame of a card. It returns when the last pulse has
// ended, or early with ctx's error.
func (s *ReaderSim) SendCard(ctx context.Context, format string, facility uint32, number uint64) error {
	bits, err := wiegand.EncodeCard(format, facility, number)
	if err != nil {
		return fmt.Errorf("sim: send card: %w", err)
	}
	return s.sendFrames(ctx, []string{bits})
}

// SendKeys pulses key presses ('0'–'9', '*', '#') in the reader's key
// format: one burst per key, KeyGap apart, or for PIN26 one frame with the
// digits before '#' (a '#' alone or more than 5 digits sends the keypad
// error frame, as such keypads do).
func (s *ReaderSim) SendKeys(ctx context.Context, keys string) error {
	if s.keyFormat == "PIN26" {
		bits, err := pinBuffer(keys)
		if err != nil {
			return err
		}
		return s.sendFrames(ctx, []string{bits})
	}
	bursts, err := wiegand.EncodeKeys(s.keyFormat, keys)
	if err != nil {
		return fmt.Errorf("sim: send keys: %w", err)
	}
	return s.sendFrames(ctx, bursts)
}

// pinBuffer builds the PIN26 frame a buffering keypad sends for keys.
func pinBuffer(keys string) (string, error) {
	digits := keys
	if n := len(digits); n > 0 && digits[n-1] == '#' {
		digits = digits[:n-1]
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", fmt.Errorf("sim: send keys: key %d: a buffered keypad takes digits ended by #", i+1)
		}
		v = v*10 + uint64(digits[i]-'0')
	}
	if len(digits) == 0 || len(digits) > 5 || v >= wiegand.PINBufferError {
		v = wiegand.PINBufferError
	}
	return wiegand.EncodeCard("PIN26", 0, v)
}

// SendBits pulses raw bits ('0' and '1', up to 64).
func (s *ReaderSim) SendBits(ctx context.Context, bits string) error {
	b, err := wiegand.ParseBits(bits)
	if err != nil {
		return fmt.Errorf("sim: send bits: %w", err)
	}
	return s.sendFrames(ctx, []string{b})
}

// SendNoise pulses n glitches of random line and width (1–20 µs), spaced
// by random gaps of 1–30 ms, as electrical noise on a long cable does. It
// returns after the lines have then been quiet for wiegand.DefaultMaxGap,
// so whatever is sent next starts a frame of its own.
func (s *ReaderSim) SendNoise(ctx context.Context, n int) error {
	s.send.Lock()
	defer s.send.Unlock()
	defer func() { _ = sleepUntil(ctx, time.Now().Add(wiegand.DefaultMaxGap)) }()
	for range n {
		s.mu.Lock()
		line := wiegand.Line(s.rng.IntN(2))
		width := time.Duration(1+s.rng.IntN(20)) * time.Microsecond
		gap := time.Duration(1+s.rng.IntN(30)) * time.Millisecond
		s.mu.Unlock()
		if _, err := s.pulse(ctx, line, time.Now(), width, nil); err != nil {
			return err
		}
		if err := sleepUntil(ctx, time.Now().Add(gap)); err != nil {
			return err
		}
	}
	return nil
}

// HoldLow holds a data line low (a shorted cable) until release is called.
func (s *ReaderSim) HoldLow(line wiegand.Line) (release func()) {
	s.send.Lock()
	s.lines.Set(line, true)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.lines.Set(line, false)
			s.send.Unlock()
		})
	}
}

func (s *ReaderSim) sendFrames(ctx context.Context, frames []string) error {
	s.send.Lock()
	defer s.send.Unlock()
	for i, bits := range frames {
		if i > 0 {
			if err := sleepUntil(ctx, time.Now().Add(s.timing.KeyGap)); err != nil {
				return err
			}
		}
		if err := s.sendFrame(ctx, bits); err != nil {
			return err
		}
	}
	return nil
}

// sendFrame pulses one frame on an absolute schedule, so sleep overshoot
// on one bit does not accumulate; each edge is stamped with its scheduled
// time.
func (s *ReaderSim) sendFrame(ctx context.Context, bits string) error {
	s.lines.transmitting(true)
	sending := true
	done := func() {
		if sending {
			sending = false
			s.lines.transmitting(false)
		}
	}
	defer done()
	start := time.Now()
	for i := range len(bits) {
		at := start.Add(time.Duration(i)*s.timing.Interval + s.jitter())
		var afterFall func()
		last := i == len(bits)-1
		if last {
			s.mu.Lock()
			s.lastBit = at
			s.mu.Unlock()
			// The frame's bits are all out once the last one falls.
			afterFall = done
		}
		fell, err := s.pulse(ctx, wiegand.Line(bits[i]-'0'), at, s.timing.PulseWidth, afterFall)
		if last && !fell.IsZero() {
			s.mu.Lock()
			s.lastBitSent = fell
			s.mu.Unlock()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *ReaderSim) jitter() time.Duration {
	if s.timing.Jitter <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Strictly inside (-Jitter, +Jitter): at MaxJitter the worst pair of
	// intervals would land exactly on the framer's deadline.
	j := int64(s.timing.Jitter) - 1
	return time.Duration(s.rng.Int64N(2*j+1) - j)
}

// pulse holds line low from start for width, each edge sent no earlier
// than its time and stamped with it, calling afterFall (if not nil) once
// the line is low. The line is released even when ctx ends mid-pulse. It
// returns when the fall was queued (see Lines.setAt).
func (s *ReaderSim) pulse(ctx context.Context, line wiegand.Line, start time.Time, width time.Duration, afterFall func()) (time.Time, error) {
	if err := sleepUntil(ctx, start); err != nil {
		return time.Time{}, err
	}
	fell := s.lines.setAt(line, true, start)
	if afterFall != nil {
		afterFall()
	}
	err := sleepUntil(ctx, start.Add(width))
	end := start.Add(width)
	if err != nil {
		end = time.Now()
	}
	_ = s.lines.setAt(line, false, end)
	return fell, err
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
