package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gpio/pins"
)

func TestBoardOpensWiredDevices(t *testing.T) {
	b := NewBoard()
	rs, err := b.WireReader("GPIO17", "GPIO27", ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.WireDoor("GPIO6", "GPIO13")
	if err != nil {
		t.Fatal(err)
	}
	// Names match as pins.NameKey matches them.
	src, err := b.Reader("gpio17", "gpio27")
	if err != nil {
		t.Fatal(err)
	}
	if src != rs.Lines() {
		t.Errorf("Reader returned other lines than the wired reader's")
	}
	contact, err := b.Input("GPIO6", pins.PullUp)
	if err != nil {
		t.Fatal(err)
	}
	if high, _ := contact.Read(); high {
		t.Errorf("the wired contact reads high (open); a new DoorSim is closed")
	}
	d.SetOpen(true)
	if high, _ := contact.Read(); !high {
		t.Errorf("the contact does not follow the DoorSim")
	}
	out, err := b.Output("GPIO5", true)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := b.OutputLine("gpio5")
	if !ok || got != out || !got.High() {
		t.Errorf("OutputLine(gpio5) = %v, %v; want the output opened high", got, ok)
	}
	// A simulated card goes through the lines the Board handed out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = rs.SendBits(ctx, "10") }()
	if e, ok, err := src.NextEdge(5 * time.Second); err != nil || !ok || e.Rising {
		t.Errorf("NextEdge = %+v, %v, %v; want the first falling edge of the bits sent", e, ok, err)
	}
}

func TestBoardIdleLines(t *testing.T) {
	b := NewBoard()
	for _, tt := range []struct {
		name string
		pull pins.Pull
		high bool
	}{{"GPIO1", pins.PullUp, true}, {"GPIO2", pins.PullDown, false}, {"GPIO3", pins.PullNone, false}} {
		in, err := b.Input(tt.name, tt.pull)
		if err != nil {
			t.Fatal(err)
		}
		if high, _ := in.Read(); high != tt.high {
			t.Errorf("idle input %s with pull %d reads high=%v, want %v", tt.name, tt.pull, high, tt.high)
		}
	}
	src, err := b.Reader("GPIO20", "GPIO21")
	if err != nil {
		t.Fatal(err)
	}
	if d0, d1, _ := src.Low(); d0 || d1 {
		t.Errorf("idle reader lines are low: %v, %v", d0, d1)
	}
}

func TestBoardRefuses(t *testing.T) {
	tests := []struct {
		name    string
		do      func(b *Board) error
		wantErr string
	}{
		{"a line opened twice", func(b *Board) error {
			if _, err := b.Output("GPIO5", false); err != nil {
				return err
			}
			_, err := b.Input("gpio5", pins.PullUp)
			return err
		}, "line GPIO5 is already open"},
		{"a reader line opened twice", func(b *Board) error {
			if _, err := b.Reader("GPIO1", "GPIO2"); err != nil {
				return err
			}
			_, err := b.Reader("GPIO2", "GPIO3")
			return err
		}, "line GPIO2 is already open"},
		{"a bad name", func(b *Board) error { _, err := b.Output("pin 5", false); return err }, `' ' is not allowed in a line name`},
		{"d0 is d1", func(b *Board) error { _, err := b.Reader("GPIO1", "gpio1"); return err }, "d0 and d1 are the same line"},
		{"a reader's line as an output", func(b *Board) error {
			if _, err := b.WireReader("GPIO1", "GPIO2", ReaderConfig{}); err != nil {
				return err
			}
			_, err := b.Output("GPIO2", false)
			return err
		}, "line GPIO2 is an input of a simulated reader"},
		{"a reader's line as a door input", func(b *Board) error {
			if _, err := b.WireReader("GPIO1", "GPIO2", ReaderConfig{}); err != nil {
				return err
			}
			_, err := b.Input("GPIO1", pins.PullUp)
			return err
		}, "line GPIO1 is a data line of a simulated reader"},
		{"reader lines swapped", func(b *Board) error {
			if _, err := b.WireReader("GPIO1", "GPIO2", ReaderConfig{}); err != nil {
				return err
			}
			_, err := b.Reader("GPIO2", "GPIO1")
			return err
		}, "are not the d0 and d1 of one simulated reader"},
		{"a line wired twice", func(b *Board) error {
			if _, err := b.WireDoor("GPIO6", ""); err != nil {
				return err
			}
			_, err := b.WireReader("GPIO6", "GPIO7", ReaderConfig{})
			return err
		}, "line GPIO6 is wired already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(NewBoard())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
