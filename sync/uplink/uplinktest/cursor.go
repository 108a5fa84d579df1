package uplinktest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/lintel-access/lintel/sync/uplink"
)

// MemCursor is an in-memory [uplink.Cursor]. It checks the uplink's side of
// the contract: a Save that moves the cursor backwards is recorded as a
// violation (see Violations) rather than trusted.
type MemCursor struct {
	// mu guards all fields.
	mu         sync.Mutex
	seq        uint64
	saves      int
	violations []string
	failWith   error
}

var _ uplink.Cursor = (*MemCursor)(nil)

// NewMemCursor returns a cursor holding seq.
func NewMemCursor(seq uint64) *MemCursor { return &MemCursor{seq: seq} }

// Load implements [uplink.Cursor].
func (c *MemCursor) Load() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failWith != nil {
		return 0, c.failWith
	}
	return c.seq, nil
}

// Save implements [uplink.Cursor].
func (c *MemCursor) Save(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failWith != nil {
		return c.failWith
	}
	if seq < c.seq {
		c.violations = append(c.violations, fmt.Sprintf("Save(%d) after Save(%d)", seq, c.seq))
	}
	c.seq = seq
	c.saves++
	return nil
}

// Seq returns the saved sequence number.
func (c *MemCursor) Seq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Saves returns how many times Save succeeded.
func (c *MemCursor) Saves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves
}

// Violations lists the Saves that moved the cursor backwards.
func (c *MemCursor) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

// FailWith makes Load and Save return err (nil heals the cursor).
func (c *MemCursor) FailWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failWith = err
}

// FileCursor is an [uplink.Cursor] kept in one file, written durably: a
// temporary file is written, synced and renamed over the old one, and the
// directory is synced, so a crash leaves either the old value or the new.
type FileCursor struct {
	path string
	mu   sync.Mutex // serialises Saves, which share the temporary file
}

var _ uplink.Cursor = (*FileCursor)(nil)

// NewFileCursor returns a cursor kept in path. The file need not exist.
func NewFileCursor(path string) *FileCursor { return &FileCursor{path: path} }

// Load implements [uplink.Cursor]; a missing file is cursor 0.
func (c *FileCursor) Load() (uint64, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("uplinktest: load cursor: %w", err)
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("uplinktest: load cursor %s: %w", c.path, err)
	}
	return seq, nil
}

// Save implements [uplink.Cursor].
func (c *FileCursor) Save(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("uplinktest: save cursor: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(c.path))
	}
	if err != nil {
		return fmt.Errorf("uplinktest: save cursor %d: %w", seq, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
