package uplinktest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/lintel-access/lintel/sync/uplink"
)

// FileJournal is a [MemJournal] that also keeps its entries in a file, one
// line each ("seq<TAB>reader<TAB>payload"), so a process started again
// finds them. It is a test fixture, not the gateway's journal: appends are
// not synced unless Sync is called, and payloads must be one line.
type FileJournal struct {
	*MemJournal

	mu sync.Mutex // serialises appends, so lines are in sequence order
	f  *os.File
}

var _ uplink.Journal = (*FileJournal)(nil)

// OpenFileJournal opens the journal kept in path, creating it if needed. A
// torn last line (a crash mid-append) is cut off.
func OpenFileJournal(path string) (*FileJournal, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("uplinktest: open journal: %w", err)
	}
	mem := NewMemJournal()
	whole := bytes.LastIndexByte(b, '\n') + 1
	sc := bufio.NewScanner(bytes.NewReader(b[:whole]))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := bytes.SplitN(sc.Bytes(), []byte{'\t'}, 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("uplinktest: open journal %s: line %d: want seq, reader and payload", path, line)
		}
		seq, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("uplinktest: open journal %s: line %d: %w", path, line, err)
		}
		if got := mem.Append(string(f[1]), bytes.Clone(f[2])); got != seq {
			return nil, fmt.Errorf("uplinktest: open journal %s: line %d: seq %d, want %d", path, line, seq, got)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("uplinktest: open journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("uplinktest: open journal: %w", err)
	}
	if err := f.Truncate(int64(whole)); err != nil {
		f.Close()
		return nil, fmt.Errorf("uplinktest: open journal %s: cut torn line: %w", path, err)
	}
	if _, err := f.Seek(int64(whole), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("uplinktest: open journal %s: %w", path, err)
	}
	return &FileJournal{MemJournal: mem, f: f}, nil
}

// Append adds an entry, in memory and in the file, and returns its sequence
// number.
func (j *FileJournal) Append(reader string, payload []byte) (uint64, error) {
	if bytes.ContainsAny(payload, "\n") || bytes.ContainsAny([]byte(reader), "\t\n") {
		return 0, errors.New("uplinktest: journal append: payload or reader spans lines")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appendLocked(reader, payload)
}

func (j *FileJournal) appendLocked(reader string, payload []byte) (uint64, error) {
	seq := j.MemJournal.Last() + 1
	line := fmt.Appendf(nil, "%d\t%s\t%s\n", seq, reader, payload)
	if _, err := j.f.Write(line); err != nil {
		return 0, fmt.Errorf("uplinktest: journal append %d: %w", seq, err)
	}
	j.MemJournal.Append(reader, payload)
	return seq, nil
}

// AppendEvent appends EventJSON(gw, seq, reader) and returns seq.
func (j *FileJournal) AppendEvent(gw, reader string) (uint64, error) {
	segment := reader
	if segment == "" {
		segment = "gateway"
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appendLocked(segment, EventJSON(gw, j.MemJournal.Last()+1, reader))
}

// Sync flushes the file to stable storage.
func (j *FileJournal) Sync() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("uplinktest: journal sync: %w", err)
	}
	return nil
}

// Close closes the file; the journal stays readable in memory.
func (j *FileJournal) Close() error { return j.f.Close() }
