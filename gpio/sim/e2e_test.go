package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/reader"
	"github.com/lintel-access/lintel/gpio/sim"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// waitFor bounds every wait on the real-time simulator; it is generous
// because a loaded CI machine may stall goroutines, and no test asserts a
// duration.
const waitFor = 10 * time.Second

type readerRig struct {
	sim    *sim.ReaderSim
	reader *reader.Reader
	frames chan wiegand.Frame
	events chan reader.Event
}

// startReader runs a reader on a simulated reader's lines until the test
// ends, and waits until it is ready for whole frames.
func startReader(t *testing.T, rcfg reader.Config, scfg sim.ReaderConfig, onFrame func(wiegand.Frame)) *readerRig {
	t.Helper()
	s, err := sim.NewReader(scfg)
	if err != nil {
		t.Fatal(err)
	}
	rig := &readerRig{sim: s, frames: make(chan wiegand.Frame, 64), events: make(chan reader.Event, 64)}
	if rcfg.Name == "" {
		rcfg.Name = "front"
	}
	rcfg.OnEvent = func(e reader.Event) { rig.events <- e }
	r, err := reader.New(rcfg, s.Lines())
	if err != nil {
		t.Fatal(err)
	}
	rig.reader = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(f wiegand.Frame) {
			if onFrame != nil {
				onFrame(f)
			}
			rig.frames <- f
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reader Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case <-time.After(waitFor):
		t.Fatalf("reader not ready after %v", waitFor)
	}
	return rig
}

func (r *readerRig) frame(t *testing.T) wiegand.Frame {
	t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-time.After(waitFor):
		t.Fatalf("no frame within %v; status %+v", waitFor, r.reader.Status())
		return wiegand.Frame{}
	}
}

func (r *readerRig) event(t *testing.T) reader.Event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(waitFor):
		t.Fatalf("no reader event within %v; status %+v", waitFor, r.reader.Status())
		return reader.Event{}
	}
}

type card struct {
	Format   string
	Facility uint32
	Number   uint64
}

func TestSimCardToFrame(t *testing.T) {
	tests := []struct {
		name   string
		timing sim.Timing
		dec    wiegand.DecoderConfig
		card   card
	}{
		{"H10301 standard timing", sim.Timing{}, wiegand.DecoderConfig{}, card{"H10301", 1, 100}},
		{"H10306", sim.Timing{}, wiegand.DecoderConfig{}, card{"H10306", 65535, 1}},
		{"C1k35 with jitter", sim.Timing{Jitter: 400 * time.Microsecond}, wiegand.DecoderConfig{}, card{"C1k35", 4095, 1048575}},
		{"C1k48 fast reader", sim.Timing{Interval: 500 * time.Microsecond, PulseWidth: 40 * time.Microsecond}, wiegand.DecoderConfig{}, card{"C1k48", 118, 1603}},
		{"H10302 chosen for 37 bits", sim.Timing{}, wiegand.DecoderConfig{Formats: []string{"H10302"}}, card{"H10302", 0, 12345678901}},
		{"P10001 slow reader", sim.Timing{Interval: 5 * time.Millisecond, PulseWidth: 100 * time.Microsecond}, wiegand.DecoderConfig{}, card{"P10001", 118, 1603}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := startReader(t, reader.Config{Decoder: tt.dec}, sim.ReaderConfig{Timing: tt.timing, Seed: 1}, nil)
			if err := rig.sim.SendCard(context.Background(), tt.card.Format, tt.card.Facility, tt.card.Number); err != nil {
				t.Fatal(err)
			}
			f := rig.frame(t)
			format, fac, num, ok := f.Card()
			if diff := cmp.Diff(tt.card, card{format, fac, num}); !ok || diff != "" {
				t.Errorf("frame %+v (ok %v) mismatch (-want +got):\n%s", f, ok, diff)
			}
			st := rig.reader.Status()
			if st.LastFrame == nil || st.LastFrame.Format != tt.card.Format || !st.LastFrame.ParityOK || st.Counters.Accepted != 1 {
				t.Errorf("status after the card = %+v (last frame %+v)", st, st.LastFrame)
			}
		})
	}
}

