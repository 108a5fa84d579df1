package door

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gpio/clock/clocktest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recOutput records the levels driven on it, stamped with the fake clock.
type recOutput struct {
	clk  *clocktest.Fake
	mu   sync.Mutex
	high bool
	log  []level
	err  error
}

type level struct {
	At   time.Duration // since t0
	High bool
}

func (o *recOutput) Out(high bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.high = high
	o.log = append(o.log, level{o.clk.Now().Sub(t0), high})
	return nil
}

func (o *recOutput) Close() error { return nil }

func (o *recOutput) levels() []level {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]level(nil), o.log...)
}

// changes drops repeated levels, keeping the times levels changed.
func (o *recOutput) changes() []level {
	var out []level
	for _, l := range o.levels() {
		if len(out) == 0 || out[len(out)-1].High != l.High {
			out = append(out, l)
		}
	}
	return out
}

type rig struct {
	clk                       *clocktest.Fake
	relay, green, red, beeper *recOutput
	door                      *Door
	events                    []string
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	clk := clocktest.New(t0)
	r := &rig{clk: clk, relay: &recOutput{clk: clk}, green: &recOutput{clk: clk}, red: &recOutput{clk: clk}, beeper: &recOutput{clk: clk}}
	cfg := Config{
		Name: "front", Relay: r.relay, Green: r.green, Red: r.red, Beeper: r.beeper, Clock: clk,
		OnEvent: func(e Event) {
			if e.Door != "front" || e.Name == "" {
				t.Errorf("event %+v lacks door or name", e)
			}
			r.events = append(r.events, e.Time.Sub(t0).String()+" "+e.Type)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.door = d
	// The door starts closed with the button released.
	d.SetContact(false)
	d.SetREX(false)
	return r
}

// contact changes the raw contact and lets it settle.
func (r *rig) contact(open bool) {
	r.door.SetContact(open)
	r.clk.Advance(DefaultDebounce)
}

func (r *rig) rex() {
	r.door.SetREX(true)
	r.clk.Advance(DefaultDebounce)
	r.door.SetREX(false)
	r.clk.Advance(DefaultDebounce)
}

func TestNewDrivesLocked(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		failSafe  bool
		wantLock  bool // relay level when locked
	}{
		{"fail-secure active-high", false, false, false},
		{"fail-secure active-low", true, false, true},
		{"fail-safe active-high", false, true, true},
		{"fail-safe active-low", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{RelayActiveLow: tt.activeLow, FailSafe: tt.failSafe}
			if got := cfg.LockedRelayLevel(); got != tt.wantLock {
				t.Errorf("LockedRelayLevel = %v, want %v", got, tt.wantLock)
			}
			r := newRig(t, func(c *Config) { c.RelayActiveLow, c.FailSafe = tt.activeLow, tt.failSafe })
			want := []level{{0, tt.wantLock}}
			if diff := cmp.Diff(want, r.relay.levels()); diff != "" {
				t.Fatalf("relay at start mismatch (-want +got):\n%s", diff)
			}
			if err := r.door.Grant(); err != nil {
				t.Fatal(err)
			}
			r.clk.Advance(10 * time.Second)
			want = []level{{0, tt.wantLock}, {0, !tt.wantLock}, {5 * time.Second, tt.wantLock}}
			if diff := cmp.Diff(want, r.relay.changes()); diff != "" {
				t.Errorf("relay mismatch (-want +got):\n%s", diff)
			}
			// Indicators are active low by default: off is high.
			if got := r.green.levels()[0]; !got.High {
				t.Errorf("green at start = %+v, want high (off)", got)
			}
		})
	}
}

