package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// deviceKeySize is the length of the key PINs are hashed under.
const deviceKeySize = 32

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
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
