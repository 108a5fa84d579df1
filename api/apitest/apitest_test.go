package apitest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

func TestH10301(t *testing.T) {
	tests := []struct {
		facility uint32
		number   uint64
		bits     string
	}{
		{1, 100, "10000000100000000011001000"},
		{0, 0, "00000000000000000000000001"},
		{255, 65535, "01111111111111111111111111"},
	}
	for _, tc := range tests {
		got, err := EncodeH10301(tc.facility, tc.number)
		if err != nil || got != tc.bits {
			t.Errorf("EncodeH10301(%d, %d): got %q %v, want %q", tc.facility, tc.number, got, err, tc.bits)
		}
		f, n, ok := decodeH10301(tc.bits)
		if f != tc.facility || n != tc.number || !ok {
			t.Errorf("decodeH10301(%q): got %d %d %v, want %d %d true", tc.bits, f, n, ok, tc.facility, tc.number)
		}
		flipped := []byte(tc.bits)
		flipped[5] ^= 1
		if _, _, ok := decodeH10301(string(flipped)); ok {
			t.Errorf("decodeH10301 accepted %q with a flipped bit", flipped)
		}
	}
	if _, err := EncodeH10301(256, 1); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("facility 256: got %v, want ErrInvalid", err)
	}
}

func TestPINRules(t *testing.T) {
	b := New(nil)
	for _, id := range []string{"u1", "u2"} {
		if _, err := b.PutUser(access.User{ID: id, Name: id, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetPIN("u1", "2468"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPIN("u2", "2468"); !errors.Is(err, access.ErrPINInUse) {
		t.Errorf("R3: got %v, want ErrPINInUse", err)
	}
	if err := b.SetPIN("u1", "13579"); err != nil { // R1: replaces, frees 2468
		t.Fatal(err)
	}
	if err := b.SetPIN("u2", "2468"); err != nil {
		t.Errorf("a replaced PIN is free again: got %v", err)
	}
	if err := b.SetPIN("u2", "12"); !errors.Is(err, access.ErrPINLength) {
		t.Errorf("R2: got %v, want ErrPINLength", err)
	}
	if _, err := b.GeneratePIN("nobody", 6); !errors.Is(err, access.ErrNotFound) {
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
