package portal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/sync/portal"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// fleet is a set of real uplinks, one per gateway, each forwarding an
// in-memory journal to the broker under its own account.
type fleet struct {
	ids      []string
	journals map[string]*uplinktest.MemJournal
	cursors  map[string]*uplinktest.MemCursor
}

func accounts(ids []string) map[string]string {
	m := map[string]string{"portal": "secret-p"}
	for _, id := range ids {
		m[id] = "secret-" + id
	}
	return m
}

func gatewayIDs(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("gw-%02d", i))
	}
	return ids
}

func startFleet(t *testing.T, url string, ids []string) *fleet {
	t.Helper()
	f := &fleet{ids: ids, journals: make(map[string]*uplinktest.MemJournal), cursors: make(map[string]*uplinktest.MemCursor)}
	for _, id := range ids {
		j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
		f.journals[id], f.cursors[id] = j, c
		u, err := uplink.New(uplink.Config{URL: url, Username: id, Password: "secret-" + id,
			BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, id, j, c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, u.Run)
	}
	return f
}

// emit appends n events to every gateway's journal, spread over readers.
func (f *fleet) emit(n int) {
	readers := []string{"front", "side", "garage", ""}
	for _, id := range f.ids {
		for range n {
			j := f.journals[id]
			j.AppendEvent(id, readers[j.Last()%uint64(len(readers))])
		}
	}
}

// ingestion is a portal's ingester and sequencer, recording what Handle
// and Lost were given.
type ingestion struct {
	in  *portal.Ingester
	seq *portal.Sequencer
	*progress
}

// progress is what a portal persists: the events handled and the last
// seq of each gateway, from which a restarted portal resumes.
type progress struct {
	rec *record

	mu      sync.Mutex
	handled int
	last    map[string]uint64
}

func newProgress() *progress { return &progress{rec: newRecord(), last: make(map[string]uint64)} }

func (p *progress) count() int { p.mu.Lock(); defer p.mu.Unlock(); return p.handled }

func (p *progress) handle(ev portal.Event) {
	p.rec.handle(ev)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handled++
	p.last[ev.Gateway] = ev.Seq
}

func (p *progress) start(gw string) uint64 { p.mu.Lock(); defer p.mu.Unlock(); return p.last[gw] }

func newIngestion(t *testing.T, url string, strategy portal.Strategy, gateways []string, gapTimeout time.Duration, p *progress) *ingestion {
	t.Helper()
	g := &ingestion{progress: p}
	var err error
	g.seq, err = portal.NewSequencer(portal.SequencerConfig{
		Handle: p.handle, Start: p.start, Lost: p.rec.lost, GapTimeout: gapTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := portal.IngestConfig{
		MQTT:      portal.MQTTConfig{URL: url, ClientID: "ingest-" + strategy.String(), Username: "portal", Password: "secret-p"},
		Strategy:  strategy,
		Sequencer: g.seq,
	}
	if strategy == portal.Partitioned {
		cfg.Gateways = gateways
	}
	g.in, err = portal.NewIngester(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// run runs the ingestion until the returned stop is called (or the test
// ends), and waits for every worker to be subscribed.
func (g *ingestion) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { g.seq.Run(ctx) })
	wg.Go(func() { g.in.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	eventually(t, "every ingestion worker subscribed", g.in.Ready)
	return stop
}

func TestIngest(t *testing.T) {
	const gateways, events = 12, 150
	for _, strategy := range []portal.Strategy{portal.Shared, portal.Partitioned} {
		t.Run(strategy.String(), func(t *testing.T) {
			ids := gatewayIDs(gateways)
			srv := mosquittotest.StartWith(t, mosquittotest.Config{Accounts: accounts(ids), ACL: docsACL(t)})
			g := newIngestion(t, srv.URL(), strategy, ids, 0, newProgress())
			g.run(t)
			f := startFleet(t, srv.URL(), ids)
			f.emit(events)
			eventually(t, "every event handled", func() bool { return g.count() >= gateways*events })
			got := g.rec.get()
			for _, id := range ids {
				if diff := cmp.Diff(seqs(1, events), got[id]); diff != "" {
					t.Fatalf("%s (-want +got):\n%s", id, diff)
				}
			}
			st := g.seq.Stats()
			if st.Lost != 0 || st.Pending != 0 || st.Handled != gateways*events {
				t.Errorf("Stats() = %+v, want every event handled, none lost or pending", st)
			}
			for _, w := range g.in.Stats() {
				if w.Received == 0 || w.Malformed != 0 {
					t.Errorf("worker %s: %+v, want a share of the events and nothing malformed", w.ClientID, w)
				}
			}
			if strategy == portal.Partitioned && st.Early != 0 {
				// One worker per gateway, one subscriber queue: the broker
				// keeps the gateway's order and nothing waits.
				t.Errorf("Partitioned: %d events arrived early, want 0", st.Early)
			}
			t.Logf("%s: %+v", strategy, st)
		})
	}
}

// TestIngestBrokerRestart stops the portal, restarts mosquitto (with
// persistence), lets the gateways publish while the portal is still away,
// then brings the portal back: with Partitioned the broker kept the
// subscriptions and queued everything; with Shared, mosquitto forgot the
// shared subscriptions, dropped what came while no worker was subscribed,
// and the sequencer reports exactly those events lost.
func TestIngestBrokerRestart(t *testing.T) {
	const gateways, before, away, after = 4, 20, 15, 5
	tests := []struct {
		strategy portal.Strategy
		wantLost bool
	}{
		{portal.Partitioned, false},
		{portal.Shared, true},
	}
	for _, tc := range tests {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			ids := gatewayIDs(gateways)
			srv := mosquittotest.StartWith(t, mosquittotest.Config{Accounts: accounts(ids), ACL: docsACL(t), Persist: true})
			p := newProgress()
			g := newIngestion(t, srv.URL(), tc.strategy, ids, 200*time.Millisecond, p)
			stop := g.run(t)
			f := startFleet(t, srv.URL(), ids)
			f.emit(before)
			eventually(t, "the first events handled", func() bool { return p.count() == gateways*before })

			stop() // the portal goes away; its sessions stay on the broker
			srv.Restart()
			f.emit(away)
			for _, id := range ids {
				eventually(t, id+"'s events taken by the broker while the portal is away", func() bool {
					return f.cursors[id].Seq() == before+away
				})
			}
			g = newIngestion(t, srv.URL(), tc.strategy, ids, 200*time.Millisecond, p)
			g.run(t)
			f.emit(after)
			var want []string
			if tc.wantLost {
				// The first events after the restart are gone; the next
				// ones show the gap, which is given up after GapTimeout.
				want = append(append(seqs(1, before), fmt.Sprintf("lost %d-%d", before+1, before+away)), seqs(before+away+1, before+away+after)...)
				eventually(t, "the gap given up and the rest handled", func() bool { return p.count() == gateways*(before+after) })
			} else {
				want = seqs(1, before+away+after)
				eventually(t, "every event handled", func() bool { return p.count() == gateways*(before+away+after) })
			}
			got := p.rec.get()
			for _, id := range ids {
				if diff := cmp.Diff(want, got[id]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", id, diff)
				}
			}
		})
	}
}
