package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store/storetest"
	"github.com/lintel-access/lintel/sync/changeset"
)

// snapshotJSON is a changeset snapshot of n users, each with one card, an
// eight-digit PIN and two access levels (storetest.BenchUserTwoLevels),
// with the benchmark policy for the simulator's doors (256 schedules,
// 1,000 levels; storetest.BenchPolicy).
func snapshotJSON(tb testing.TB, n int) []byte {
	tb.Helper()
	users := make([]changeset.SnapshotUser, n)
	for i := range users {
		users[i] = changeset.SnapshotUser{
			User: access.User{ID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("User %d", i), Enabled: true,
				Levels: storetest.BenchUserTwoLevels(i)},
			PIN:         benchPIN(i),
			Credentials: []access.Credential{{ID: fmt.Sprintf("c%d", i), Card: access.CardKey{Format: "H10301", Facility: uint32(i / 65536), Number: uint64(i % 65536)}}},
		}
	}
	b, err := changeset.Encode(changeset.Changeset{Revision: 1, Snapshot: true,
		Policy: changeset.PolicyOf(storetest.BenchPolicy(storetest.Site())), Users: users})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchPIN is user i's PIN: 8 digits, distinct for every i below 10^8
// (7919 is prime to 10^8), and never one too easy to guess.
func benchPIN(i int) string {
	pin := fmt.Sprintf("%08d", (i*7919+12345)%100_000_000)
	if access.IsTrivial(pin) { // a handful in 100k: move them far away
		pin = fmt.Sprintf("%08d", (i*7919+12345+50_000_000)%100_000_000)
	}
	return pin
}

// idleRSS is a started gateway's RSS once idle: sampled every half second
// from 3 s after the start, until it has not fallen for 2 s (the store
// drops Badger's table pages and the garbage of a compaction a second or
// two after it settles), for at most 30 s.
func idleRSS(tb testing.TB, pid int) float64 {
	time.Sleep(3 * time.Second)
	low, since := vmRSS(tb, pid), 0
	for range 54 {
		time.Sleep(500 * time.Millisecond)
		now := vmRSS(tb, pid)
		if now < low-0.25 {
			low, since = now, 0
			continue
		}
		if since++; since == 4 {
			return now
		}
	}
	return vmRSS(tb, pid)
}

func vmRSS(t testing.TB, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// BenchmarkGateway100k measures the real binary with 100k users (one card,
// one PIN and two access levels each, under the benchmark policy; see
// snapshotJSON): the RSS of `lintel run` once idle (idle-rss-MiB, the
// largest over the ops, see idleRSS; budget ≤ 48 MiB) and the cold start, from exec to /healthz answering that the
// doors are operational (cold-start-max-ms, the worst of the ops; budget
// ≤ 200 ms).
func BenchmarkGateway100k(b *testing.B) {
	dir := b.TempDir()
	g := startGateway(b, dir)
	tok, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+g.api+"/api/v1/sync/changes", bytes.NewReader(snapshotJSON(b, 100_000)))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("snapshot: %s", resp.Status)
	}
	g.stop(b)

	var starts []time.Duration
	var rss float64
	b.ResetTimer()
	for range b.N {
		begin := time.Now()
		p := startGateway(b, dir)
		starts = append(starts, time.Since(begin))
		b.StopTimer()
		rss = max(rss, idleRSS(b, p.cmd.Process.Pid))
		p.stop(b)
		b.StartTimer()
	}
	b.StopTimer()
	var worst time.Duration
	for _, d := range starts {
		worst = max(worst, d)
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "cold-start-max-ms")
	b.ReportMetric(rss, "idle-rss-MiB")
}
