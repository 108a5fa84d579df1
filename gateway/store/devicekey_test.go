package store_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
)

func TestCheckKeyFile(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A directory outside data that is a link into it.
	if err := os.Symlink(filepath.Join(data, "sub"), filepath.Join(base, "alias")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	tests := []struct {
		name, key string
		inside    bool
	}{
		{"beside the data dir", filepath.Join(base, "data.key"), false},
		{"elsewhere", filepath.Join(base, "etc", "device.key"), false},
		{"in the data dir", filepath.Join(data, "device.key"), true},
		{"below it", filepath.Join(data, "sub", "k"), true},
		{"the data dir itself", data, true},
		{"relative, inside", filepath.Join("data", "sub", "..", "device.key"), true},
		{"relative, beside", "data.key", false},
		{"through a link into the data dir", filepath.Join(base, "alias", "device.key"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := store.CheckKeyFile(tt.key, data)
			if got := err != nil; got != tt.inside {
				t.Fatalf("CheckKeyFile(%s, %s) = %v, want an error: %v", tt.key, data, err, tt.inside)
			}
			if err != nil && !strings.Contains(err.Error(), "lies inside") {
				t.Errorf("error %q does not say the key lies inside the directory", err)
			}
		})
	}
}

func TestMoveKeyFile(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	tests := []struct {
		name          string
		old, cur      []byte // nil: no such file
		wantMoved     bool
		wantErr       string
		wantOld       []byte // what remains at the old place
		wantCur       []byte
		wantLogsMoved bool
	}{
		{name: "nothing to move", cur: key, wantCur: key},
		{name: "first start after the upgrade", old: key, wantMoved: true, wantCur: key, wantLogsMoved: true},
		{name: "already there (a credential)", old: key, cur: key, wantMoved: true, wantCur: key, wantLogsMoved: true},
		{name: "two different keys", old: key, cur: other, wantErr: "are different keys", wantOld: key, wantCur: other},
		{name: "not a key", old: []byte("short"), wantErr: "5 bytes, want 32", wantOld: []byte("short")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			from := filepath.Join(dir, "data", "device.key")
			to := filepath.Join(dir, "etc", "device.key")
			for path, b := range map[string][]byte{from: tt.old, to: tt.cur} {
				if b == nil {
					continue
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var lb logtest.Buffer
			moved, err := store.MoveKeyFile(from, to, slog.New(slog.NewTextHandler(&lb, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MoveKeyFile: got %v, want an error saying %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("MoveKeyFile: %v", err)
			}
			if moved != tt.wantMoved {
				t.Errorf("moved = %v, want %v", moved, tt.wantMoved)
			}
			for path, want := range map[string][]byte{from: tt.wantOld, to: tt.wantCur} {
				got, err := os.ReadFile(path)
				if want == nil {
					if err == nil {
						t.Errorf("%s still exists", path)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s holds %x (%v), want %x", path, got, err, want)
				}
			}
			if tt.wantMoved {
				if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("moved key: %v, mode %v; want mode 0600", err, fi.Mode())
				}
			}
			if got := strings.Contains(lb.String(), "moved the device key out of the data directory"); got != tt.wantLogsMoved {
				t.Errorf("log says it moved the key: %v, want %v; log:\n%s", got, tt.wantLogsMoved, lb.String())
			}
		})
	}
}

func TestInitKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "device.key")
	log := slog.New(slog.DiscardHandler)
	created, err := store.InitKeyFile(path, log)
	if err != nil || !created {
		t.Fatalf("first InitKeyFile = %v, %v; want a new key", created, err)
	}
	first, err := os.ReadFile(path)
	if err != nil || len(first) != 32 {
		t.Fatalf("key file: %d bytes, %v", len(first), err)
	}
	created, err = store.InitKeyFile(path, log)
	if err != nil || created {
		t.Fatalf("second InitKeyFile = %v, %v; want the existing key kept", created, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
		t.Errorf("InitKeyFile replaced an existing key")
	}
}
