package gateway

import (
	"cmp"
	"context"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/uplink"
)

// gatewayTopic is the events topic segment of events that concern no reader
// (a journal overflow, a door alarm on a door without a reader).
const gatewayTopic = "gateway"

// eventReader is the reader segment of an event's topic.
func eventReader(ev access.Event) string { return readerSegment(ev.Reader) }

// readerSegment is the topic segment of the events of reader ("" for none).
func readerSegment(reader string) string { return cmp.Or(reader, gatewayTopic) }

// uplinkJournal lets the uplink read the store's journal.
type uplinkJournal struct{ s *store.Store }

var _ uplink.Journal = uplinkJournal{}

// After hands the uplink each event as journaled, without decoding and
// encoding it again: the journal's JSON is the payload.
func (j uplinkJournal) After(after uint64, limit int) ([]uplink.Entry, error) {
	evs, err := j.s.EventsJSON(after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]uplink.Entry, len(evs))
	for i, ev := range evs {
		out[i] = uplink.Entry{Seq: ev.Seq, Reader: readerSegment(ev.Reader), Payload: ev.JSON}
	}
	return out, nil
}

func (j uplinkJournal) Wait(ctx context.Context, after uint64) error { return j.s.Wait(ctx, after) }

// uplinkCursor keeps the uplink's place in the store, so retention knows
// which events the cloud has.
type uplinkCursor struct{ s *store.Store }

var _ uplink.Cursor = uplinkCursor{}

func (c uplinkCursor) Load() (uint64, error) { return c.s.Cursor(store.CursorUplink) }
func (c uplinkCursor) Save(seq uint64) error { return c.s.SetCursor(store.CursorUplink, seq) }