func TestSimKeypad(t *testing.T) {
	tests := []struct {
		name      string
		keyFormat string
		dec       wiegand.DecoderConfig
		keys      string
		wantKeys  string
		wantPIN   uint64
	}{
		{"4-bit bursts", "KEY4", wiegand.DecoderConfig{}, "1234#", "1234#", 0},
		{"8-bit bursts", "KEY8", wiegand.DecoderConfig{}, "90*#", "90*#", 0},
		{"buffered PIN", "PIN26", wiegand.DecoderConfig{PINBuffer: true}, "1234#", "", 1234},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := startReader(t, reader.Config{Decoder: tt.dec}, sim.ReaderConfig{KeyFormat: tt.keyFormat, Timing: sim.Timing{KeyGap: 20 * time.Millisecond}}, nil)
			if err := rig.sim.SendKeys(context.Background(), tt.keys); err != nil {
				t.Fatal(err)
			}
			if tt.wantKeys == "" {
				f := rig.frame(t)
				if f.Kind != wiegand.KindPINBuffer || f.Number != tt.wantPIN {
					t.Errorf("frame = %+v, want a PIN buffer", f)
				}
				return
			}
			var got []byte
			for range len(tt.wantKeys) {
				f := rig.frame(t)
				if f.Kind != wiegand.KindKey {
					t.Fatalf("frame %+v is not a key", f)
				}
				got = append(got, f.Key)
			}
			if string(got) != tt.wantKeys {
				t.Errorf("keys = %q, want %q", got, tt.wantKeys)
			}
			if lf := rig.reader.Status().LastFrame; lf == nil || lf.Bits == "" || slices.Contains([]byte(lf.Bits), '1') || slices.Contains([]byte(lf.Bits), '0') {
				t.Errorf("status shows a key's bits: %+v", lf)
			}
		})
	}
}

