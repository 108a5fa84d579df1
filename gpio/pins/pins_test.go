package pins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/gpio"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

var piChips = []ChipLines{
	{Name: "gpiochip0", Lines: []string{"ID_SDA", "ID_SCL", "GPIO2", "GPIO3", "GPIO4", "", "GPIO6", "", "", "", "", "", "", "", "", "", "", "GPIO17", "GPIO18"}},
	{Name: "gpiochip1", Lines: []string{"BT_ON", "WL_ON", "GPIO2"}},
}

// resolveCases are Resolve's table, also the seeds of FuzzResolve.
var resolveCases = []struct {
	name    string
	want    Line
	wantErr string
	// badName marks a name CheckName refuses; the other errors come from
	// looking the name up on the chips.
	badName bool
}{
	{name: "GPIO17", want: Line{Chip: 0, Offset: 17, Name: "GPIO17"}},
	{name: "gpio17", want: Line{Chip: 0, Offset: 17, Name: "GPIO17"}},
	{name: "gpiochip1:1", want: Line{Chip: 1, Offset: 1, Name: "WL_ON"}},
	{name: "gpiochip0:5", want: Line{Chip: 0, Offset: 5, Name: ""}},
	{name: "gpiochip0:017", want: Line{Chip: 0, Offset: 17, Name: "GPIO17"}},
	{name: "GPIO2", wantErr: "named on 2 chips"},
	{name: "GPIO99", wantErr: `pin "GPIO99": no GPIO line has that name on gpiochip0, gpiochip1`},
	{name: "", wantErr: "empty pin name", badName: true},
	{name: " GPIO18 ", wantErr: `' ' is not allowed in a line name`, badName: true},
	{name: "gpiochip9:1", wantErr: `no chip "gpiochip9"`},
	{name: "gpiochip1:7", wantErr: "gpiochip1 has 3 lines"},
	{name: "gpiochip0:x", wantErr: `offset "x" is not a line number`, badName: true},
	{name: "gpiochip0:+1", wantErr: `offset "+1" is not a line number`, badName: true},
	{name: "gpiochip0:99999", wantErr: `offset "99999" is not a line number from 0 to 65535`, badName: true},
	{name: "chip0:1", wantErr: `"chip0" is not a chip`, badName: true},
	{name: "17", wantErr: `a bare number names no line; write "GPIO17" (the kernel's name) or "gpiochip0:17"`, badName: true},
	{name: "pin 5", wantErr: `' ' is not allowed in a line name`, badName: true},
	{name: "GPIO17/", wantErr: `'/' is not allowed in a line name`, badName: true},
	{name: strings.Repeat("G", MaxNameLen+1), wantErr: "longer than the kernel's 31 bytes", badName: true},
}

