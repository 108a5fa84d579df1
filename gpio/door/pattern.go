package door

import (
	"time"

	"github.com/lintel-access/lintel/gpio/pins"
)

// Pattern is a reader indicator pattern.
type Pattern uint8

const (
	// PatternIdle is all indicators off.
	PatternIdle Pattern = iota
	// PatternGrant is green for the unlock time with one beep.
	PatternGrant
	// PatternDeny is red for a second with two short beeps.
	PatternDeny
	// PatternPINWait flashes green while the reader waits for a PIN.
	PatternPINWait
	// PatternLockout flashes red with a chirp while a reader is locked out.
	PatternLockout
)

var patternNames = [...]string{"idle", "grant", "deny", "pin_wait", "lockout"}

func (p Pattern) String() string {
	if int(p) < len(patternNames) {
		return patternNames[p]
	}
	return "unknown"
}

// Default durations of the patterns when Indicate is given zero.
const (
	DefaultDenyTime    = time.Second
	DefaultPINWaitTime = 15 * time.Second
	DefaultLockoutTime = 30 * time.Second
)

// step is one state of the indicators held for a while.
type step struct {
	green, red, beep bool
	d                time.Duration
}

// program is a pattern's steps: once through lead, then loop repeated (if
// any) until the pattern's time is up.
type program struct {
	lead, loop []step
}

var programs = map[Pattern]program{
	PatternGrant: {
		lead: []step{{green: true, beep: true, d: 200 * time.Millisecond}},
		loop: []step{{green: true, d: time.Hour}},
	},
	PatternDeny: {
		lead: []step{
			{red: true, beep: true, d: 150 * time.Millisecond},
			{red: true, d: 100 * time.Millisecond},
			{red: true, beep: true, d: 150 * time.Millisecond},
		},
		loop: []step{{red: true, d: time.Hour}},
	},
	PatternPINWait: {
		loop: []step{{green: true, d: 250 * time.Millisecond}, {d: 250 * time.Millisecond}},
	},
	PatternLockout: {
		loop: []step{{red: true, beep: true, d: 100 * time.Millisecond}, {red: true, d: 400 * time.Millisecond}, {d: 500 * time.Millisecond}},
	},
}

// Indicate plays pattern p for dur, replacing the current pattern, then
// goes dark. A zero dur means the pattern's default: the unlock time for a
// grant, DefaultDenyTime, DefaultPINWaitTime or DefaultLockoutTime.
// PatternIdle turns the indicators off at once.
func (d *Door) Indicate(p Pattern, dur time.Duration) {
	if dur <= 0 {
		switch p {
		case PatternGrant:
			dur = d.cfg.UnlockTime
		case PatternDeny:
			dur = DefaultDenyTime
		case PatternPINWait:
			dur = DefaultPINWaitTime
		default:
			dur = DefaultLockoutTime
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.patGen++
	stop(d.patTimer)
	d.patTimer = nil
	prog, ok := programs[p]
	if !ok {
		d.pattern = PatternIdle
		d.indicateLocked(step{})
		return
	}
	d.pattern = p
	d.playLocked(d.patGen, prog, 0, d.clk.Now().Add(dur))
}

// playLocked shows step i of prog and schedules the next, ending at end.
func (d *Door) playLocked(gen uint64, prog program, i int, end time.Time) {
	left := end.Sub(d.clk.Now())
	if left <= 0 {
		d.pattern = PatternIdle
		d.indicateLocked(step{})
		return
	}
	var s step
	switch {
	case i < len(prog.lead):
		s = prog.lead[i]
	case len(prog.loop) > 0:
		s = prog.loop[(i-len(prog.lead))%len(prog.loop)]
	default:
		d.pattern = PatternIdle
		d.indicateLocked(step{})
		return
	}
	d.indicateLocked(s)
	d.patTimer = d.clk.AfterFunc(min(s.d, left), func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if gen != d.patGen {
			return
		}
		d.playLocked(gen, prog, i+1, end)
	})
}

func (d *Door) indicateLocked(s step) {
	if err := d.driveIndicatorsLocked(s); err != nil {
		d.log.Error("indicator output failed", "err", err)
	}
}

// driveIndicatorsLocked drives the LED and beeper lines for s.
func (d *Door) driveIndicatorsLocked(s step) error {
	var first error
	for i, o := range []struct {
		on  bool
		out pins.Output
	}{{s.green, d.cfg.Green}, {s.red, d.cfg.Red}, {s.beep, d.cfg.Beeper}} {
		d.leds[i] = o.on
		if o.out == nil {
			continue
		}
		if err := o.out.Out(o.on == d.cfg.IndicatorsActiveHigh); err != nil {
			d.lastErr = err
			if first == nil {
				first = err
			}
		}
	}
	return first
}
