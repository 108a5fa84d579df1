package store_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

// ioCounter reads one field of /proc/self/io; write_bytes is what this
// process sent to the block device (the SD card). Badger writes its value
// log through mmap, so write(2) counts (wchar) would miss it.
func ioCounter(b *testing.B, field string) float64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	b.Fatalf("/proc/self/io has no %s", field)
	return 0
}

// BenchmarkWriteVolume measures the bytes written per 1,000 journal events,
// the figure that decides an SD card's life. "sparse" is a door's real
// traffic: each event alone in its commit group (one fsync each), the worst
// case. "burst" appends them back to back, so the group commit batches them.
func BenchmarkWriteVolume(b *testing.B) {
	ev := access.Event{Type: access.TypeGranted, Name: access.NameGrantCardAndPIN, Reader: "front", Door: "front",
		User: "u12345", Credential: "01JCZ5Q4N7P2R9T8V6W4X2Y0Z1"}
	for _, mode := range []string{"sparse", "burst"} {
		b.Run(mode, func(b *testing.B) {
			s, err := store.Open(childOptions(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const events = 2000
			w0 := ioCounter(b, "write_bytes")
			b.ResetTimer()
			for range b.N {
				for range events {
					if _, err := s.Append(ev); err != nil {
						b.Fatal(err)
					}
					if mode == "sparse" {
						if err := s.Flush(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := s.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			per := float64(b.N) * events / 1000
			b.ReportMetric((ioCounter(b, "write_bytes")-w0)/per/1024, "disk-KiB/1k-events")
		})
	}
}
