package uplinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/lintel-access/lintel/sync/uplink"
)

// MemJournal is an in-memory [uplink.Journal] with gap-free sequence numbers
// from 1. Appends never wait for readers: they take a mutex for the length
// of a slice append, and wake waiters by closing a channel.
type MemJournal struct {
	// mu guards entries, first and wake.
	mu      sync.Mutex
	first   uint64 // seq of entries[0]; entries before it were dropped
	entries []uplink.Entry
	wake    chan struct{} // closed by the next append; nil when nobody waits
}

var _ uplink.Journal = (*MemJournal)(nil)

// NewMemJournal returns an empty journal; its first entry will be seq 1.
func NewMemJournal() *MemJournal { return &MemJournal{first: 1} }

// Append adds an entry for reader with payload (kept, not copied) and
// returns its sequence number.
func (j *MemJournal) Append(reader string, payload []byte) uint64 {
	j.mu.Lock()
	seq := j.first + uint64(len(j.entries))
	j.entries = append(j.entries, uplink.Entry{Seq: seq, Reader: reader, Payload: payload})
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
	j.mu.Unlock()
	return seq
}

// AppendEvent appends an event of gateway gw at reader as the gateway would
// journal it (see EventJSON) and returns its sequence number. An empty
// reader makes a gateway event, published under the "gateway" segment.
func (j *MemJournal) AppendEvent(gw, reader string) uint64 {
	j.mu.Lock()
	seq := j.first + uint64(len(j.entries))
	segment := reader
	if segment == "" {
		segment = "gateway"
	}
	j.entries = append(j.entries, uplink.Entry{Seq: seq, Reader: segment, Payload: EventJSON(gw, seq, reader)})
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
	j.mu.Unlock()
	return seq
}

// Last returns the sequence number of the newest entry, or 0.
func (j *MemJournal) Last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastLocked()
}

func (j *MemJournal) lastLocked() uint64 { return j.first + uint64(len(j.entries)) - 1 }

// Entry returns the entry with sequence seq, if the journal holds it.
func (j *MemJournal) Entry(seq uint64) (uplink.Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq < j.first || seq > j.lastLocked() {
		return uplink.Entry{}, false
	}
	return j.entries[seq-j.first], true
}

// DropThrough removes the entries up to and including seq, as retention
// does; later sequence numbers are unchanged.
func (j *MemJournal) DropThrough(seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq < j.first {
		return
	}
	n := min(seq-j.first+1, uint64(len(j.entries)))
	j.entries = append([]uplink.Entry(nil), j.entries[n:]...)
	j.first += n
}

// After implements [uplink.Journal].
func (j *MemJournal) After(after uint64, limit int) ([]uplink.Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	i := uint64(0)
	if after >= j.first {
		i = after - j.first + 1
	}
	if i >= uint64(len(j.entries)) {
		return nil, nil
	}
	end := min(i+uint64(limit), uint64(len(j.entries)))
	return append([]uplink.Entry(nil), j.entries[i:end]...), nil
}

// Wait implements [uplink.Journal].
func (j *MemJournal) Wait(ctx context.Context, after uint64) error {
	for {
		j.mu.Lock()
		if len(j.entries) > 0 && j.lastLocked() > after {
			j.mu.Unlock()
			return nil
		}
		if j.wake == nil {
			j.wake = make(chan struct{})
		}
		wake := j.wake
		j.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// Event is the part of an event payload the tests look at.
type Event struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id"`
	Reader string `json:"reader"`
}

// eventEpoch is the time of event 0 in EventJSON.
var eventEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// EventJSON returns the journal payload of a grant event number seq of
// gateway gw at reader, in the shape of DESIGN.md's event, with a time
// derived from seq so the payload is reproducible. An empty reader makes a
// gateway event without reader or door.
func EventJSON(gw string, seq uint64, reader string) []byte {
	t := eventEpoch.Add(time.Duration(seq) * time.Millisecond).Format(time.RFC3339Nano)
	if reader == "" {
		return fmt.Appendf(nil, `{"seq":%d,"id":"%s-%d","time":%q,"type":"gateway.started","name":"Gateway Started"}`, seq, gw, seq, t)
	}
	return fmt.Appendf(nil, `{"seq":%d,"id":"%s-%d","time":%q,"type":"access.granted","name":"Grant Access","reader":%q,"door":%q,"user":"u%d"}`,
		seq, gw, seq, t, reader, reader, seq%1000)
}

// ParseEvent reads the sequence number, id and reader of an event payload.
func ParseEvent(payload []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, fmt.Errorf("uplinktest: parse event %q: %w", payload, err)
	}
	return e, nil
}
