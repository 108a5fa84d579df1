package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

// gauge returns the value of a metric from the gateway's registry: the
// one whose labels include the given name=value pairs.
func gauge(t *testing.T, g *Gateway, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				match := false
				for _, lp := range m.GetLabel() {
					match = match || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !match {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s %v", name, labels)
	return 0
}

// TestFullDiskKeepsDoorsWorking is finding 5 of the security review seen
// from the appliance: with its data directory on a 16 MiB disk that fills
// up, the gateway refuses the write, goes on granting from memory, shows
// the fault in the status, the retained health summary and /metrics, and
// writes the held events once the disk has room again.
func TestFullDiskKeepsDoorsWorking(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.MkdirAll(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=16m")
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("cannot test a full disk: mounting a tmpfs is refused here (%v); run the test as root", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(disk, syscall.MNT_DETACH) })

	cfg := SimDefaults()
	cfg.Gateway.DataDir = filepath.Join(disk, "lintel-data")
	cfg.Gateway.KeyFile = filepath.Join(t.TempDir(), "device.key")
	cfg.Gateway.MinFreeMiB = 4
	g, _ := runUntilStopped(t, cfg, Options{})
	b := (*backend)(g)
	enrol(t, g, "ann", access.CardKey{Format: "H10301", Facility: 1, Number: 100}, "")
	if err := g.store.Flush(); err != nil {
		t.Fatal(err)
	}

	// Something else takes the disk down to 3 MiB, below the 4 MiB reserve.
	var st syscall.Statfs_t
	if err := syscall.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, int(st.Bavail*uint64(st.Bsize))-3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = b.PutUser("test", access.User{ID: "bob", Name: "Bob", Enabled: true}, access.AllFields)
	if !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("PutUser on a full disk: got %v, want ErrDiskFull", err)
	}

	// The door still opens for ann; the grant waits in memory.
	granted := gauge(t, g, "lintel_decisions_total", "result", "granted")
	if err := g.hw.sim.Card("garage", "H10301", 1, 100); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, g, "lintel_decisions_total", "result", "granted") == granted {
		if time.Now().After(deadline) {
			t.Fatal("no grant 10s after the card on a full disk")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d, _ := g.hw.door("garage"); d.door.Status().Locked {
		t.Errorf("the garage door stayed locked for ann's card on a full disk")
	}

	status := g.status()
	if !status.Storage.Full || !strings.Contains(status.Storage.Fault, "below the 4.0 MiB reserve") ||
		status.Storage.MinFreeBytes != 4<<20 || status.Journal.Pending == 0 {
		t.Errorf("status on a full disk: storage %+v, journal %+v", status.Storage, status.Journal)
	}
	if h := g.health(); !h.StorageFull || h.Pending == 0 {
		t.Errorf("health summary on a full disk: %+v", h)
	}
	if got := gauge(t, g, "lintel_storage_full"); got != 1 {
		t.Errorf("lintel_storage_full = %v on a full disk, want 1", got)
	}
	if got := gauge(t, g, "lintel_journal_pending"); got == 0 {
		t.Errorf("lintel_journal_pending = 0 with the grant waiting in memory")
	}

	// Space returns: the next write finds it, and the held events land.
	start := g.store.JournalStats().Last
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutUser("test", access.User{ID: "bob", Name: "Bob", Enabled: true}, access.AllFields); err != nil {
		t.Fatalf("PutUser once the disk has room: %v", err)
	}
	waitEvent(t, g, start, func(ev access.Event) bool { return ev.User == "ann" && ev.Type == access.TypeGranted })
	waitEvent(t, g, start, named(store.NameStorageRecovered))
	if got := gauge(t, g, "lintel_storage_full"); got != 0 {
		t.Errorf("lintel_storage_full = %v after recovery, want 0", got)
	}
}
