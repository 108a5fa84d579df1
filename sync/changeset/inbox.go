package changeset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Inbox limits. They bound what changesets waiting to be applied may cost
// the gateway, whichever transport brought them; the changeset being
// applied counts until its ack is made. When nothing is waiting or being
// applied, one changeset of any size the payload limits allow is taken,
// so a snapshot always gets in on a quiet inbox; the most the inbox ever
// holds is then one snapshot being applied and DefaultInboxBytes behind it.
const (
	// DefaultInboxChangesets is how many changesets may wait behind the
	// one being applied.
	DefaultInboxChangesets = 1024
	// DefaultInboxBytes is how many payload bytes the changesets waiting
	// and being applied may hold together: eight full deltas.
	DefaultInboxBytes = 8 << 20
)

// InboxConfig says how an [Inbox] works. The zero value of each field is
// documented.
type InboxConfig struct {
	// MaxChangesets is how many changesets may wait behind the one
	// being applied. Zero means DefaultInboxChangesets.
	MaxChangesets int
	// MaxBytes is how many payload bytes they may hold together, the
	// one being applied included; a changeset that arrives when nothing
	// waits or is being applied is taken whatever its size. Zero means
	// DefaultInboxBytes.
	MaxBytes int
	// OnApplied, when set, is called on the inbox's worker with the
	// actor, the ack and what changed of every changeset applied, before
	// the reply. The gateway journals its audit event there. It must not
	// block for long: the next changeset waits for it.
	OnApplied func(actor string, ack Ack, changes Changes)
	// Log receives a line when the inbox starts and stops refusing
	// changesets because it is full. Nil discards.
	Log *slog.Logger
}

// Inbox is the one way changesets reach the [Applier]: every transport (the
// uplink, the embedded broker, HTTP) submits to it, and one worker, [Inbox.Run],
// applies them one at a time in the order they were submitted. It is
// bounded by count and bytes; a changeset that does not fit is refused at
// once with code busy, never queued, never dropped without an ack. Submit
// never blocks, so it may be called from a transport's delivery goroutine.
//
// Submit is safe for concurrent use; Run is called once.
type Inbox struct {
	applier   *Applier
	maxBytes  int
	onApplied func(string, Ack, Changes)
	log       *slog.Logger

	// queue holds the waiting changesets, in arrival order; its capacity
	// is the count limit.
	queue chan submission

	// mu guards bytes, stopped and the refusing state; Submit holds it
	// while it queues, so the queue's order is the order Submit got it.
	mu       sync.Mutex
	bytes    int  // payload bytes queued or being applied
	stopped  bool // Run has ended: everything is refused
	refusing bool // the last Submit was refused because the inbox was full
	refused  int  // how many were refused since refusing became true

	running atomic.Bool
	busy    atomic.Uint64 // changesets refused because the inbox was full
	applied atomic.Uint64 // changesets whose ack said applied
}

// submission is one changeset waiting for the worker.
type submission struct {
	actor   string
	payload []byte
	reply   func(Ack)
}

// NewInbox returns an inbox in front of a. Nothing is applied until Run.
func NewInbox(a *Applier, cfg InboxConfig) (*Inbox, error) {
	if a == nil {
		return nil, errors.New("changeset: an inbox needs an applier")
	}
	if cfg.MaxChangesets == 0 {
		cfg.MaxChangesets = DefaultInboxChangesets
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultInboxBytes
	}
	if cfg.MaxChangesets < 1 || cfg.MaxBytes < 1 {
		return nil, fmt.Errorf("changeset: inbox: MaxChangesets %d, MaxBytes %d: must be at least 1", cfg.MaxChangesets, cfg.MaxBytes)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Inbox{applier: a, maxBytes: cfg.MaxBytes, onApplied: cfg.OnApplied, log: cfg.Log,
		queue: make(chan submission, cfg.MaxChangesets)}, nil
}

// Submit hands payload to the inbox on behalf of actor, who is named in
// the audit of the changeset (e.g. "portal", "local-broker:alice"; never a
// secret). It never blocks. reply is called exactly once with the ack:
//
//   - later, on the worker's goroutine, once the changeset was applied,
//     found a duplicate or refused by the applier;
//   - or before Submit returns, on the caller's goroutine, when the inbox
//     refuses it unread: busy (the inbox is full, or not running any
//     more) or too_large (no changeset can be that big).
//
// reply must not block for long: the worker waits for it. The inbox keeps
// payload until the changeset is applied; the caller must not modify it.
func (in *Inbox) Submit(actor string, payload []byte, reply func(Ack)) {
	if len(payload) > MaxPayload+MaxSignatureLine {
		reply(in.applier.refuseNow(&Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"the payload is %d bytes; a changeset may be at most %d bytes (%d for a delta)",
			len(payload), MaxPayload, MaxDeltaPayload)}))
		return
	}
	if e := in.enqueue(submission{actor: actor, payload: payload, reply: reply}); e != nil {
		in.busy.Add(1)
		reply(in.applier.refuseNow(e))
	}
}

