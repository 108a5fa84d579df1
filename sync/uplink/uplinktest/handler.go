package uplinktest

import (
	"fmt"
	"sync"

	"github.com/lintel-access/lintel/sync/uplink"
)

// Handler is an [uplink.SyncHandler] that records every changeset and
// counts them as revisions: the n-th changeset is acknowledged with
// {"revision":n}, at once, and CurrentAck reports the last one.
type Handler struct {
	// mu guards got.
	mu  sync.Mutex
	got [][]byte
}

var _ uplink.SyncHandler = (*Handler)(nil)

// SubmitChanges implements [uplink.SyncHandler]: it records payload and
// replies before it returns.
func (h *Handler) SubmitChanges(payload []byte, reply func([]byte)) {
	reply(h.HandleChanges(payload))
}

// HandleChanges records payload and returns its ack.
func (h *Handler) HandleChanges(payload []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, append([]byte(nil), payload...))
	return Ack(len(h.got))
}

// CurrentAck implements [uplink.SyncHandler].
func (h *Handler) CurrentAck() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Ack(len(h.got))
}

// Changes returns the changesets handled so far, in order.
func (h *Handler) Changes() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.got...)
}

// Ack is the payload Handler acknowledges revision n with.
func Ack(n int) []byte { return fmt.Appendf(nil, `{"revision":%d}`, n) }
