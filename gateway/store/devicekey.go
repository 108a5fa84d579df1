package store

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// deviceKeySize is the length of the key PINs are hashed under.
const deviceKeySize = 32

// CheckKeyFile reports whether keyFile may hold the device key of a store
// whose data lie under dir: it must lie outside dir. The PIN space is at
// most 10^8 and HMAC is fast, so the key is all that keeps a copy of the
// data from giving up every PIN; a copy of dir alone must not hold it.
// Symbolic links in the parts of both paths that exist are followed.
// Options.Dir is checked this way, and the gateway checks its data
// directory with it.
func CheckKeyFile(keyFile, dir string) error {
	key, err := resolvePath(keyFile)
	if err != nil {
		return fmt.Errorf("device key %s: %w", keyFile, err)
	}
	d, err := resolvePath(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if rel, err := filepath.Rel(d, key); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("the device key %s lies inside %s: keep it apart, so that a copy of the data cannot be brute-forced for PINs", keyFile, dir)
	}
	return nil
}

// resolvePath makes p absolute and follows the symbolic links of the
// longest part of it that exists.
func resolvePath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for cur := abs; ; cur = filepath.Dir(cur) {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if cur == filepath.Dir(cur) {
			return abs, nil
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
	}
}

// MoveKeyFile moves a device key from where an earlier Lintel kept it
// (inside its data directory) to keyFile, and reports whether there was one
// to move. The key is written to keyFile atomically (temporary file, fsync,
// rename, fsync of the directory) before the old file is removed and its
// directory synced, so a power cut leaves at least one whole copy. When
// keyFile exists already (a systemd credential, or a move interrupted
// after the write) and holds the same key, only the old copy is removed;
// two different keys are an error that names both, as only one of them
// opens the database.
func MoveKeyFile(from, keyFile string, log *slog.Logger) (moved bool, err error) {
	old, err := os.ReadFile(from)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("device key: %w", err)
	}
	defer clear(old)
	if len(old) != deviceKeySize {
		return false, fmt.Errorf("device key %s: %d bytes, want %d", from, len(old), deviceKeySize)
	}
	cur, err := os.ReadFile(keyFile)
	switch {
	case err == nil:
		defer clear(cur)
		if subtle.ConstantTimeCompare(cur, old) != 1 {
			return false, fmt.Errorf("device key: %s and %s are different keys; keep the one the database was made with "+
				"(Lintel refuses the other) at %s and delete the other", from, keyFile, keyFile)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := writeFileAtomic(keyFile, old, 0o600); err != nil {
			return false, fmt.Errorf("device key: move %s to %s: %w", from, keyFile, err)
		}
	default:
		return false, fmt.Errorf("device key: %w", err)
	}
	if err := os.Remove(from); err != nil {
		return false, fmt.Errorf("device key: remove %s: %w", from, err)
	}
	if err := syncDir(filepath.Dir(from)); err != nil {
		return false, fmt.Errorf("device key: remove %s: %w", from, err)
	}
	log.Warn("moved the device key out of the data directory: a copy of the data no longer holds it", "from", from, "to", keyFile)
	return true, nil
}

// InitKeyFile makes sure keyFile holds a device key, creating one (mode
// 0600, written atomically) when it does not exist, and reports whether it
// did. A file of the wrong size is an error, never replaced.
func InitKeyFile(keyFile string, log *slog.Logger) (created bool, err error) {
	_, statErr := os.Stat(keyFile)
	key, err := loadDeviceKey(keyFile, log)
	clear(key[:])
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return errors.Is(statErr, fs.ErrNotExist), nil
}

// loadDeviceKey reads the device key, creating it on first start. The key
// is made with crypto/rand and written atomically (temporary file, fsync,
// rename, fsync of the directory), so a crash leaves either no key file or
// a whole one. An existing file of the wrong size is an error, never
// replaced: replacing it would orphan every PIN in the table.
func loadDeviceKey(path string, log *slog.Logger) ([deviceKeySize]byte, error) {
	var key [deviceKeySize]byte
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != deviceKeySize {
			return key, fmt.Errorf("device key %s: %d bytes, want %d", path, len(b), deviceKeySize)
		}
		copy(key[:], b)
		clear(b)
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("device key is readable by others; restricting it to mode 0600", "path", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return key, fmt.Errorf("device key %s: %w", path, err)
			}
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return key, fmt.Errorf("device key: %w", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return key, fmt.Errorf("device key: %w", err)
	}
	if err := writeFileAtomic(path, key[:], 0o600); err != nil {
		return key, fmt.Errorf("device key: %w", err)
	}
	log.Info("created a new device key", "path", path)
	return key, nil
}

// writeFileAtomic writes data to path so that path holds either its old
// content or all of data, even across a power cut.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (a rename, a removal) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
