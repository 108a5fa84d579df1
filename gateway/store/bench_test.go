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
// run under with n users: the store alone, without the rest of the
// gateway that shares the gateway's 48 MiB default, and with a million
// users the memory_limit_mib the package documentation recommends, above
// the index's 100 MiB (a limit below the live heap has the collector run
// without pause).
func recommendedMemoryLimit(n int) int64 {
	if n > 100_000 {
		return 160 << 20
	}
	return 64 << 20
}

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

// benchUsers are n users with a PIN, a card and two of the benchmark
// policy's levels (storetest.BenchUserTwoLevels): the table of the
// budget's memory and decision rows.
func benchUsers(n int, tag int) iter.Seq[store.SnapshotUser] {
	return func(yield func(store.SnapshotUser) bool) {
		for i := range n {
			u := store.SnapshotUser{
				User: access.User{ID: fmt.Sprintf("user-%07d", i), Name: fmt.Sprintf("Benchmark User %d", i), Enabled: true,
					Levels: storetest.BenchUserTwoLevels(i)},
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

// timeOps times op(i) for each of b.N operations, checking each result
// with check outside the timing, after warming up as a gateway that has
// been deciding for a while is: the heap the timed operations allocate
// into, and the sample they are written to, are faulted in (a page fault
// costs 10 to 50 µs on the shared CI machine; after twice as many
// operations as are timed, few of the timed ones meet one), then collected.
func timeOps[T any](b *testing.B, op func(i int) T, check func(i int, got T)) latencies {
	lat := make(latencies, min(b.N, 1<<21))
	for i := range 2 * len(lat) {
		check(i, op(i))
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		got := op(i)
		d := time.Since(t0)
		if i < len(lat) {
			lat[i] = d
		}
		check(i, got)
	}
	b.StopTimer()
	return lat
}

// latencyRounds is how many rounds a sample is cut into for its
// percentiles.
const latencyRounds = 10

// report reports the sample's median, 99th and 99.9th percentiles, each
// the median over latencyRounds consecutive rounds of the sample: on a
// shared machine one collection or one descheduling of the benchmark then
// moves one round's figure, not the row's. With 200,000 decisions a
// round's p99.9 is its 20th-slowest of 20,000.
func (l *latencies) report(b *testing.B) {
	if len(*l) == 0 {
		return
	}
	rounds := latencyRounds
	if len(*l) < rounds*1000 {
		rounds = 1
	}
	size := len(*l) / rounds
	per := make([][3]float64, rounds)
	for r := range rounds {
		s := slices.Clone((*l)[r*size : (r+1)*size])
		slices.Sort(s)
		at := func(q float64) float64 { return float64(s[min(len(s)-1, int(q*float64(len(s))))].Nanoseconds()) }
		per[r] = [3]float64{at(0.50), at(0.99), at(0.999)}
	}
	median := func(k int) float64 {
		v := make([]float64, rounds)
		for r := range per {
			v[r] = per[r][k]
		}
		slices.Sort(v)
		return v[rounds/2]
	}
	b.ReportMetric(median(0), "p50-ns")
	b.ReportMetric(median(1), "p99-ns")
	b.ReportMetric(median(2), "p99.9-ns")
}

// BenchmarkDecide measures one access decision — the engine over the
// store's in-memory directory, deciding by the benchmark policy (64 doors,
// 256 schedules of 8 intervals, 1,000 levels of 8 doors, users holding two
// of them) — with 100k and 1M users: a card at a card_or_pin reader, a PIN
// at the same reader, and a card followed by its holder's PIN at a
// card_and_pin reader. Every decision walks the user's levels to the one
// whose schedule is active. Each case first decides twice as many times
// untimed, so that its heap is warm. The percentiles are medians over
// rounds (latencies.report); the budget's row is users=1000k's p99.9-ns,
// the largest of the three.
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
					lat := timeOps(b, c.op, func(i int, a access.Action) {
						if a != access.ActionGrant {
							b.Fatalf("decision %d: %v, want grant", i, a)
						}
					})
					lat.report(b)
					b.ReportMetric(rss, "RSS-MiB")
				})
			}
		})
	}
}