func TestGrantRelayAndRelockOnClose(t *testing.T) {
	r := newRig(t, nil)
	if err := r.door.Grant(); err != nil {
		t.Fatal(err)
	}
	if s := r.door.Status(); s.Locked || s.Pattern != "grant" || !s.Green || !s.Beeper {
		t.Fatalf("status after grant = %+v", s)
	}
	r.clk.Advance(time.Second)
	r.contact(true) // opened at 1.05 s
	r.clk.Advance(time.Second)
	r.contact(false) // closed at 2.1 s: relock at once
	want := []level{{0, false}, {0, true}, {2100 * time.Millisecond, false}}
	if diff := cmp.Diff(want, r.relay.changes()); diff != "" {
		t.Errorf("relay mismatch (-want +got):\n%s", diff)
	}
	wantEv := []string{"1.05s door.opened", "2.1s door.closed"}
	if diff := cmp.Diff(wantEv, r.events); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	r.clk.Advance(10 * time.Second)
	if n := len(r.relay.changes()); n != 3 {
		t.Errorf("the stale unlock timer drove the relay again: %+v", r.relay.changes())
	}
	if s := r.door.Status(); !s.Locked || s.Open || s.Forced {
		t.Errorf("final status = %+v", s)
	}
}

func TestForcedAndHeld(t *testing.T) {
	r := newRig(t, nil)
	r.contact(true)
	if s := r.door.Status(); !s.Forced || !s.Open {
		t.Fatalf("status after forced open = %+v", s)
	}
	r.clk.Advance(DefaultHeldOpen)
	if s := r.door.Status(); !s.Held || !s.HeldPreAlarm {
		t.Fatalf("status after 30 s open = %+v", s)
	}
	r.contact(false)
	want := []string{"50ms door.opened", "50ms door.forced", "20.05s door.held_prealarm", "30.05s door.held", "30.1s door.closed"}
	if diff := cmp.Diff(want, r.events); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	if s := r.door.Status(); s.Held || s.Forced || s.HeldPreAlarm {
		t.Errorf("alarms after close = %+v, want cleared", s)
	}
	if got := r.relay.changes(); len(got) != 1 {
		t.Errorf("relay moved during a forced open: %+v", got)
	}
}

func TestHeldCancelledByClose(t *testing.T) {
	r := newRig(t, nil)
	if err := r.door.Grant(); err != nil {
		t.Fatal(err)
	}
	r.contact(true)
	r.clk.Advance(15 * time.Second)
	r.contact(false)
	r.clk.Advance(time.Minute)
	want := []string{"50ms door.opened", "15.1s door.closed"}
	if diff := cmp.Diff(want, r.events); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestREX(t *testing.T) {
	t.Run("unlocks and shunts forced", func(t *testing.T) {
		r := newRig(t, nil)
		r.rex()
		r.contact(true)
		want := []string{"50ms door.rex", "150ms door.opened"}
		if diff := cmp.Diff(want, r.events); diff != "" {
			t.Errorf("events mismatch (-want +got):\n%s", diff)
		}
		if got := r.relay.changes(); len(got) != 2 || !got[1].High {
			t.Errorf("relay = %+v, want unlocked by REX", got)
		}
	})
	t.Run("no unlock still shunts", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.REXNoUnlock = true })
		r.rex()
		r.contact(true)
		if got := r.relay.changes(); len(got) != 1 {
			t.Errorf("relay = %+v, want it left locked", got)
		}
		if s := r.door.Status(); s.Forced {
			t.Errorf("forced within the REX window")
		}
	})
	t.Run("window ends", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.REXNoUnlock = true })
		r.rex()
		r.clk.Advance(DefaultUnlockTime)
		r.contact(true)
		if s := r.door.Status(); !s.Forced {
			t.Errorf("open after the REX window not forced")
		}
	})
}

func TestDebounce(t *testing.T) {
	r := newRig(t, nil)
	for range 5 { // contact chatter shorter than the debounce
		r.door.SetContact(true)
		r.clk.Advance(10 * time.Millisecond)
		r.door.SetContact(false)
		r.clk.Advance(10 * time.Millisecond)
	}
	r.clk.Advance(time.Second)
	if len(r.events) != 0 {
		t.Errorf("chatter produced events: %v", r.events)
	}
	r.door.SetContact(true)
	r.clk.Advance(DefaultDebounce - time.Millisecond)
	if len(r.events) != 0 {
		t.Errorf("open counted before the debounce: %v", r.events)
	}
	r.clk.Advance(time.Millisecond)
	if len(r.events) != 2 {
		t.Errorf("events after debounce = %v, want opened and forced", r.events)
	}
}