func TestResolve(t *testing.T) {
	for _, tt := range resolveCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(piChips, tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve(%q) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.name, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// TestCheckNameIsResolveSyntax checks, over Resolve's table, that CheckName
// refuses exactly the names Resolve refuses for their spelling: a name
// CheckName accepts fails in Resolve only for want of a matching chip or
// line.
func TestCheckNameIsResolveSyntax(t *testing.T) {
	for _, tt := range resolveCases {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.name)
			if (err != nil) != tt.badName {
				t.Errorf("CheckName(%q) = %v; Resolve says %q", tt.name, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckName(%q) = %q, want the error Resolve gives, containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
}

func TestNameKey(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"GPIO17", "gpio17"},
		{"gpiochip0:17", "gpiochip0:017"},
	} {
		if NameKey(tt.a) != NameKey(tt.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want the same line", tt.a, NameKey(tt.a), tt.b, NameKey(tt.b))
		}
	}
	if NameKey("GPIO17") == NameKey("GPIO18") {
		t.Errorf("NameKey(GPIO17) = NameKey(GPIO18)")
	}
}

// FuzzResolve checks that Resolve never panics, that CheckName and Resolve
// agree on every name (a name CheckName refuses never resolves; one it
// accepts fails only in the lookup), and that a resolved line is one the
// chips have, under the name's key.
func FuzzResolve(f *testing.F) {
	for _, tt := range resolveCases {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		l, err := Resolve(piChips, name)
		cerr := CheckName(name)
		if cerr != nil {
			if err == nil {
				t.Fatalf("Resolve(%q) = %+v, but CheckName refuses it: %v", name, l, cerr)
			}
			if err.Error() != "pins: "+cerr.Error() {
				t.Fatalf("Resolve(%q) = %q, CheckName = %q; want one error", name, err, cerr)
			}
			return
		}
		if err != nil {
			return
		}
		if l.Chip < 0 || l.Chip >= len(piChips) || l.Offset < 0 || l.Offset >= len(piChips[l.Chip].Lines) {
			t.Fatalf("Resolve(%q) = %+v, not a line of the chips", name, l)
		}
		if got := piChips[l.Chip].Lines[l.Offset]; got != l.Name {
			t.Fatalf("Resolve(%q) = %+v, but the line is named %q", name, l, got)
		}
		if !strings.Contains(name, ":") && NameKey(name) != NameKey(l.Name) {
			t.Fatalf("Resolve(%q) = %+v: NameKey %q, the line's %q", name, l, NameKey(name), NameKey(l.Name))
		}
	})
}

func TestResolvePair(t *testing.T) {
	tests := []struct {
		d0, d1  string
		wantErr string
	}{
		{"GPIO17", "GPIO18", ""},
		{"GPIO17", "gpiochip1:0", "on different chips"},
		{"GPIO17", "gpio17", "same line"},
		{"nope", "GPIO18", "d0: pins: pin \"nope\""},
		{"GPIO17", "nope", "d1: pins: pin \"nope\""},
	}
	for _, tt := range tests {
		t.Run(tt.d0+"+"+tt.d1, func(t *testing.T) {
			_, _, err := ResolvePair(piChips, tt.d0, tt.d1)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ResolvePair: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ResolvePair error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRequestable(t *testing.T) {
	if err := requestable(Line{Offset: 17, Name: "GPIO17"}); err != nil {
		t.Errorf("requestable(GPIO17) = %v", err)
	}
	l, err := Resolve(piChips, "gpiochip0:5")
	if err != nil {
		t.Fatal(err)
	}
	if err := requestable(l); err == nil || !strings.Contains(err.Error(), "line 5 has no kernel name") {
		t.Errorf("requestable(unnamed) = %v", err)
	}
}

func TestLineMapEdge(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := lineMap{d0: 17, d1: 18}
	tests := []struct {
		name   string
		offset int
		edge   gpio.Edge
		want   wiegand.Edge
		wantOK bool
	}{
		{"D0 falling is a 0 bit", 17, gpio.FallingEdge, wiegand.Edge{Line: wiegand.D0, Time: at}, true},
		{"D1 falling is a 1 bit", 18, gpio.FallingEdge, wiegand.Edge{Line: wiegand.D1, Time: at}, true},
		{"D1 rising", 18, gpio.RisingEdge, wiegand.Edge{Line: wiegand.D1, Rising: true, Time: at}, true},
		{"another line", 4, gpio.FallingEdge, wiegand.Edge{}, false},
		{"no edge", 17, gpio.NoEdge, wiegand.Edge{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.edge(tt.offset, tt.edge, at)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("edge(%d, %v) = %+v, %v; want %+v, %v", tt.offset, tt.edge, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLowBits(t *testing.T) {
	for v, want := range map[gpio.GPIOValue][2]bool{0: {true, true}, 1: {false, true}, 2: {true, false}, 3: {false, false}} {
		d0, d1 := lowBits(v)
		if [2]bool{d0, d1} != want {
			t.Errorf("lowBits(%b) = %v, %v; want %v", v, d0, d1, want)
		}
	}
}

// scriptInput is an Input that replays levels, one per call to WaitEdge.
type scriptInput struct {
	levels []bool
	cancel context.CancelFunc
	i      int
	err    error
}

func (s *scriptInput) WaitEdge(time.Duration) (bool, error) {
	if s.i+1 >= len(s.levels) {
		s.cancel()
		return false, nil
	}
	s.i++
	return true, nil
}

func (s *scriptInput) Read() (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	return s.levels[s.i], nil
}

func (s *scriptInput) Close() error { return nil }

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &scriptInput{levels: []bool{true, true, false, false, true}, cancel: cancel}
	var got []bool
	err := Watch(ctx, in, func(high bool) { got = append(got, high) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Errorf("levels mismatch (-want +got):\n%s", diff)
	}
	boom := errors.New("boom")
	if err := Watch(context.Background(), &scriptInput{levels: []bool{true}, err: boom}, func(bool) {}); !errors.Is(err, boom) {
		t.Errorf("Watch with a read error = %v, want boom", err)
	}
}

// fakeWaiter answers WaitForEdge from a script, recording the timeouts it
// was asked for; past the script it times out.
type fakeWaiter struct {
	results []error // nil is an event on offset 3, falling
	asked   []time.Duration
}

func (f *fakeWaiter) WaitForEdge(timeout time.Duration) (int, gpio.Edge, error) {
	f.asked = append(f.asked, timeout)
	if len(f.asked) > len(f.results) {
		return 0, gpio.NoEdge, os.ErrDeadlineExceeded
	}
	if err := f.results[len(f.asked)-1]; err != nil {
		return 0, gpio.NoEdge, err
	}
	return 3, gpio.FallingEdge, nil
}

func TestWaitEvent(t *testing.T) {
	timeout := fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
	broken := errors.New("bad file descriptor")
	tests := []struct {
		name      string
		timeout   time.Duration
		results   []error
		wantOK    bool
		wantErr   error
		wantAsked []time.Duration
	}{
		{"event at once", 5 * time.Millisecond, []error{nil}, true, nil, []time.Duration{5 * time.Millisecond}},
		{"event found by the confirming read", 5 * time.Millisecond, []error{timeout, nil}, true, nil,
			[]time.Duration{5 * time.Millisecond, confirmWait}},
		{"quiet", 5 * time.Millisecond, nil, false, nil, []time.Duration{5 * time.Millisecond, confirmWait}},
		{"poll reads once", 0, nil, false, nil, []time.Duration{confirmWait}},
		{"negative poll reads once", -time.Second, []error{nil}, true, nil, []time.Duration{confirmWait}},
		{"error stops", 5 * time.Millisecond, []error{broken}, false, broken, []time.Duration{5 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWaiter{results: tt.results}
			offset, e, ok, err := waitEvent(w, tt.timeout)
			if ok != tt.wantOK || !errors.Is(err, tt.wantErr) {
				t.Fatalf("waitEvent = ok %v, err %v; want ok %v, err %v", ok, err, tt.wantOK, tt.wantErr)
			}
			if ok && (offset != 3 || e != gpio.FallingEdge) {
				t.Errorf("waitEvent = offset %d, edge %v; want 3, falling", offset, e)
			}
			if diff := cmp.Diff(tt.wantAsked, w.asked); diff != "" {
				t.Errorf("timeouts asked (-want +got):\n%s", diff)
			}
		})
	}
}
