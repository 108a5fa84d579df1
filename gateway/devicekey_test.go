package gateway

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
)

// runUntilStopped runs a simulated gateway on cfg and returns it once its
// doors are operational, with the function that stops it.
func runUntilStopped(t testing.TB, cfg *Config, opts Options) (*Gateway, func()) {
	t.Helper()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Gateway, 1)
	done := make(chan error, 1)
	go func() {
		opts.Sim = true
		opts.Out = cmp.Or[io.Writer](opts.Out, io.Discard)
		opts.Logger = cmp.Or(opts.Logger, quietLogger())
		opts.onReady = func(g *Gateway) { ready <- g }
		done <- Run(ctx, cfg, opts)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case g := <-ready:
		return g, stop
	case err := <-done:
		stopped = true
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start within 30s")
	}
	return nil, nil
}

// attackCopy is the attack of the finding: with a copy of a data directory,
// look in it for the device key (any 32-byte file that opens the copied
// database: Open checks the key) and, with a key, test every PIN of the
// given lengths against the copy's table. It returns the PINs found, by
// user id, and whether a key was found at all. extraKey, when set, is
// tried too: the attacker who also has the key's partition or credential.
func attackCopy(t testing.TB, copyDir, extraKey string, lengths ...int) (found map[string]string, keyFound bool) {
	t.Helper()
	var candidates []string
	err := filepath.WalkDir(copyDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() && info.Size() == 32 {
			candidates = append(candidates, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if extraKey != "" {
		candidates = append(candidates, extraKey)
	}
	for _, c := range candidates {
		// The store wants its key outside its directory: copy it out.
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		key := filepath.Join(t.TempDir(), "candidate.key")
		if err := os.WriteFile(key, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(store.Options{Dir: filepath.Join(copyDir, dbDir), KeyFile: key, GatewayID: "attacker", MinFree: -1})
		if err != nil {
			continue // not the key
		}
		found = map[string]string{}
		digits := make([]byte, 0, access.MaxPINLength)
		for _, n := range lengths {
			limit := 1
			for range n {
				limit *= 10
			}
			for v := range limit {
				digits = strconv.AppendInt(digits[:0], int64(v), 10)
				for len(digits) < n {
					digits = append([]byte{'0'}, digits...)
				}
				if h, ok := s.PIN(digits); ok {
					found[h.User.ID] = string(digits)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return found, true
	}
	return nil, false
}

// copyTree copies a directory of regular files, as a backup would.
func copyTree(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// containsKey reports whether any file under dir holds the key's bytes.
func containsKey(t *testing.T, dir string, key []byte) bool {
	t.Helper()
	hit := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hit = hit || bytes.Contains(b, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hit
}

// legacyStore makes a data directory as Lintel kept it before the key
// moved out: the key in DataDir/device.key, beside the database.
func legacyStore(t *testing.T, data string, pins map[string]string) {
	t.Helper()
	s, err := store.Open(store.Options{Dir: filepath.Join(data, dbDir), KeyFile: filepath.Join(data, legacyKeyFile), GatewayID: "lintel-sim"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *store.Tx) error {
		for id, pin := range pins {
			if _, err := tx.PutUser(access.User{ID: id, Name: id, Enabled: true}); err != nil {
				return err
			}
			if err := tx.SetPIN(id, pin); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPINsAtRestDataDirCopyHoldsNoKey is finding 2 of the security review:
// device.key sat beside the database, and all 200,002 PINs of a copy of the
// data directory were recovered in 32 s. Now the key lives outside the data
// directory in every layout (the --sim default, a configured key_file, a
// systemd credential, and a data directory of an earlier version, whose key
// is moved out on the first start), so the same attack on a copy of the
// data directory finds no key and no PIN; with the key it finds them all.
func TestPINsAtRestDataDirCopyHoldsNoKey(t *testing.T) {
	pins := map[string]string{}
	for i := range 20 {
		pin := fmt.Sprintf("%04d", 1000+i*397)
		if access.IsTrivial(pin) { // 6161 is a repeated block; the next one is free
			pin = fmt.Sprintf("%04d", 1001+i*397)
		}
		pins[fmt.Sprintf("u%d", i)] = pin
	}
	tests := []struct {
		name string
		// setup returns the config; it may prepare files and the
		// environment.
		setup func(t *testing.T, base string) *Config
		// enrol: whether the test enrols the PINs through the running
		// gateway (else setup put them in an earlier version's layout).
		enrol bool
		// wantMoved: the log says the key moved out of the data dir.
		wantMoved bool
	}{
		{
			name: "sim default, beside lintel-data",
			setup: func(t *testing.T, base string) *Config {
				cfg := SimDefaults()
				cfg.Gateway.DataDir = filepath.Join(base, "lintel-data")
				return cfg
			},
			enrol: true,
		},
		{
			name: "gateway.key_file",
			setup: func(t *testing.T, base string) *Config {
				cfg := SimDefaults()
				cfg.Gateway.DataDir = filepath.Join(base, "var", "lib", "lintel")
				cfg.Gateway.KeyFile = filepath.Join(base, "etc", "lintel", "device.key")
				return cfg
			},
			enrol: true,
		},
		{
			name: "systemd credential",
			setup: func(t *testing.T, base string) *Config {
				creds := filepath.Join(base, "credentials")
				if _, err := store.InitKeyFile(filepath.Join(creds, CredentialDeviceKey), quietLogger()); err != nil {
					t.Fatal(err)
				}
				t.Setenv("CREDENTIALS_DIRECTORY", creds)
				cfg := SimDefaults()
				cfg.Gateway.DataDir = filepath.Join(base, "var", "lib", "lintel")
				return cfg
			},
			enrol: true,
		},
		{
			name: "upgrade from a key in the data dir",
			setup: func(t *testing.T, base string) *Config {
				cfg := SimDefaults()
				cfg.Gateway.DataDir = filepath.Join(base, "var", "lib", "lintel")
				cfg.Gateway.KeyFile = filepath.Join(base, "etc", "lintel", "device.key")
				legacyStore(t, cfg.Gateway.DataDir, pins)
				return cfg
			},
			wantMoved: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			cfg := tt.setup(t, base)
			var lb logtest.Buffer
			g, stop := runUntilStopped(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&lb, nil))})
			if tt.enrol {
				b := (*backend)(g)
				for id, pin := range pins {
					if _, err := b.PutUser("test", access.User{ID: id, Name: id, Enabled: true}, access.AllFields); err != nil {
						t.Fatal(err)
					}
					if err := b.SetPIN("test", id, pin); err != nil {
						t.Fatal(err)
					}
				}
			}
			for id, pin := range pins {
				if h, ok := g.store.PIN([]byte(pin)); !ok || h.User.ID != id {
					t.Fatalf("the running gateway does not find %s's PIN: %+v, %v", id, h.User, ok)
				}
			}
			stop()
			keyPath, _ := deviceKeyPath(cfg)
			key, err := os.ReadFile(keyPath)
			if err != nil || len(key) != 32 {
				t.Fatalf("device key %s: %d bytes, %v", keyPath, len(key), err)
			}
			if got := strings.Contains(lb.String(), "moved the device key out of the data directory"); got != tt.wantMoved {
				t.Errorf("the log says the key moved: %v, want %v", got, tt.wantMoved)
			}
			if containsKey(t, cfg.Gateway.DataDir, key) {
				t.Fatalf("a file in the data directory %s holds the device key", cfg.Gateway.DataDir)
			}

			stolen := filepath.Join(t.TempDir(), "copy")
			copyTree(t, cfg.Gateway.DataDir, stolen)
			if found, keyFound := attackCopy(t, stolen, "", 4); keyFound || len(found) > 0 {
				t.Fatalf("a copy of the data directory gave the key away (%v) and %d of %d PINs", keyFound, len(found), len(pins))
			}
			// The attack works once the key is there too: the copy alone
			// is what it lacks.
			found, keyFound := attackCopy(t, stolen, keyPath, 4)
			if !keyFound || len(found) != len(pins) {
				t.Fatalf("with the key the attack found it %v and %d of %d PINs; the test's attack is broken", keyFound, len(found), len(pins))
			}
			for id, pin := range pins {
				if found[id] != pin {
					t.Errorf("with the key, user %s's PIN came out as %q", id, found[id])
				}
			}
		})
	}
}

// TestDeviceKeyMoveRefusesTwoKeys: an old key left in the data directory
// that differs from the one in key_file stops the start with an error that
// names both, and touches neither.
func TestDeviceKeyMoveRefusesTwoKeys(t *testing.T) {
	base := t.TempDir()
	cfg := SimDefaults()
	cfg.Gateway.DataDir = filepath.Join(base, "data")
	cfg.Gateway.KeyFile = filepath.Join(base, "etc", "device.key")
	legacyStore(t, cfg.Gateway.DataDir, map[string]string{"u1": "4829"})
	if _, err := store.InitKeyFile(cfg.Gateway.KeyFile, quietLogger()); err != nil {
		t.Fatal(err)
	}
	_, err := prepareDeviceKey(cfg, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "are different keys") {
		t.Fatalf("prepareDeviceKey with two different keys: %v", err)
	}
	for _, p := range []string{cfg.Gateway.KeyFile, filepath.Join(cfg.Gateway.DataDir, legacyKeyFile)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; both keys must stay", p, err)
		}
	}
}

func TestInitDeviceKey(t *testing.T) {
	base := t.TempDir()
	cfg := SimDefaults()
	cfg.Gateway.DataDir = filepath.Join(base, "data")
	cfg.Gateway.KeyFile = filepath.Join(base, "etc", "device.key")
	legacyStore(t, cfg.Gateway.DataDir, map[string]string{"u1": "4829"})
	old, err := os.ReadFile(filepath.Join(cfg.Gateway.DataDir, legacyKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	path, created, err := InitDeviceKey(cfg, quietLogger())
	if err != nil || created || path != cfg.Gateway.KeyFile {
		t.Fatalf("InitDeviceKey over an old layout = %s, %v, %v; want the old key moved to %s", path, created, err, cfg.Gateway.KeyFile)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Errorf("the moved key differs from the old one")
	}
	if _, err := os.Stat(filepath.Join(cfg.Gateway.DataDir, legacyKeyFile)); err == nil {
		t.Errorf("the old key is still in the data directory")
	}
	fresh := SimDefaults()
	fresh.Gateway.DataDir = filepath.Join(base, "fresh")
	fresh.Gateway.KeyFile = filepath.Join(base, "fresh-etc", "device.key")
	if _, created, err := InitDeviceKey(fresh, quietLogger()); err != nil || !created {
		t.Fatalf("InitDeviceKey on a fresh install = %v, %v; want a new key", created, err)
	}
}

// TestKeyFileInsideDataDirIsRefused: config check refuses a key_file in
// the data directory, naming the key, and takes one beside or elsewhere.
func TestKeyFileInsideDataDirIsRefused(t *testing.T) {
	tests := []struct {
		keyFile, wantErr string
	}{
		{`"/var/lib/lintel/device.key"`, `gateway.key_file: the device key /var/lib/lintel/device.key lies inside /var/lib/lintel`},
		{`"/var/lib/lintel/keys/k"`, `gateway.key_file: the device key /var/lib/lintel/keys/k lies inside /var/lib/lintel`},
		{`"/var/lib/lintel"`, `gateway.key_file: the device key /var/lib/lintel lies inside /var/lib/lintel`},
		{`"/var/lib/lintel.key"`, ""},
		{`"/etc/lintel/device.key"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.keyFile, func(t *testing.T) {
			b := bytes.Replace(ExampleConfig(), []byte(`key_file = "/etc/lintel/device.key"`), []byte("key_file = "+tt.keyFile), 1)
			_, err := ParseConfig("lintel.toml", b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ParseConfig: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ParseConfig: got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// The simulator's default is beside its data directory, wherever
	// --data puts it.
	cfg := SimDefaults()
	cfg.Gateway.DataDir = "/tmp/somewhere/lintel-data/"
	if got, want := cfg.DeviceKeyFile(), "/tmp/somewhere/lintel-data.key"; got != want {
		t.Errorf("sim key file for data dir %s: %s, want %s", cfg.Gateway.DataDir, got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("sim config with --data: %v", err)
	}
}

// BenchmarkPINRecoveryFromDataDirCopy measures the finding's attack over
// the whole PIN space (every length from 4 to 8, 111,110,000 candidates)
// on one core, against a copy of a data directory holding 200,002 users
// with a PIN each: once on the copy alone (the layout now), once with the
// key beside the data as it used to be (DataDir/device.key). Run it with
// -benchtime=1x; it takes about a minute.
func BenchmarkPINRecoveryFromDataDirCopy(b *testing.B) {
	const users = 200_002
	base := b.TempDir()
	cfg := SimDefaults()
	cfg.Gateway.DataDir = filepath.Join(base, "var", "lib", "lintel")
	cfg.Gateway.KeyFile = filepath.Join(base, "etc", "lintel", "device.key")
	g, stop := runUntilStopped(b, cfg, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	taken := map[string]bool{}
	snap := make([]store.SnapshotUser, 0, users)
	for i := range users {
		var pin string
		for pin == "" || taken[pin] {
			n := 4 + rng.IntN(5)
			pin = fmt.Sprintf("%0*d", n, rng.IntN(int(math.Pow10(n))))
		}
		taken[pin] = true
		snap = append(snap, store.SnapshotUser{User: access.User{ID: fmt.Sprintf("u%06d", i), Enabled: true}, PIN: pin})
	}
	if err := g.store.ReplaceAll(1, nil, snap); err != nil {
		b.Fatal(err)
	}
	stop()
	stolen := filepath.Join(b.TempDir(), "copy")
	copyTree(b, cfg.Gateway.DataDir, stolen)
	b.ResetTimer()
	for range b.N {
		for _, run := range []struct {
			name, key string
		}{{"copy-alone", ""}, {"copy-with-key-beside", cfg.Gateway.KeyFile}} {
			start, cpu0 := time.Now(), cpuTime(b)
			found, keyFound := attackCopy(b, stolen, run.key, 4, 5, 6, 7, 8)
			took, cpu := time.Since(start), cpuTime(b)-cpu0
			b.Logf("%s: key found %v, %d of %d PINs recovered in %.1f s (%.1f s of CPU)",
				run.name, keyFound, len(found), users, took.Seconds(), cpu.Seconds())
			b.ReportMetric(float64(len(found)), run.name+"-pins")
			b.ReportMetric(took.Seconds(), run.name+"-s")
			b.ReportMetric(cpu.Seconds(), run.name+"-cpu-s")
		}
	}
}

// cpuTime is the CPU time this process has used: on a shared machine a
// fairer measure of the attack's cost than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