func TestUnlockNeverLatched(t *testing.T) {
	r := newRig(t, nil)
	if err := r.door.Unlock(time.Hour); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(MaxUnlock)
	if s := r.door.Status(); !s.Locked {
		t.Errorf("unlock of an hour still unlocked after %v", MaxUnlock)
	}
	// An earlier end never shortens a longer unlock.
	if err := r.door.Unlock(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.door.Unlock(time.Second); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(5 * time.Second)
	if s := r.door.Status(); s.Locked {
		t.Errorf("a shorter second unlock cut the first short")
	}
	r.clk.Advance(5 * time.Second)
	if s := r.door.Status(); !s.Locked {
		t.Errorf("still unlocked after 10 s")
	}
}

func TestSecureCancelsEverything(t *testing.T) {
	r := newRig(t, nil)
	if err := r.door.Grant(); err != nil {
		t.Fatal(err)
	}
	r.door.SetContact(true)
	r.clk.Advance(DefaultDebounce)
	if err := r.door.Secure(); err != nil {
		t.Fatal(err)
	}
	if s := r.door.Status(); !s.Locked || s.Pattern != "idle" || s.Green || s.Beeper {
		t.Fatalf("status after Secure = %+v", s)
	}
	r.clk.Advance(time.Minute)
	for _, e := range r.events {
		if strings.Contains(e, "held") {
			t.Errorf("held alarm after Secure: %v", r.events)
		}
	}
}

func TestPatterns(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name               string
		p                  Pattern
		dur                time.Duration
		green, red, beeper []level // changes, active low: on is false
	}{
		{"grant", PatternGrant, 0,
			[]level{{0, true}, {0, false}, {5 * time.Second, true}},
			[]level{{0, true}},
			[]level{{0, true}, {0, false}, {200 * ms, true}}},
		{"deny", PatternDeny, 0,
			[]level{{0, true}},
			[]level{{0, true}, {0, false}, {time.Second, true}},
			[]level{{0, true}, {0, false}, {150 * ms, true}, {250 * ms, false}, {400 * ms, true}}},
		{"pin wait flashes", PatternPINWait, time.Second,
			[]level{{0, true}, {0, false}, {250 * ms, true}, {500 * ms, false}, {750 * ms, true}},
			[]level{{0, true}},
			[]level{{0, true}}},
		{"lockout", PatternLockout, 1200 * ms,
			[]level{{0, true}},
			[]level{{0, true}, {0, false}, {500 * ms, true}, {1000 * ms, false}, {1200 * ms, true}},
			[]level{{0, true}, {0, false}, {100 * ms, true}, {1000 * ms, false}, {1100 * ms, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.door.Indicate(tt.p, tt.dur)
			r.clk.Advance(time.Minute)
			for _, c := range []struct {
				name string
				out  *recOutput
				want []level
			}{{"green", r.green, tt.green}, {"red", r.red, tt.red}, {"beeper", r.beeper, tt.beeper}} {
				if diff := cmp.Diff(c.want, c.out.changes()); diff != "" {
					t.Errorf("%s mismatch (-want +got):\n%s", c.name, diff)
				}
			}
			if s := r.door.Status(); s.Pattern != "idle" {
				t.Errorf("pattern after it ended = %q, want idle", s.Pattern)
			}
		})
	}
}

func TestPatternReplaced(t *testing.T) {
	r := newRig(t, nil)
	r.door.Indicate(PatternPINWait, 0)
	r.clk.Advance(time.Second)
	r.door.Indicate(PatternDeny, 0)
	if s := r.door.Status(); s.Pattern != "deny" || s.Green || !s.Red {
		t.Errorf("status after replacing = %+v", s)
	}
	r.clk.Advance(time.Minute)
	if s := r.door.Status(); s.Pattern != "idle" || s.Red {
		t.Errorf("status at the end = %+v", s)
	}
}

func TestActiveHighIndicators(t *testing.T) {
	r := newRig(t, func(c *Config) { c.IndicatorsActiveHigh = true })
	r.door.Indicate(PatternDeny, 0)
	if !r.red.high {
		t.Errorf("red line low during deny with active-high indicators")
	}
}

func TestConfigErrors(t *testing.T) {
	clk := clocktest.New(t0)
	relay := &recOutput{clk: clk}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Relay: relay}, "needs a name"},
		{"no relay", Config{Name: "x"}, "no relay output"},
		{"pre-alarm after held", Config{Name: "x", Relay: relay, HeldOpen: 10 * time.Second, HeldPreAlarm: 10 * time.Second}, "must come before"},
		{"unlock too long", Config{Name: "x", Relay: relay, UnlockTime: time.Hour}, "over the 5m0s limit"},
		{"relay fails", Config{Name: "x", Relay: &recOutput{clk: clk, err: errors.New("ioctl: EBUSY")}}, "door x: secure: ioctl: EBUSY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// chanInput is a pins.Input fed by a test.
type chanInput struct {
	mu      sync.Mutex
	high    bool
	changed chan struct{}
}

func (c *chanInput) set(high bool) {
	c.mu.Lock()
	c.high = high
	c.mu.Unlock()
	c.changed <- struct{}{}
}

func (c *chanInput) WaitEdge(timeout time.Duration) (bool, error) {
	select {
	case <-c.changed:
		return true, nil
	case <-time.After(timeout):
		return false, nil
	}
}

func (c *chanInput) Read() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.high, nil
}

