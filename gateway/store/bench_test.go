package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// Populated stores are expensive (a million users), so each size is built
// once per test binary run and shared by the benchmarks that need it.
var (
	populatedMu   sync.Mutex
	populatedDirs = map[int]string{}
	benchRoot     string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

// recommendedMemoryLimit is the GOMEMLIMIT the store's memory benchmarks
// run under: the store alone, without the rest of the gateway that shares
// the gateway's 48 MiB default.
const recommendedMemoryLimit = 64 << 20

// benchPIN is user i's PIN: 8 digits, distinct for every i below 10^8
// (7919 is prime to 10^8).
func benchPIN(i int) string {
	pin := fmt.Sprintf("%08d", (i*7919+12345)%100_000_000)
	if access.IsTrivial(pin) { // a handful in a million: move them far away
		pin = fmt.Sprintf("%08d", (i*7919+12345+50_000_000)%100_000_000)
	}
	return pin
}

// benchCard is user i's card, as a 26-bit H10301 reader would see it.
func benchCard(i int) access.CardKey {
	return access.CardKey{Format: "H10301", Facility: uint32(i >> 16), Number: uint64(i & 0xFFFF)}
}

// benchUsers are n users with a PIN, a card and 1 to 8 of the benchmark
// policy's levels (storetest.BenchUserLevels).
func benchUsers(n int, tag int) iter.Seq[store.SnapshotUser] {
	return func(yield func(store.SnapshotUser) bool) {
		for i := range n {
			u := store.SnapshotUser{
				User: access.User{ID: fmt.Sprintf("user-%07d", i), Name: fmt.Sprintf("Benchmark User %d", i), Enabled: true,
					Levels: storetest.BenchUserLevels(i)},
				PIN:         benchPIN(i + tag),
				Credentials: []access.Credential{{ID: fmt.Sprintf("cred-%07d", i), Card: benchCard(i + tag)}},
			}
			if !yield(u) {
				return
			}
		}
	}
}

// populated returns the directory of a store with n users.
func populated(b *testing.B, n int) string {
	b.Helper()
	populatedMu.Lock()
	defer populatedMu.Unlock()
	if dir, ok := populatedDirs[n]; ok {
		return dir
	}
	if benchRoot == "" {
		root, err := os.MkdirTemp("", "lintel-store-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchRoot = root
	}
	dir := filepath.Join(benchRoot, strconv.Itoa(n))
	s, err := store.Open(childOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := s.ReplaceAllSeq(1, storetest.BenchPolicy(storetest.BenchSite()), benchUsers(n, 0)); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("populated %d users in %v", n, time.Since(start).Round(time.Millisecond))
	populatedDirs[n] = dir
	return dir
}

// procStatus reads a "Vm..." line of /proc/self/status in MiB.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}

// cpuTime returns the process's user and system CPU time so far. On a
// shared machine it shows what an operation costs when wall time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies keeps a sample of per-operation times.
type latencies []time.Duration

func (l *latencies) report(b *testing.B) {
	if len(*l) == 0 {
		return
	}
	s := slices.Clone(*l)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[min(len(s)-1, int(q*float64(len(s))))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(at(0.999), "p99.9-ns")
}

// BenchmarkDecide measures one access decision — the engine over the
// store's in-memory directory, deciding by the benchmark policy (64 doors,
// 256 schedules of 8 intervals, 1,000 levels, users holding 1 to 8) — with
// 100k and 1M users: a card at a card_or_pin reader, a PIN at the same
// reader, and a card followed by its holder's PIN at a card_and_pin reader.
// Every decision walks the user's levels to one whose schedule is active.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%dk", n/1000), func(b *testing.B) {
			dir := populated(b, n)
			s, err := store.Open(childOptions(dir))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			runtime.GC()
			rss := procStatus("VmRSS")
			site := storetest.BenchSite()
			doors := make([]string, len(site.Doors))
			for i, d := range site.Doors {
				doors[i] = d.Name
			}
			e, err := access.NewEngine(access.EngineConfig{Directory: s, Readers: storetest.BenchReaders, Doors: doors,
				Guesses: access.GuessBudget{Attempts: 1 << 30}})
			if err != nil {
				b.Fatal(err)
			}
			e.SetClock(access.ClockState{Trusted: true})
			if w := e.SetPolicy(s.Policy()); len(w) > 0 {
				b.Fatalf("policy warnings: %v", w)
			}
			pins := make([][]byte, 4096)
			cards := make([]access.CardKey, len(pins))
			rng := rand.New(rand.NewPCG(7, 8))
			for i := range pins {
				u := rng.IntN(n)
				pins[i], cards[i] = []byte(benchPIN(u)), benchCard(u)
			}
			now := storetest.BenchNow
			cases := []struct {
				name string
				op   func(i int) access.Action
			}{
				{"card", func(i int) access.Action {
					r, _ := e.Card(now, "front", cards[i%len(cards)])
					return r.Action
				}},
				{"pin", func(i int) access.Action {
					r, _ := e.PIN(now, "front", pins[i%len(pins)])
					return r.Action
				}},
				{"card+pin", func(i int) access.Action {
					k := i % len(cards)
					if r, _ := e.Card(now, "cp", cards[k]); r.Action != access.ActionAwaitPIN {
						return r.Action
					}
					r, _ := e.PIN(now, "cp", pins[k])
					return r.Action
				}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					lat := make(latencies, 0, min(b.N, 1<<20))
					b.ReportAllocs()
					b.ResetTimer()
					for i := range b.N {
						t0 := time.Now()
						a := c.op(i)
						d := time.Since(t0)
						if len(lat) < cap(lat) {
							lat = append(lat, d)
						}
						if a != access.ActionGrant {
							b.Fatalf("decision %d: %v, want grant", i, a)
						}
					}
					b.StopTimer()
					lat.report(b)
					b.ReportMetric(rss, "RSS-MiB")
				})
			}
		})
	}
}

