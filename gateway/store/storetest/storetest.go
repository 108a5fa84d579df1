// Package storetest opens real Lintel stores for tests: a Badger database
// in a test's temporary directory, its device key beside it, closed when
// the test ends. Other packages' tests use it to run against the store the
// gateway runs, not a fake of it.
package storetest

import (
	"path/filepath"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

// GatewayID is the gateway id of stores opened by this package.
const GatewayID = "gw-test"

// Readers are the readers of the site stores of this package are opened
// for: `lintel run --sim`'s three.
var Readers = []access.ReaderConfig{
	{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
	{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
	{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
}

// Site is the doors of those readers, which policy writes are checked
// against.
func Site() access.Site { return access.NewSite([]string{"front", "side", "garage"}, Readers) }

// Options returns options for a store in a new temporary directory of t.
func Options(t testing.TB) store.Options {
	t.Helper()
	dir := t.TempDir()
	return store.Options{
		Dir:       filepath.Join(dir, "db"),
		KeyFile:   filepath.Join(dir, "device.key"),
		GatewayID: GatewayID,
		Site:      Site(),
	}
}

// Open opens a store with opts, closing it when the test ends.
func Open(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return s
}

// New opens a store in a new temporary directory, with opts applied to
// its options first.
func New(t testing.TB, opts ...func(*store.Options)) *store.Store {
	t.Helper()
	o := Options(t)
	for _, f := range opts {
		f(&o)
	}
	return Open(t, o)
}