func (c *chanInput) Close() error { return nil }

// TestRunWatchesInputsAndSecures runs the watchers on real goroutines with
// a fake clock: the contact's first level is taken as is, and cancelling
// Run secures the door.
func TestRunWatchesInputsAndSecures(t *testing.T) {
	clk := clocktest.New(t0)
	relay := &recOutput{clk: clk}
	contact := &chanInput{changed: make(chan struct{})}
	d, err := New(Config{Name: "front", Relay: relay, Contact: contact, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	contact.set(true) // blocks until the watcher waits for an edge
	if err := d.Unlock(0); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancellation", err)
	}
	if s := d.Status(); !s.Locked || !s.HasContact {
		t.Errorf("status after Run = %+v, want locked with a contact", s)
	}
}

// TestRunReportsAFailedSecureOnce: when the relay cannot be driven locked
// as Run ends, Run says so, naming the door once.
func TestRunReportsAFailedSecureOnce(t *testing.T) {
	clk := clocktest.New(t0)
	relay := &recOutput{clk: clk}
	d, err := New(Config{Name: "front", Relay: relay, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	relay.mu.Lock()
	relay.err = errors.New("input/output error")
	relay.mu.Unlock()
	cancel()
	if err, want := <-done, "door front: secure: input/output error"; err == nil || err.Error() != want {
		t.Errorf("Run = %v, want %q", err, want)
	}
}

// TestKeptUnlocked: a door a schedule stands open holds its strike
// released across openings and closings, raises no forced or held alarm,
// and relocks when the mode ends, for fail-secure and fail-safe locks.
func TestKeptUnlocked(t *testing.T) {
	for _, failSafe := range []bool{false, true} {
		name := "fail-secure"
		if failSafe {
			name = "fail-safe"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.FailSafe = failSafe })
			unlockedLevel := !failSafe // fail-secure: energise to unlock
			if err := r.door.KeepUnlocked(true); err != nil {
				t.Fatal(err)
			}
			if s := r.door.Status(); s.Locked || !s.KeptUnlocked || r.relay.high != unlockedLevel {
				t.Fatalf("kept unlocked: status %+v, relay high %v", s, r.relay.high)
			}
			r.contact(true)
			r.clk.Advance(time.Hour)
			r.contact(false) // closing does not relock a kept door
			r.contact(true)
			if s := r.door.Status(); s.Locked || s.Forced || s.Held {
				t.Fatalf("after opening and closing: %+v", s)
			}
			for _, e := range r.events {
				if strings.Contains(e, "forced") || strings.Contains(e, "held") {
					t.Fatalf("alarm while kept unlocked: %v", r.events)
				}
			}
			// The mode ends with the door open: locked, and the held-open
			// timer starts then.
			if err := r.door.KeepUnlocked(false); err != nil {
				t.Fatal(err)
			}
			if s := r.door.Status(); !s.Locked || r.relay.high == unlockedLevel {
				t.Fatalf("after the mode ended: %+v, relay high %v", s, r.relay.high)
			}
			r.clk.Advance(DefaultHeldOpen)
			if s := r.door.Status(); !s.Held {
				t.Errorf("door left open after the mode ended: no held-open alarm")
			}
		})
	}
}

