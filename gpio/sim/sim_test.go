package sim

import (
	"context"
	"strings"
	"testing"
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
		{"jitter capped", Timing{Jitter: time.Second},
			Timing{PulseWidth: 50 * time.Microsecond, Interval: 2 * time.Millisecond, Jitter: 975 * time.Microsecond, KeyGap: DefaultKeyGap}},
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
