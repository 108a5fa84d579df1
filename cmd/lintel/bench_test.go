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
)

// snapshotJSON is a changeset snapshot of n users, each with one card and
// an eight-digit PIN.
func snapshotJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"revision":1,"snapshot":true,"users":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"u%d","name":"User %d","enabled":true,"pin":"%08d","credentials":[{"id":"c%d","card":{"format":"H10301","facility":%d,"number":%d}}]}`,
			i, i, 20000000+i, i, i/65536, i%65536)
	}
	b.WriteString(`]}`)
	return b.Bytes()
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

// BenchmarkGateway100k measures the real binary with 100k users (one card
// and one PIN each): the RSS of `lintel run` once idle (budget ≤ 64 MiB)
// and the cold start, from exec to /healthz answering that the doors are
// operational (budget ≤ 500 ms).
func BenchmarkGateway100k(b *testing.B) {
	dir := b.TempDir()
	g := startGateway(b, dir)
	tok, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+g.api+"/api/v1/sync/changes", bytes.NewReader(snapshotJSON(100_000)))
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
		time.Sleep(3 * time.Second) // idle: the store's loading garbage is collected
		rss = max(rss, vmRSS(b, p.cmd.Process.Pid))
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