// TestLockEndsEveryUnlock: a lockdown ends a grant's unlock and a kept one
// at once, and a timed unlock's end does not release a kept door early.
func TestLockEndsEveryUnlock(t *testing.T) {
	r := newRig(t, nil)
	if err := r.door.Grant(); err != nil {
		t.Fatal(err)
	}
	if err := r.door.KeepUnlocked(true); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(DefaultUnlockTime) // the grant's unlock ends
	if s := r.door.Status(); s.Locked {
		t.Fatalf("the end of a timed unlock relocked a kept door")
	}
	if err := r.door.Lock(); err != nil {
		t.Fatal(err)
	}
	if s := r.door.Status(); !s.Locked || s.KeptUnlocked || r.relay.high {
		t.Fatalf("after Lock: %+v, relay high %v", s, r.relay.high)
	}
}

// TestSecureEndsKeptUnlock: every exit path's Secure drops a kept unlock.
func TestSecureEndsKeptUnlock(t *testing.T) {
	r := newRig(t, func(c *Config) { c.FailSafe = true })
	if err := r.door.KeepUnlocked(true); err != nil {
		t.Fatal(err)
	}
	if err := r.door.Secure(); err != nil {
		t.Fatal(err)
	}
	if s := r.door.Status(); !s.Locked || s.KeptUnlocked || !r.relay.high {
		t.Fatalf("a fail-safe door after Secure: %+v, relay high %v (want energised, locked)", s, r.relay.high)
	}
}

// TestOnChangeReportsEveryStateChange: a grant's unlock and its relock, an
// opening and a closing, a held alarm and a mode holding the door open
// each call OnChange once; an LED pattern does not.
func TestOnChangeReportsEveryStateChange(t *testing.T) {
	var changes []string
	var r *rig
	r = newRig(t, func(c *Config) {
		c.OnChange = func() {
			s := r.door.Status()
			changes = append(changes, fmt.Sprintf("locked=%v open=%v held=%v kept=%v", s.Locked, s.Open, s.Held, s.KeptUnlocked))
		}
	})
	changes = nil // the rig's first contact and REX reports
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.door.Grant())
	r.clk.Advance(DefaultUnlockTime) // relocks
	r.door.Indicate(PatternDeny, 0)
	r.clk.Advance(time.Second)
	r.contact(true) // forced
	r.clk.Advance(DefaultHeldOpen)
	r.contact(false)
	must(r.door.KeepUnlocked(true))
	must(r.door.KeepUnlocked(false))
	want := []string{
		"locked=false open=false held=false kept=false",
		"locked=true open=false held=false kept=false",
		"locked=true open=true held=false kept=false",
		"locked=true open=true held=false kept=false", // the pre-alarm
		"locked=true open=true held=true kept=false",
		"locked=true open=false held=false kept=false",
		"locked=false open=false held=false kept=true",
		"locked=true open=false held=false kept=false",
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("OnChange calls (-want +got):\n%s", diff)
	}
}