// enqueue queues s, or says why it cannot.
func (in *Inbox) enqueue(s submission) *Error {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := len(s.payload)
	switch {
	case in.stopped:
		return &Error{Code: CodeBusy, Message: "the gateway is shutting down and applies no more changesets: resend once it is back"}
	case in.bytes > 0 && in.bytes+n > in.maxBytes:
		return in.fullLocked(fmt.Sprintf("%d bytes are waiting to be applied and this changeset has %d; the inbox holds at most %d, or one changeset of any size when it is empty", in.bytes, n, in.maxBytes))
	}
	select {
	case in.queue <- s:
	default:
		return in.fullLocked(fmt.Sprintf("%d changesets are waiting to be applied, the most the inbox holds", cap(in.queue)))
	}
	in.bytes += n
	if in.refusing {
		in.log.Info("sync: inbox accepts changesets again", "refused", in.refused)
		in.refusing, in.refused = false, 0
	}
	return nil
}

func (in *Inbox) fullLocked(why string) *Error {
	if !in.refusing {
		in.log.Warn("sync: inbox full, refusing changesets as busy", "why", why)
		in.refusing = true
	}
	in.refused++
	return &Error{Code: CodeBusy, Message: "the gateway is busy: " + why + "; resend this changeset after the ack of an earlier one"}
}

// Run applies the submitted changesets one at a time, in order, until ctx
// is done; then it refuses, with busy, every changeset still waiting and
// every later one, so that each Submit gets its reply. It returns nil when
// ctx ends, or an error at once if Run was called before.
func (in *Inbox) Run(ctx context.Context) error {
	if !in.running.CompareAndSwap(false, true) {
		return errors.New("changeset: inbox: Run was called before")
	}
	defer in.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-in.queue:
			ack, changes := in.applier.apply(s.payload)
			in.mu.Lock()
			in.bytes -= len(s.payload)
			in.mu.Unlock()
			if ack.Status == StatusApplied {
				in.applied.Add(1)
				if in.onApplied != nil {
					in.onApplied(s.actor, ack, changes)
				}
			}
			s.reply(ack)
		}
	}
}

// stop refuses what is still queued and everything submitted from now on.
func (in *Inbox) stop() {
	in.mu.Lock()
	in.stopped = true
	in.mu.Unlock()
	// Nothing is queued after stopped is set, so this drains for good.
	for {
		select {
		case s := <-in.queue:
			in.mu.Lock()
			in.bytes -= len(s.payload)
			in.mu.Unlock()
			in.busy.Add(1)
			s.reply(in.applier.refuseNow(&Error{Code: CodeBusy, Message: "the gateway stopped before it applied this changeset: resend once it is back"}))
		default:
			return
		}
	}
}

// InboxStats are the inbox's counters.
type InboxStats struct {
	// Waiting is the changesets queued now, behind the one being
	// applied; Bytes is their payload bytes and that one's.
	Waiting int
	Bytes   int
	// Applied counts changesets applied since start; Busy those refused
	// because the inbox was full or stopped.
	Applied uint64
	Busy    uint64
}

// Stats returns the inbox's counters.
func (in *Inbox) Stats() InboxStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return InboxStats{Waiting: len(in.queue), Bytes: in.bytes, Applied: in.applied.Load(), Busy: in.busy.Load()}
}

// Transport is an inbox as a transport sees it: the uplink's
// uplink.SyncHandler, whose changesets all come from one actor.
type Transport struct {
	Inbox *Inbox
	// Actor is who the transport's changesets come from, as the audit
	// names them ("portal" for the uplink).
	Actor string
}

// SubmitChanges submits payload to the inbox and replies with its ack as
// JSON.
func (t Transport) SubmitChanges(payload []byte, reply func(ack []byte)) {
	t.Inbox.Submit(t.Actor, payload, func(a Ack) { reply(MarshalAck(a)) })
}

// CurrentAck is the applier's current ack, as JSON.
func (t Transport) CurrentAck() []byte { return t.Inbox.applier.CurrentAck() }
