package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

func TestTimingDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Timing
		want Timing
	}{
		{"zero", Timing{}, Timing{PulseWidth: 50 * time.Microsecond, Interval: 2 * time.Millisecond, KeyGap: DefaultKeyGap}},
		{"pulse wider than interval", Timing{PulseWidth: time.Millisecond, Interval: time.Millisecond},
			Timing{PulseWidth: 500 * time.Microsecond, Interval: time.Millisecond, KeyGap: DefaultKeyGap}},
		{"negative jitter is none", Timing{Jitter: -time.Millisecond},
			Timing{PulseWidth: 50 * time.Microsecond, Interval: 2 * time.Millisecond, KeyGap: DefaultKeyGap}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.withDefaults()); diff != "" {
				t.Errorf("withDefaults mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPinBuffer(t *testing.T) {
	tests := []struct {
		keys    string
		want    uint64
		wantErr string
	}{
		{"1234#", 1234, ""},
		{"1234", 1234, ""},
		{"#", wiegand.PINBufferError, ""},
		{"123456#", wiegand.PINBufferError, ""},
		{"99999#", wiegand.PINBufferError, ""},
		{"12*4#", 0, "key 3: a buffered keypad takes digits"},
	}
	for _, tt := range tests {
		t.Run(tt.keys, func(t *testing.T) {
			bits, err := pinBuffer(tt.keys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("pinBuffer error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := wiegand.EncodeCard("PIN26", 0, tt.want)
			if bits != want {
				t.Errorf("pinBuffer(%q) = %s, want %s", tt.keys, bits, want)
			}
		})
	}
}

func TestNewReaderKeyFormat(t *testing.T) {
	for _, kf := range []string{"", "KEY4", "key8", "PIN26"} {
		if _, err := NewReader(ReaderConfig{KeyFormat: kf}); err != nil {
			t.Errorf("NewReader(%q): %v", kf, err)
		}
	}
	for _, kf := range []string{"H10301", "nope"} {
		if _, err := NewReader(ReaderConfig{KeyFormat: kf}); err == nil {
			t.Errorf("NewReader(%q) succeeded, want an error", kf)
		}
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	s, err := NewReader(ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SendCard(ctx, "H10301", 256, 1); err == nil || !strings.Contains(err.Error(), "facility must be 0 to 255") {
		t.Errorf("SendCard bad facility = %v", err)
	}
	if err := s.SendBits(ctx, "10x"); err == nil || !strings.Contains(err.Error(), "character 3") {
		t.Errorf("SendBits bad bits = %v", err)
	}
	if err := s.SendKeys(ctx, "12a"); err == nil || !strings.Contains(err.Error(), "key 3") {
		t.Errorf("SendKeys bad key = %v", err)
	}
	if _, ok, _ := s.Lines().NextEdge(time.Microsecond); ok {
		t.Errorf("rejected input still pulsed the lines")
	}
}

// TestSendBitsEdges checks the pulses a transmission puts on the lines:
// order, lines, and both edges of every bit.
func TestSendBitsEdges(t *testing.T) {
	s, err := NewReader(ReaderConfig{Timing: Timing{Interval: 200 * time.Microsecond, PulseWidth: 20 * time.Microsecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendBits(context.Background(), "0110"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		e, ok, err := s.Lines().NextEdge(time.Microsecond)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		dir := "fall"
		if e.Rising {
			dir = "rise"
		}
		got = append(got, e.Line.String()+" "+dir)
	}
	want := []string{"D0 fall", "D0 rise", "D1 fall", "D1 rise", "D1 fall", "D1 rise", "D0 fall", "D0 rise"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edges mismatch (-want +got):\n%s", diff)
	}
	if s.Lines().Dropped() != 0 {
		t.Errorf("dropped %d edges", s.Lines().Dropped())
	}
}

func TestLinesClose(t *testing.T) {
	l := NewLines()
	l.Set(wiegand.D0, true)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.NextEdge(time.Millisecond); !ok || err != nil {
		t.Errorf("queued edge lost at Close: ok %v, err %v", ok, err)
	}
	if _, _, err := l.NextEdge(time.Millisecond); err != ErrClosed {
		t.Errorf("NextEdge after Close = %v, want ErrClosed", err)
	}
}

func TestOutputRecords(t *testing.T) {
	o := NewOutput("relay")
	w := o.Watch()
	for _, h := range []bool{true, false, false} {
		if err := o.Out(h); err != nil {
			t.Fatal(err)
		}
	}
	if o.High() {
		t.Errorf("High = true after Out(false)")
	}
	var got []bool
	for _, c := range o.History() {
		got = append(got, c.High)
	}
	if diff := cmp.Diff([]bool{true, false, false}, got); diff != "" {
		t.Errorf("history mismatch (-want +got):\n%s", diff)
	}
	if c := <-w; !c.High {
		t.Errorf("first watched change = %+v, want high", c)
	}
}

func TestDoorSim(t *testing.T) {
	d := NewDoor()
	if d.Open() {
		t.Fatalf("new door is open")
	}
	d.SetOpen(true)
	if high, _ := d.Contact.Read(); !high || !d.Open() {
		t.Errorf("open door's contact reads low")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.PressREX(ctx); err != context.Canceled {
		t.Errorf("PressREX with a cancelled context = %v", err)
	}
	if high, _ := d.REX.Read(); !high {
		t.Errorf("REX left pressed")
	}
}

func TestMaxJitter(t *testing.T) {
	tests := []struct {
		interval, want time.Duration
	}{
		{200 * time.Microsecond, 50 * time.Microsecond},   // a quarter
		{2 * time.Millisecond, 500 * time.Microsecond},    // a quarter, the 3 ms floor exactly
		{2200 * time.Microsecond, 400 * time.Microsecond}, // what the floor leaves
		{2500 * time.Microsecond, 250 * time.Microsecond}, // floor and tenth meet
		{5 * time.Millisecond, 500 * time.Microsecond},    // a tenth
		{20 * time.Millisecond, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := MaxJitter(tt.interval); got != tt.want {
			t.Errorf("MaxJitter(%v) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

// TestMaxJitterKeepsFrames feeds the framer, at its defaults, the worst
// frame a reader at MaxJitter can send: every other bit as late as it may
// be, the others as early, so short and long intervals alternate. It must
// come out as one frame.
func TestMaxJitterKeepsFrames(t *testing.T) {
	dec, err := wiegand.NewDecoder(wiegand.DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const pulse = 20 * time.Microsecond
	for _, iv := range []time.Duration{200 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
		2200 * time.Microsecond, 2500 * time.Microsecond, 3 * time.Millisecond, 8 * time.Millisecond, 20 * time.Millisecond} {
		j := MaxJitter(iv) - 1 // the largest offset jitter draws
		start := time.Unix(1000, 0)
		f := wiegand.NewFramer(wiegand.FramerConfig{}, dec, start)
		bits, _ := wiegand.EncodeCard("H10301", 5, 555)
		var frames []wiegand.Frame
		at := start.Add(time.Second)
		for i := range len(bits) {
			off := j
			if i%2 == 1 {
				off = -j
			}
			fall := at.Add(time.Duration(i)*iv + off)
			if fr, ok := f.Expire(fall); ok {
				frames = append(frames, fr)
			}
			line := wiegand.Line(bits[i] - '0')
			for _, e := range []wiegand.Edge{{Line: line, Time: fall}, {Line: line, Rising: true, Time: fall.Add(pulse)}} {
				if fr, ok := f.Edge(e); ok {
					frames = append(frames, fr)
				}
			}
		}
		if fr, ok := f.Expire(at.Add(time.Minute)); ok {
			frames = append(frames, fr)
		}
		if len(frames) != 1 || frames[0].Len != 26 {
			lens := make([]int, len(frames))
			for i, fr := range frames {
				lens[i] = fr.Len
			}
			t.Errorf("interval %v, jitter %v: frames of %v bits, want one of 26", iv, j, lens)
		}
	}
}

func TestNewReaderRefusesTooMuchJitter(t *testing.T) {
	for _, tm := range []Timing{
		{Jitter: 501 * time.Microsecond},
		{Interval: 5 * time.Millisecond, Jitter: time.Millisecond},
	} {
		_, err := NewReader(ReaderConfig{Timing: tm})
		want := fmt.Sprintf("sim: timing: jitter %v is more than %v", tm.Jitter, MaxJitter(tm.withDefaults().Interval))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewReader(%+v) = %v, want an error containing %q", tm, err, want)
		}
	}
	if _, err := NewReader(ReaderConfig{Timing: Timing{Jitter: 500 * time.Microsecond}}); err != nil {
		t.Errorf("NewReader at MaxJitter: %v", err)
	}
}

// TestAwaitPrefersQueuedEdge hands await a timer that has already fired
// and a queued edge, both ready at once, as when a wait ends just as an
// edge comes: the edge must win every time, not by the select's coin.
func TestAwaitPrefersQueuedEdge(t *testing.T) {
	l := NewLines()
	fired := make(chan time.Time, 1)
	for i := range 1000 {
		l.Set(wiegand.D1, i%2 == 0)
		fired <- time.Time{}
		e, ok := l.await(fired, func() { t.Fatal("rearmed the timer with no frame in progress") })
		if !ok || e.Line != wiegand.D1 || e.Rising != (i%2 == 1) {
			t.Fatalf("round %d: await = %+v, %v; want the queued D1 edge", i, e, ok)
		}
		select {
		case <-fired:
		default:
		}
	}
	fired <- time.Time{}
	if _, ok := l.await(fired, func() { t.Fatal("rearmed the timer with no frame in progress") }); ok {
		t.Errorf("await with an empty queue and a fired timer = ok, want quiet")
	}
}

func TestNextEdgePoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLines()
		start := time.Now()
		if _, ok, err := l.NextEdge(0); ok || err != nil {
			t.Fatalf("poll of idle lines = ok %v, err %v; want quiet", ok, err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("poll of idle lines waited %v", d)
		}
		l.Set(wiegand.D0, true)
		if e, ok, err := l.NextEdge(-time.Second); !ok || err != nil || e.Line != wiegand.D0 || e.Rising {
			t.Errorf("poll = %+v, %v, %v; want the queued D0 fall", e, ok, err)
		}
		// While a frame is in progress a poll waits for its next edge.
		l.transmitting(true)
		go func() {
			time.Sleep(3 * time.Millisecond)
			l.Set(wiegand.D0, false)
			l.transmitting(false)
		}()
		if e, ok, err := l.NextEdge(0); !ok || err != nil || !e.Rising {
			t.Errorf("poll mid-frame = %+v, %v, %v; want the D0 rise sent later", e, ok, err)
		}
		if d := time.Since(start); d < 3*time.Millisecond {
			t.Errorf("poll mid-frame returned after %v, before the edge was sent", d)
		}
	})
}
