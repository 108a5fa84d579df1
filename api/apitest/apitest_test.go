package apitest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// TestSimFramesAreWiegands: the fake kept its own H10301 codec beside
// gpio/wiegand's (issue 12, finding 11). Its frames are now wiegand's: what
// it sends is wiegand.EncodeCard, what it decodes is wiegand's decoding.
func TestSimFramesAreWiegands(t *testing.T) {
	b := New(nil)
	sim := Sim{B: b}
	frame := func(reader string) api.Frame {
		t.Helper()
		for _, r := range b.Status().Readers {
			if r.Name == reader && r.LastFrame != nil {
				return *r.LastFrame
			}
		}
		t.Fatalf("reader %s has no frame", reader)
		return api.Frame{}
	}
	cards := []struct {
		format   string
		facility uint32
		number   uint64
	}{
		{"H10301", 1, 100}, {"H10301", 0, 0}, {"H10301", 255, 65535}, {"h10301", 7, 7},
		{"H10306", 1000, 50000}, {"C1k35", 4000, 1000000}, {"H10304", 65535, 524287}, {"CSN32", 0, 0xdeadbeef},
	}
	for _, tc := range cards {
		want, err := wiegand.EncodeCard(tc.format, tc.facility, tc.number)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Card("garage", tc.format, tc.facility, tc.number); err != nil {
			t.Fatalf("Card(%s %d/%d): %v", tc.format, tc.facility, tc.number, err)
		}
		canon, _ := wiegand.CanonicalFormat(tc.format)
		got := frame("garage")
		if got.Bits != want || got.Format != canon || got.Facility != tc.facility || got.Number != tc.number || !got.ParityOK {
			t.Errorf("Card(%s %d/%d): got frame %+v, want bits %s decoded back", tc.format, tc.facility, tc.number, got, want)
		}
	}
	bits, _ := wiegand.EncodeCard("H10301", 1, 100)
	flipped := []byte(bits)
	flipped[5] ^= 1
	if err := sim.Bits("front", string(flipped)); err != nil {
		t.Fatal(err)
	}
	if got := frame("front"); got.ParityOK || got.Error != string(wiegand.CauseParity) {
		t.Errorf("a flipped bit: got %+v, want a parity reject", got)
	}
	if err := sim.Bits("front", "101"); err != nil {
		t.Fatal(err)
	}
	if got := frame("front"); got.Error != string(wiegand.CauseLength) {
		t.Errorf("3 bits: got %+v, want a length reject", got)
	}
	for _, r := range b.Status().Readers {
		if r.Name == "front" && (r.Rejects["parity"] != 1 || r.Rejects["length"] != 1) {
			t.Errorf("front's rejects: got %v, want parity 1, length 1", r.Rejects)
		}
	}
	if err := sim.Card("garage", "H10301", 256, 1); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "H10301 facility must be 0 to 255, got 256") {
		t.Errorf("facility 256: got %v, want ErrInvalid with wiegand's message", err)
	}
	if err := sim.Card("garage", "FOO", 1, 1); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("format FOO: got %v, want ErrInvalid", err)
	}
	if err := sim.Bits("garage", strings.Repeat("1", 65)); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("65 bits: got %v, want ErrInvalid", err)
	}
}

func TestPINRules(t *testing.T) {
	b := New(nil)
	for _, id := range []string{"u1", "u2"} {
		if _, err := b.PutUser("test", access.User{ID: id, Name: id, Enabled: true}, access.AllFields); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetPIN("test", "u1", "4826"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPIN("test", "u2", "4826"); !errors.Is(err, access.ErrPINInUse) {
		t.Errorf("R3: got %v, want ErrPINInUse", err)
	}
	if err := b.SetPIN("test", "u1", "13579"); err != nil { // R1: replaces, frees 2468
		t.Fatal(err)
	}
	if err := b.SetPIN("test", "u2", "4826"); err != nil {
		t.Errorf("a replaced PIN is free again: got %v", err)
	}
	if err := b.SetPIN("test", "u2", "12"); !errors.Is(err, access.ErrPINLength) {
		t.Errorf("R2: got %v, want ErrPINLength", err)
	}
	if _, err := b.GeneratePIN("test", "nobody", 6); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("unknown user: got %v, want ErrNotFound", err)
	}
}

func TestWaitEvents(t *testing.T) {
	b := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.WaitEvents(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("no events, cancelled: got %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.WaitEvents(context.Background(), 0) }()
	b.Emit(access.Event{Type: "test", Name: "one"})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitEvents did not wake within 10 s of an event")
	}
}