// BenchmarkOpen measures a cold start with 100k users: Open until the
// index is ready for decisions.
func BenchmarkOpen(b *testing.B) {
	dir := populated(b, 100_000)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		c0 := cpuTime()
		s, err := store.Open(childOptions(dir))
		cpu += cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := s.Counts().Users; got != 100_000 {
			b.Fatalf("%d users after Open", got)
		}
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkReplaceAll100k measures a full snapshot of 100k users and the
// process's peak RSS while it runs (VmHWM, reset before the first one),
// under a 64 MiB memory limit. The budget's full sync, through the
// applier, is BenchmarkApplySnapshot100k in package changeset.
func BenchmarkReplaceAll100k(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(recommendedMemoryLimit))
	dir := b.TempDir()
	s, err := store.Open(childOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	runtime.GC()
	debug.FreeOSMemory()
	base := procStatus("VmRSS")
	resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	c0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		if err := s.ReplaceAllSeq(uint64(i+1), storetest.BenchPolicy(storetest.BenchSite()), benchUsers(100_000, i%2)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(base, "base-RSS-MiB")
	if resetHWM == nil {
		b.ReportMetric(procStatus("VmHWM"), "peak-RSS-MiB")
	}
}

// BenchmarkAppend measures the journal's append rate, including the
// commit of the last group.
func BenchmarkAppend(b *testing.B) {
	s, err := store.Open(childOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := access.Event{Type: access.TypeGranted, Name: access.NameGrantCard, Reader: "front", Door: "front", User: "user-0000042", Credential: "cred-0000042"}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := s.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkIdleRSS opens a populated store in a fresh process and reports
// its resident memory once idle: the store's share of the gateway's RSS
// budget. The child runs with GOMEMLIMIT=64MiB (recommendedMemoryLimit).
func BenchmarkIdleRSS(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%dk", n/1000), func(b *testing.B) {
			dir := populated(b, n)
			var rss, heap, anon, file float64
			for range b.N {
				cmd := selfCommand(context.Background(), "-test.run=^TestRSSChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), envChildMode+"=rss", envChildDir+"="+dir, "GOMEMLIMIT=64MiB")
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				sc := bufio.NewScanner(bytes.NewReader(out))
				for sc.Scan() {
					fmt.Sscanf(sc.Text(), "rss %f heap %f anon %f file %f", &rss, &heap, &anon, &file)
				}
			}
			b.ReportMetric(rss, "RSS-MiB")
			b.ReportMetric(heap, "heap-MiB")
			b.ReportMetric(anon, "RssAnon-MiB")
			b.ReportMetric(file, "RssFile-MiB")
		})
	}
}

// TestRSSChild is BenchmarkIdleRSS's child.
func TestRSSChild(t *testing.T) {
	if os.Getenv(envChildMode) != "rss" {
		return
	}
	s, err := store.Open(childOptions(os.Getenv(envChildDir)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Idle means settled: Badger's compaction after Open has finished and
	// its pooled buffers (released one per 2 s idle) are gone. Sample until
	// the RSS stops falling, for at most 40 s.
	var rss, heap float64
	for i := 0; i < 40; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		now := procStatus("VmRSS")
		if i >= 12 && now >= rss-0.5 {
			rss = now
			break
		}
		rss, heap = now, float64(ms.HeapAlloc)/(1<<20)
		time.Sleep(time.Second)
	}
	fmt.Printf("rss %.1f heap %.1f anon %.1f file %.1f\n", rss, heap, procStatus("RssAnon"), procStatus("RssFile"))
}
