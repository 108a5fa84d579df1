package gateway

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/uplink"
)

// gatewayTopic is the events topic segment of events that concern no reader
// (a journal overflow, a door alarm on a door without a reader).
const gatewayTopic = "gateway"

// eventReader is the reader segment of an event's topic.
func eventReader(ev access.Event) string {
	if ev.Reader != "" {
		return ev.Reader
	}
	return gatewayTopic
}

// uplinkJournal lets the uplink read the store's journal.
type uplinkJournal struct{ s *store.Store }

var _ uplink.Journal = uplinkJournal{}

func (j uplinkJournal) After(after uint64, limit int) ([]uplink.Entry, error) {
	evs, err := j.s.Events(after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]uplink.Entry, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("journal: encode event %d: %w", ev.Seq, err)
		}
		out[i] = uplink.Entry{Seq: ev.Seq, Reader: eventReader(ev), Payload: b}
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
