package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimKeepsItsKeyBesideTheData: `lintel run --sim` keeps the device key
// in lintel-data.key, beside lintel-data and not in it, so that copying
// lintel-data copies no key.
func TestSimKeepsItsKeyBesideTheData(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir)
	g.stop(t)
	fi, err := os.Stat(filepath.Join(dir, "lintel-data.key"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("lintel-data.key: %v; want a 32-byte file of mode 0600", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lintel-data", "device.key")); err == nil {
		t.Errorf("lintel-data/device.key exists: the key must not be in the data directory")
	}
}

// TestKeyInit runs `lintel key init` as the package's lintel-key.service
// does: it moves a key an earlier version left in the data directory to
// gateway.key_file, and a second run keeps it.
func TestKeyInit(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	keyFile := filepath.Join(dir, "etc", "device.key")
	example, err := exec.Command(binary, "config", "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), `data_dir = "/var/lib/lintel"`, `data_dir = "`+data+`"`, 1)
	cfg = strings.Replace(cfg, `key_file = "/etc/lintel/device.key"`, `key_file = "`+keyFile+`"`, 1)
	conf := filepath.Join(dir, "lintel.toml")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte{42}, 32)
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "device.key"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"the device key is at " + keyFile, "the device key is at " + keyFile} {
		out, err := exec.Command(binary, "key", "init", "--config", conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("run %d of key init: %v\n%s\nwant %q", i+1, err, out, want)
		}
		if i == 0 && !strings.Contains(string(out), "moved the device key out of the data directory") {
			t.Errorf("key init did not say it moved the key:\n%s", out)
		}
	}
	if got, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(got, old) {
		t.Errorf("%s holds %x (%v), want the old key", keyFile, got, err)
	}
	if _, err := os.Stat(filepath.Join(data, "device.key")); err == nil {
		t.Errorf("the old key is still in the data directory")
	}
}
