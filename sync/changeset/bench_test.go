package changeset

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/store"
)

// BenchmarkApplySnapshot100k is the full sync of the performance budget:
// a gateway holding 100,000 users, each with a PIN and a card, receives a
// snapshot of 100,000 users whose every PIN, card and name differ (budget
// ≤ 3 s, RSS ≤ 96 MiB). Each op opens a copy of a store seeded with the
// first table, as the gateway has it open after a start, and times one
// Apply from payload to ack. It reports the peak resident set (VmHWM) over
// the applies in MiB: the payload, both indexes, Badger's memtables, table
// builders and mapped tables, and the binary.
//
// It runs with no soft memory limit, under the 48 MiB limit the gateway
// sets by default (gateway.DefaultMemoryMiB) and under 64 MiB; the garbage
// collector works hard once the live heap passes the limit. cpu-ms/op is
// the process's CPU time per apply (Badger's goroutines and the collector
// included), which a busy machine does not inflate the way it does ns/op.
//
// The back-to-back case applies snapshots one after another to one store,
// so each also waits for the removal of the table the one before replaced
// and runs beside the compactions it set off: harder than a gateway's
// occasional full sync, and outside the budget, but worth watching.
func BenchmarkApplySnapshot100k(b *testing.B) {
	const users = 100_000
	seed := b.TempDir()
	seedStore(b, seed, snapshotPayload(users, 1, 0))
	limits := []struct {
		name  string
		limit int64
	}{
		{"memlimit=none", math.MaxInt64},
		{"memlimit=48MiB", 48 << 20},
		{"memlimit=64MiB", 64 << 20},
	}
	for _, bc := range limits {
		b.Run(bc.name, func(b *testing.B) {
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(bc.limit))
			p := snapshotPayload(users, 2, 2)
			b.SetBytes(int64(len(p)))
			var (
				cpu time.Duration
				hwm peak
			)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				copyStore(b, seed, dir)
				s, err := store.Open(storeOptions(dir))
				if err != nil {
					b.Fatal(err)
				}
				a := New(s, fixedNow, nil)
				hwm.reset()
				c0 := cpuTime()
				b.StartTimer()
				ack := a.Apply(p)
				b.StopTimer()
				cpu += cpuTime() - c0
				hwm.read()
				if ack.Status != StatusApplied || ack.Counts.Users != users {
					b.Fatalf("snapshot: %s %+v %+v", ack.Status, ack.Counts, ack.Error)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			hwm.report(b)
		})
	}
	b.Run("back-to-back/memlimit=48MiB", func(b *testing.B) {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
		dir := b.TempDir()
		copyStore(b, seed, dir)
		s := openStore(b, dir)
		a := New(s, fixedNow, nil)
		rev := uint64(1)
		var hwm peak
		hwm.reset()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			rev++
			// One payload at a time, as the gateway holds it.
			p := snapshotPayload(users, rev, int(rev))
			b.SetBytes(int64(len(p)))
			b.StartTimer()
			ack := a.Apply(p)
			b.StopTimer()
			if ack.Status != StatusApplied || ack.Counts.Users != users {
				b.Fatalf("snapshot %d: %s %+v %+v", rev, ack.Status, ack.Counts, ack.Error)
			}
			p = nil
			b.StartTimer()
		}
		b.StopTimer()
		hwm.read()
		hwm.report(b)
	})
}

// seedStore makes a store in dir holding the table of payload.
func seedStore(tb testing.TB, dir string, payload []byte) {
	tb.Helper()
	s, err := store.Open(storeOptions(dir))
	if err != nil {
		tb.Fatal(err)
	}
	if ack := New(s, fixedNow, nil).Apply(payload); ack.Status != StatusApplied {
		tb.Fatalf("seed snapshot: %+v", ack.Error)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// copyStore copies a closed store's directory, database and device key,
// from src to dst.
func copyStore(tb testing.TB, src, dst string) {
	tb.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatal(err)
	}
	// CopyFS loosens modes; the store wants its key private.
	if err := os.Chmod(storeOptions(dst).KeyFile, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// peak is the largest resident set seen by read since reset, in MiB, as
// far as the kernel lets a process reset its VmHWM.
type peak struct {
	mib    float64
	broken bool
}

// reset makes the next read measure from now: it hands freed memory back
// to the kernel and resets the process's VmHWM to its current RSS.
func (p *peak) reset() {
	runtime.GC()
	debug.FreeOSMemory()
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		p.broken = true
	}
}

func (p *peak) read() {
	if v, ok := vmHWM(); ok {
		p.mib = max(p.mib, v)
	} else {
		p.broken = true
	}
}

func (p *peak) report(b *testing.B) {
	if !p.broken {
		b.ReportMetric(p.mib, "VmHWM-MiB")
	}
}

// BenchmarkDecodeSnapshot100k is the decoder's share of a full sync.
func BenchmarkDecodeSnapshot100k(b *testing.B) {
	p := snapshotPayload(100_000, 1, 0)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyDelta is one small changeset, a PIN set and cleared, from
// payload to ack: the gateway's share of "one change published on the
// cloud broker → effective at the door". Each apply commits durably (the
// store syncs every write), so the disk's fsync dominates. It reports the
// median and 99th percentile of single applies.
func BenchmarkApplyDelta(b *testing.B) {
	a, _, _ := newApplier(b)
	seed := encode(b, Changeset{Revision: 1, Ops: []Op{{Kind: OpUserUpsert, User: "u1", Enabled: true}}})
	if ack := a.Apply(seed); ack.Status != StatusApplied {
		b.Fatalf("seed: %+v", ack.Error)
	}
	rev := uint64(1)
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		p := encode(b, Changeset{Revision: rev + 1, Base: rev, Ops: []Op{
			{Kind: OpPINSet, User: "u1", PIN: "482913"},
			{Kind: OpPINClear, User: "u1"},
		}})
		rev++
		start := time.Now()
		ack := a.Apply(p)
		took = append(took, time.Since(start))
		if ack.Status != StatusApplied {
			b.Fatalf("delta %d: %+v", rev, ack.Error)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// cpuTime is the CPU time the process has used, in user and system mode.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM reads the process's peak resident set from /proc/self/status, in
// MiB.
func vmHWM() (float64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, false
		}
		return kb / 1024, true
	}
	return 0, false
}
