package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// journalBacklog is the backlog BenchmarkJournalDrain empties (DESIGN.md's
// budget: 100k events in at most 2 s, none lost, in order).
const journalBacklog = 100_000

// BenchmarkJournalDrain measures the budget's drain as the gateway does
// it: 100,000 events committed to the store's journal, drained by the
// uplink with its default configuration, reading them through the
// gateway's journal adapter and saving its place in the store's durable
// cursor, to a mosquitto as installed. The time runs from the uplink's
// start to the cursor reaching the last event (every PUBACK in).
//
// A mosquitto_sub registered before the drain must receive every event, in
// order, each on its reader's topic with its id, or the benchmark fails.
// With consumer=live it reads while the events are published, so the
// broker forwards each one during the drain, on the same two cores; with
// consumer=after it reads what the broker queued for its session once the
// drain is timed, which is the drain to the broker alone, as with a cloud
// broker on a machine of its own. Reported: drain seconds, events/s, the
// processor time this process (gateway-cpu-s, the live collector's reading
// included) and mosquitto (broker-cpu-s) used during the drain, and how
// many times the cursor was saved. mosquitto runs on one thread, so
// broker-cpu-s is a floor under drain-s on any machine this shared.
func BenchmarkJournalDrain(b *testing.B) {
	for _, consumer := range []string{"live", "after"} {
		b.Run("consumer="+consumer, func(b *testing.B) { benchJournalDrain(b, consumer == "live") })
	}
}

func benchJournalDrain(b *testing.B, live bool) {
	cloud := mosquittotest.Start(b)
	var drainS, selfS, brokerS, saves float64
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s, err := store.Open(store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: "gw-bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := appendBacklog(s, journalBacklog); err != nil {
			s.Close()
			b.Fatal(err)
		}
		sub := uplinktest.NewMosquittoSub(b, cloud.Addr(), "gw-bench")
		if live {
			sub.Start(1, journalBacklog)
		}
		cursor := &countingCursor{uplinkCursor: uplinkCursor{s}}
		u, err := uplink.New(uplink.Config{URL: cloud.URL()}, "gw-bench", uplinkJournal{s}, cursor, nil, nil)
		if err != nil {
			s.Close()
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		broker0 := brokerCPU(b, cloud)
		b.StartTimer()
		self0, began := cpuTime(b), time.Now()
		go func() {
			u.Run(ctx)
			close(done)
		}()
		deadline := began.Add(time.Minute)
		for u.State().Cursor < journalBacklog {
			if time.Now().After(deadline) {
				b.Fatalf("backlog not drained within a minute: %+v", u.State())
			}
			time.Sleep(100 * time.Microsecond)
		}
		took, self := time.Since(began), cpuTime(b)-self0
		b.StopTimer()
		broker := brokerCPU(b, cloud) - broker0
		if !live {
			sub.Start(1, journalBacklog)
		}
		err = sub.Wait(time.Minute)
		cancel()
		<-done
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		drainS, selfS, brokerS = took.Seconds(), self.Seconds(), broker.Seconds()
		saves = float64(cursor.saves.Load())
	}
	b.ReportMetric(drainS, "drain-s")
	b.ReportMetric(journalBacklog/drainS, "events/s")
	b.ReportMetric(selfS, "gateway-cpu-s")
	b.ReportMetric(brokerS, "broker-cpu-s")
	b.ReportMetric(saves, "cursor-saves")
}

// brokerCPU is the processor time the broker has used so far.
func brokerCPU(b *testing.B, srv *mosquittotest.Server) time.Duration {
	d, err := srv.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// appendBacklog journals n events, three of four at a reader and one
// without, committing as it goes.
func appendBacklog(s *store.Store, n int) error {
	readers := []string{"front", "side", "garage", ""}
	for i := range n {
		r := readers[i%len(readers)]
		ev := access.Event{Type: access.TypeGranted, Name: access.NameGrantCard, Reader: r, Door: r,
			User: fmt.Sprintf("user-%07d", i%100_000), Credential: fmt.Sprintf("cred-%07d", i%100_000)}
		if r == "" {
			ev = access.Event{Type: access.TypeAudit, Name: "User Changed", User: ev.User, Actor: actorPortal}
		}
		if _, err := s.Append(ev); err != nil {
			return err
		}
		if (i+1)%10_000 == 0 {
			if err := s.Flush(); err != nil {
				return err
			}
		}
	}
	return s.Flush()
}

// countingCursor is the gateway's uplink cursor, counting its saves.
type countingCursor struct {
	uplinkCursor
	saves atomic.Int64
}

func (c *countingCursor) Save(seq uint64) error {
	c.saves.Add(1)
	return c.uplinkCursor.Save(seq)
}
