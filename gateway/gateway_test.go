package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// startSim runs a simulated gateway in-process for the life of the test and
// returns it once its doors are operational.
func startSim(t testing.TB, mutate func(*Config)) *Gateway {
	t.Helper()
	cfg := SimDefaults()
	cfg.Gateway.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Gateway, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Sim: true, Out: io.Discard, Logger: quietLogger(),
			onReady: func(g *Gateway) { ready <- g }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	select {
	case g := <-ready:
		return g
	case err := <-done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start within 30s")
	}
	return nil
}

// waitEvent polls the journal for an event after seq matching ok.
func waitEvent(t testing.TB, g *Gateway, after uint64, ok func(access.Event) bool) access.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		evs, err := g.store.Events(after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ok(ev) {
				return ev
			}
			after = ev.Seq
		}
		if err := g.store.Wait(ctx, after); err != nil {
			t.Fatalf("no matching event: %v", err)
		}
	}
}

func enrol(t testing.TB, g *Gateway, user string, card access.CardKey, pin string) {
	t.Helper()
	b := (*backend)(g)
	if _, err := b.PutUser("test", access.User{ID: user, Name: user, Enabled: true}, access.AllFields); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddCredential("test", user, access.Credential{Type: "card", Card: card}); err != nil {
		t.Fatal(err)
	}
	if pin != "" {
		if err := b.SetPIN("test", user, pin); err != nil {
			t.Fatal(err)
		}
	}
}

func named(name string) func(access.Event) bool {
	return func(ev access.Event) bool { return ev.Name == name }
}

func TestSimCardAndPINGrants(t *testing.T) {
	g := startSim(t, nil)
	enrol(t, g, "ann", access.CardKey{Format: "H10301", Facility: 1, Number: 100}, "4829")
	start := g.store.JournalStats().Last
	if err := g.hw.sim.Card("front", "H10301", 1, 100); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, g, start, named(access.NameAwaitingPIN))
	if err := g.hw.sim.Keys("front", "4829#"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, g, start, func(ev access.Event) bool { return ev.Type == access.TypeGranted || ev.Type == access.TypeDenied })
	if ev.Name != access.NameGrantCardAndPIN || ev.User != "ann" || ev.Reader != "front" || ev.Door != "front" {
		t.Fatalf("decision %+v, want a card-and-PIN grant for ann at front", ev)
	}
}

func TestSimPINAloneAtCardOrPIN(t *testing.T) {
	g := startSim(t, nil)
	enrol(t, g, "bob", access.CardKey{Format: "H10301", Facility: 1, Number: 200}, "975312")
	start := g.store.JournalStats().Last
	if err := g.hw.sim.Keys("side", "975312#"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, g, start, func(ev access.Event) bool { return ev.Type == access.TypeGranted || ev.Type == access.TypeDenied })
	if ev.Name != access.NameGrantPIN || ev.User != "bob" {
		t.Fatalf("decision %+v, want a PIN grant for bob", ev)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