// BenchmarkLookup measures the store's share of a decision, Card and PIN
// (the HMAC of the digits included) on the index of 1M users, as
// BenchmarkDecide times the whole decision: twice as many lookups untimed
// first, percentiles as medians over rounds.
func BenchmarkLookup(b *testing.B) {
	const n = 1_000_000
	dir := populated(b, n)
	s, err := store.Open(childOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pins := make([][]byte, 4096)
	cards := make([]access.CardKey, len(pins))
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range pins {
		u := rng.IntN(n)
		pins[i], cards[i] = []byte(benchPIN(u)), benchCard(u)
	}
	cases := []struct {
		name string
		op   func(i int) bool
	}{
		{"card", func(i int) bool { _, ok := s.Card(cards[i%len(cards)]); return ok }},
		{"pin", func(i int) bool { _, ok := s.PIN(pins[i%len(pins)]); return ok }},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("users=%dk/%s", n/1000, c.name), func(b *testing.B) {
			lat := timeOps(b, c.op, func(i int, ok bool) {
				if !ok {
					b.Fatalf("lookup %d found nobody", i)
				}
			})
			lat.report(b)
		})
	}
}

// BenchmarkOpen measures the store's cold start with 100k and 1M users:
// Open in a fresh process, from the call until the index is ready for
// decisions, the pages of the tables read and the load's garbage handed
// back (Open does both before it returns). Each op is one child process;
// cold-start-ms is the median of the ops' Open and cpu-ms/op the CPU time
// of Open (the process's, so Badger's goroutines count too). The budget's
// row is users=1000k's cold-start-ms.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%dk", n/1000), func(b *testing.B) {
			dir := populated(b, n)
			var took, cpu []float64
			for range b.N {
				out := runChildBench(b, "open", dir, n)
				var ms, cpuMS float64
				var users int
				if _, err := fmt.Sscanf(out, "open %f cpu %f users %d", &ms, &cpuMS, &users); err != nil {
					b.Fatalf("child said %q: %v", out, err)
				}
				if users != n {
					b.Fatalf("%d users after Open, want %d", users, n)
				}
				took, cpu = append(took, ms), append(cpu, cpuMS)
			}
			slices.Sort(took)
			b.ReportMetric(took[len(took)/2], "cold-start-ms")
			var sum float64
			for _, c := range cpu {
				sum += c
			}
			b.ReportMetric(sum/float64(len(cpu)), "cpu-ms/op")
		})
	}
}

// runChildBench runs this test binary as a child in mode on the store in
// dir with n users, under the memory limit recommended for n, and returns
// its last line.
func runChildBench(b *testing.B, mode, dir string, n int) string {
	b.Helper()
	cmd := selfCommand(context.Background(), "-test.run=^TestBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildDir+"="+dir,
		fmt.Sprintf("GOMEMLIMIT=%dMiB", recommendedMemoryLimit(n)>>20))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" && t != "PASS" {
			last = t
		}
	}
	return last
}

// BenchmarkReplaceAll100k measures a full snapshot of 100k users and the
// process's peak RSS while it runs (VmHWM, reset before the first one),
// under a 64 MiB memory limit. The budget's full sync, through the
// applier, is BenchmarkApplySnapshot100k in package changeset.
func BenchmarkReplaceAll100k(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(recommendedMemoryLimit(100_000)))
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
// budget, with RssAnon (the index, Badger's memtable, the Go runtime)
// and RssFile (the test binary, and what is mapped of Badger's files)
// beside it. The child runs under recommendedMemoryLimit. The budget's
// row is users=1000k's RSS-MiB.
func BenchmarkIdleRSS(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%dk", n/1000), func(b *testing.B) {
			dir := populated(b, n)
			var rss, heap, anon, file float64
			for range b.N {
				out := runChildBench(b, "rss", dir, n)
				if _, err := fmt.Sscanf(out, "rss %f heap %f anon %f file %f", &rss, &heap, &anon, &file); err != nil {
					b.Fatalf("child said %q: %v", out, err)
				}
			}
			b.ReportMetric(rss, "RSS-MiB")
			b.ReportMetric(heap, "heap-MiB")
			b.ReportMetric(anon, "RssAnon-MiB")
			b.ReportMetric(file, "RssFile-MiB")
		})
	}
}

// TestBenchChild is the child of BenchmarkIdleRSS and BenchmarkOpen; it
// does nothing unless started by runChildBench.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(envChildMode)
	if mode != "rss" && mode != "open" {
		return
	}
	c0, t0 := cpuTime(), time.Now()
	s, err := store.Open(childOptions(os.Getenv(envChildDir)))
	took, cpu := time.Since(t0), cpuTime()-c0
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if mode == "open" {
		fmt.Printf("open %.1f cpu %.1f users %d\n", float64(took.Microseconds())/1000, float64(cpu.Microseconds())/1000, s.Counts().Users)
		return
	}
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