func TestSimNoiseAndRawBits(t *testing.T) {
	rig := startReader(t, reader.Config{RejectBurst: 100}, sim.ReaderConfig{Seed: 7}, nil)
	ctx := context.Background()
	if err := rig.sim.SendNoise(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := rig.sim.SendBits(ctx, "10111011000000110010000110"); err != nil {
		t.Fatal(err)
	}
	f := rig.frame(t)
	if _, fac, num, ok := f.Card(); !ok || fac != 118 || num != 1603 {
		t.Errorf("card after noise = %+v", f)
	}
	st := rig.reader.Status()
	if st.Counters.Rejected() == 0 || st.Counters.Accepted != 1 {
		t.Errorf("counters = %+v, want the noise rejected and one card", st.Counters)
	}
	// A 27-bit frame is counted, shown, and not delivered.
	if err := rig.sim.SendBits(ctx, "101110110000001100100001101"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for rig.reader.Status().LastFrame.Length != 27 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if lf := rig.reader.Status().LastFrame; lf.Length != 27 || lf.Reject != "length" {
		t.Errorf("last frame = %+v, want a 27-bit length reject", lf)
	}
	select {
	case f := <-rig.frames:
		t.Errorf("rejected frame delivered: %+v", f)
	default:
	}
}

func TestSimStuckLineFault(t *testing.T) {
	rig := startReader(t, reader.Config{StuckLow: 50 * time.Millisecond}, sim.ReaderConfig{}, nil)
	release := rig.sim.HoldLow(wiegand.D0)
	e := rig.event(t)
	if e.Type != reader.EventFault || e.Name != "Reader Fault" || e.Cause != reader.CauseD0StuckLow || e.Reader != "front" {
		t.Fatalf("event = %+v, want a D0 stuck fault", e)
	}
	if st := rig.reader.Status(); len(st.Faults) != 1 || !st.D0Low {
		t.Errorf("status during the fault = %+v", st)
	}
	release()
	e = rig.event(t)
	if e.Type != reader.EventFaultCleared || e.Cause != reader.CauseD0StuckLow {
		t.Fatalf("event = %+v, want the fault cleared", e)
	}
	// The reader still reads cards after the fault.
	if err := rig.sim.SendCard(context.Background(), "H10301", 1, 2); err != nil {
		t.Fatal(err)
	}
	if f := rig.frame(t); f.Number != 2 {
		t.Errorf("card after fault = %+v", f)
	}
}

// TestSimSwipeGrantDoor runs the whole chain a site has: a card swipe on a
// simulated reader is decoded, a grant pulses the simulated relay and lights
// the LED, the door opens and closes and relocks, and a later forced and
// held-open door raises its alarms.
func TestSimSwipeGrantDoor(t *testing.T) {
	relay, green := sim.NewOutput("front relay"), sim.NewOutput("front green")
	dsim := sim.NewDoor()
	doorEvents := make(chan door.Event, 64)
	d, err := door.New(door.Config{
		Name: "front", Relay: relay, Green: green, Contact: dsim.Contact, REX: dsim.REX,
		UnlockTime: 2 * time.Second, HeldOpen: 400 * time.Millisecond, HeldPreAlarm: 200 * time.Millisecond,
		OnEvent: func(e door.Event) { doorEvents <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	if relay.High() {
		t.Fatalf("relay energised at start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	doorDone := make(chan error, 1)
	go func() { doorDone <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-doorDone; err != nil {
			t.Errorf("door Run: %v", err)
		}
		if relay.High() {
			t.Errorf("relay energised after shutdown")
		}
	}()
	relayChanges, greenChanges := relay.Watch(), green.Watch()
	rig := startReader(t, reader.Config{}, sim.ReaderConfig{}, func(f wiegand.Frame) {
		if _, fac, num, ok := f.Card(); ok && fac == 1 && num == 100 {
			if err := d.Grant(); err != nil {
				t.Errorf("grant: %v", err)
			}
		}
	})
	nextEvent := func() string {
		t.Helper()
		select {
		case e := <-doorEvents:
			return e.Type
		case <-time.After(waitFor):
			t.Fatalf("no door event within %v; status %+v", waitFor, d.Status())
			return ""
		}
	}
	if err := rig.sim.SendCard(ctx, "H10301", 1, 100); err != nil {
		t.Fatal(err)
	}
	rig.frame(t)
	select {
	case c := <-relayChanges:
		if !c.High {
			t.Fatalf("first relay change after the grant = %+v, want energised", c)
		}
	case <-time.After(waitFor):
		t.Fatalf("relay not pulsed")
	}
	// The grant pattern follows the relay; the green LED is active low.
	select {
	case c := <-greenChanges:
		if c.High {
			t.Errorf("green line driven high by the grant, want low (active-low LED on)")
		}
	case <-time.After(waitFor):
		t.Fatalf("green LED not lit")
	}
	if st := d.Status(); st.Locked || st.Pattern != "grant" || !st.Green {
		t.Errorf("door after grant = %+v", st)
	}
	dsim.SetOpen(true)
	if got := nextEvent(); got != door.EventOpened {
		t.Fatalf("event = %q, want opened", got)
	}
	dsim.SetOpen(false)
	if got := nextEvent(); got != door.EventClosed {
		t.Fatalf("event = %q, want closed", got)
	}
	if st := d.Status(); !st.Locked {
		t.Errorf("door not relocked on close: %+v", st)
	}
	// Forced, then held open with its pre-alarm.
	dsim.SetOpen(true)
	var got []string
	for range 4 {
		got = append(got, nextEvent())
	}
	want := []string{door.EventOpened, door.EventForced, door.EventHeldPreAlarm, door.EventHeld}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	dsim.SetOpen(false)
	if got := nextEvent(); got != door.EventClosed {
		t.Fatalf("event = %q, want closed", got)
	}
	// REX unlocks and its opening is not forced.
	if err := dsim.PressREX(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nextEvent(); got != door.EventREX {
		t.Fatalf("event = %q, want rex", got)
	}
	dsim.SetOpen(true)
	if got := nextEvent(); got != door.EventOpened {
		t.Fatalf("event = %q, want opened", got)
	}
	if st := d.Status(); st.Forced {
		t.Errorf("REX exit reported forced: %+v", st)
	}
}
