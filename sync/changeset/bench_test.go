package changeset

import (
	"bufio"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkApplySnapshot100k is the full sync of the performance budget:
// a snapshot of 100,000 users, each with a PIN and a card, through Apply
// onto a table of 100,000 other users (budget ≤ 3 s, RSS ≤ 96 MiB). It
// reports the peak resident set (VmHWM) of the timed applies in MiB: the
// payload, both table generations' indexes and Badger's memtables.
//
// It runs with no soft memory limit, under the 48 MiB limit the gateway
// sets by default (gateway.DefaultMemoryMiB) and under the 64 MiB the
// store's documentation recommends; the garbage collector works hard once
// the live heap passes the limit. cpu-ms/op is the process's CPU time per
// apply (Badger's goroutines and the collector included), which a busy
// machine does not inflate the way it does ns/op.
func BenchmarkApplySnapshot100k(b *testing.B) {
	for _, bc := range []struct {
		name  string
		limit int64
	}{
		{"memlimit=none", math.MaxInt64},
		{"memlimit=48MiB", 48 << 20},
		{"memlimit=64MiB", 64 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const users = 100_000
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(bc.limit))
			a, _, _ := newApplier(b)
			if ack := a.Apply(snapshotPayload(users, 1, 0)); ack.Status != StatusApplied {
				b.Fatalf("seed snapshot: %+v", ack.Error)
			}
			rev := uint64(1)
			debug.FreeOSMemory()
			hwmReset := resetHWM()
			var cpu time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				rev++
				// One payload at a time, as the gateway holds it.
				p := snapshotPayload(users, rev, int(rev))
				b.SetBytes(int64(len(p)))
				c0 := cpuTime()
				b.StartTimer()
				ack := a.Apply(p)
				b.StopTimer()
				cpu += cpuTime() - c0
				if ack.Status != StatusApplied || ack.Counts.Users != users {
					b.Fatalf("snapshot %d: %s %+v %+v", rev, ack.Status, ack.Counts, ack.Error)
				}
				p = nil
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			if hwm, ok := vmHWM(); ok && hwmReset {
				b.ReportMetric(hwm, "VmHWM-MiB")
			}
		})
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

// resetHWM resets the process's peak resident set to its current one, so
// that VmHWM measures from here. It reports whether the kernel allowed it.
func resetHWM() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
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
