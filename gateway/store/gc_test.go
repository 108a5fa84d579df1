package store

import (
	"path/filepath"
	"testing"
)

func TestGCOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "key"), GatewayID: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.gcOnce(); err != nil {
		t.Errorf("gcOnce on an open store = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.gcOnce(); err != nil {
		t.Errorf("gcOnce on a closed store = %v, want nil", err)
	}
}
