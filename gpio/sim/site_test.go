package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSite(t *testing.T) {
	s := NewSite()
	r, err := s.AddReader("front", ReaderConfig{Timing: Timing{Interval: 200 * time.Microsecond, PulseWidth: 20 * time.Microsecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReader("front", ReaderConfig{}); err == nil {
		t.Errorf("second reader front accepted")
	}
	if _, err := s.AddReader("side", ReaderConfig{KeyFormat: "H10301"}); err == nil || !strings.Contains(err.Error(), `reader "side"`) {
		t.Errorf("bad key format error = %v", err)
	}
	d, err := s.AddDoor("front")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDoor("front"); err == nil {
		t.Errorf("second door front accepted")
	}
	ctx := context.Background()
	if err := s.Card(ctx, "garage", "H10301", 1, 1); !errors.Is(err, ErrUnknownReader) || !strings.Contains(err.Error(), `"garage" (have front)`) {
		t.Errorf("Card at unknown reader = %v", err)
	}
	if err := s.Contact("garage", true); !errors.Is(err, ErrUnknownDoor) {
		t.Errorf("Contact at unknown door = %v", err)
	}
	if err := s.Bits(ctx, "front", "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Lines().NextEdge(time.Millisecond); !ok {
		t.Errorf("Bits did not pulse the reader's lines")
	}
	if err := s.Contact("front", true); err != nil || !d.Open() {
		t.Errorf("Contact open: err %v, open %v", err, d.Open())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.REX(cctx, "front"); !errors.Is(err, context.Canceled) {
		t.Errorf("REX with a cancelled context = %v", err)
	}
	if err := s.Keys(ctx, "front", "x"); err == nil {
		t.Errorf("Keys with a bad key succeeded")
	}
}
