package portal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lintel-access/lintel/sync/changeset"
)

// Publisher sends a changeset payload to a gateway: over MQTT, a QoS 1
// publish on lintel/v1/{gw}/sync/changes that returns once the broker has
// acknowledged it, as [Client.PublishChanges] does. It must be safe for
// concurrent use, and should fail fast when there is no connection: the
// Syncer resends when the gateway next announces itself.
type Publisher interface {
	PublishChanges(ctx context.Context, gateway string, payload []byte) error
}

// PublisherFunc adapts a function to a Publisher.
type PublisherFunc func(ctx context.Context, gateway string, payload []byte) error

// PublishChanges calls f.
func (f PublisherFunc) PublishChanges(ctx context.Context, gateway string, payload []byte) error {
	return f(ctx, gateway, payload)
}

// SyncConfig is how a [Syncer] reaches gateways. Publisher is required;
// every other field has a documented zero value.
type SyncConfig struct {
	Publisher Publisher

	// Snapshot returns a snapshot of gateway's table at revision rev, the
	// latest the Syncer has for it, for a gateway its history cannot bring
	// up to date: one at a revision older than the history, or at one the
	// portal never made (a gateway whose data was wiped reports 0). Nil:
	// such a gateway is only marked NeedsSnapshot.
	Snapshot func(gateway string, rev uint64) (changeset.Changeset, error)

	// History is how many of the latest deltas are kept per gateway for
	// resends. Zero: 32.
	History int

	// RetryAfter is how long a changeset may go unanswered before Retry
	// sends it again, and how long a resend from one revision holds off
	// another from the same revision (several gap acks for one loss ask
	// for one resend). Zero: 30 s.
	RetryAfter time.Duration

	// OnAck is called after each ack has been taken into the state, with
	// the ack as the gateway sent it. Nil: nothing is called.
	OnAck func(gateway string, ack changeset.Ack)

	// Now is the clock. Nil: time.Now.
	Now func() time.Time

	// Log receives a line for each resend, refusal and publish failure,
	// never a PIN. Nil discards.
	Log *slog.Logger
}

// Defaults for the zero values of SyncConfig.
const (
	DefaultHistory    = 32
	DefaultRetryAfter = 30 * time.Second
)

// GatewayState is what the Syncer knows of one gateway's table.
type GatewayState struct {
	Gateway string `json:"gateway"`
	// Latest is the latest revision the portal has for the gateway: the
	// last changeset given to Send or Broadcast (or to Track).
	Latest uint64 `json:"latest"`
	// Applied, Digest and Counts are what the gateway last said it holds,
	// from its ack. Heard says whether any ack has been seen.
	Applied uint64           `json:"applied"`
	Digest  string           `json:"digest,omitempty"`
	Counts  changeset.Counts `json:"counts"`
	Heard   bool             `json:"heard"`
	// LastStatus and LastAckAt are the status and arrival of the last ack.
	LastStatus changeset.Status `json:"last_status,omitempty"`
	LastAckAt  time.Time        `json:"last_ack_at,omitzero"`
	// SentAt is when a changeset was last published to the gateway.
	SentAt time.Time `json:"sent_at,omitzero"`
	// Sent counts changesets published, Resent those of them that were
	// resends, StaleAcks acks older than one already taken (two ingestion
	// paths delivered them out of order; they change nothing).
	Sent      uint64 `json:"sent"`
	Resent    uint64 `json:"resent"`
	StaleAcks uint64 `json:"stale_acks"`
	// PublishError is the last publish failure, empty after a success.
	PublishError string `json:"publish_error,omitempty"`
	// Refused is the last changeset the gateway refused for what it holds
	// (a PIN in use, an unknown user, ...), or nil. The Syncer then drops
	// it and everything built on it, sets Latest back to Applied and sends
	// nothing more until the portal sends a changeset built on Latest.
	Refused *Refusal `json:"refused,omitempty"`
	// NeedsSnapshot is set when the gateway is behind and neither the
	// history nor SyncConfig.Snapshot can bring it up to date.
	NeedsSnapshot bool `json:"needs_snapshot,omitempty"`
}

// InSync says whether the gateway has said it holds the latest revision.
func (g GatewayState) InSync() bool { return g.Heard && g.Applied == g.Latest }

// Refusal is a changeset a gateway refused, with the gateway's reason.
type Refusal struct {
	Revision uint64          `json:"revision"`
	Error    changeset.Error `json:"error"`
}

// A Syncer keeps a fleet's gateways at the portal's latest revision. It
// remembers, per gateway, the latest revision and the deltas that led to
// it; it reads every ack, and when an ack shows the gateway behind (a gap,
// or the current-state ack a gateway sends on every connect), it resends
// what the gateway lacks, from the revision the gateway acknowledged.
//
// All methods are safe for concurrent use. Changesets for one gateway
// leave in the order they were sent: each gateway has a lock held while
// publishing to it.
type Syncer struct {
	cfg SyncConfig
	log *slog.Logger

	// mu guards gws; each gwSync has its own lock.
	mu  sync.Mutex
	gws map[string]*gwSync
}

// gwSync is one gateway's sync state.
type gwSync struct {
	// mu guards everything below, and is held while publishing to the
	// gateway, so its changesets leave in order.
	mu      sync.Mutex
	st      GatewayState
	history []delta // oldest first; each builds on the one before
	// resentFrom and resentAt are the revision the last resend started
	// from and when, to hold off repeats.
	resentFrom uint64
	resentAt   time.Time
}

// delta is a sent delta kept for resends.
type delta struct {
	base, revision uint64
	payload        []byte
}

// NewSyncer returns a Syncer for cfg.
func NewSyncer(cfg SyncConfig) (*Syncer, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("portal: a syncer needs a Publisher")
	}
	if cfg.History < 0 || cfg.RetryAfter < 0 {
		return nil, errors.New("portal: syncer History and RetryAfter must not be negative")
	}
	cfg.History = cmp.Or(cfg.History, DefaultHistory)
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, DefaultRetryAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, log: log, gws: make(map[string]*gwSync)}, nil
}

// gateway returns the state of gw, making it on first use.
func (s *Syncer) gateway(gw string) *gwSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gws[gw]
	if g == nil {
		g = &gwSync{st: GatewayState{Gateway: gw}}
		s.gws[gw] = g
	}
	return g
}

// Track tells the Syncer of a gateway the portal holds at revision latest
// without a history to resend from, as after the portal's own restart. A
// gateway found behind it gets a snapshot (SyncConfig.Snapshot).
func (s *Syncer) Track(gw string, latest uint64) {
	g := s.gateway(gw)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.Latest = latest
	g.history = nil
}

// Send publishes cs to gateway gw and records it as the gateway's latest
// revision. A delta must build on the latest revision sent before
// (cs.Base == Latest); a snapshot must be newer than it. The changeset is
// recorded even when the publish fails: the gateway gets it when it next
// announces itself, or from Retry.
func (s *Syncer) Send(ctx context.Context, gw string, cs changeset.Changeset) error {
	payload, err := changeset.Encode(cs)
	if err != nil {
		return fmt.Errorf("portal: send %d to %q: %w", cs.Revision, gw, err)
	}
	return s.send(ctx, gw, cs, payload)
}

// broadcastParallel bounds the publishes Broadcast has in flight.
const broadcastParallel = 32

// Broadcast sends cs to every gateway in gws, as Send does, encoding it
// once. Every gateway must be at the revision cs builds on. It returns the
// failures, joined, after trying every gateway.
func (s *Syncer) Broadcast(ctx context.Context, gws []string, cs changeset.Changeset) error {
	payload, err := changeset.Encode(cs)
	if err != nil {
		return fmt.Errorf("portal: broadcast %d: %w", cs.Revision, err)
	}
	errs := make([]error, len(gws))
	var wg sync.WaitGroup
	sem := make(chan struct{}, broadcastParallel)
	for i, gw := range gws {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.send(ctx, gw, cs, payload)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Syncer) send(ctx context.Context, gw string, cs changeset.Changeset, payload []byte) error {
	g := s.gateway(gw)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case cs.Revision == 0:
		return fmt.Errorf("portal: send to %q: revision 0 (revisions start at 1)", gw)
	case cs.Snapshot && cs.Revision <= g.st.Latest:
		return fmt.Errorf("portal: send snapshot %d to %q: the gateway's latest revision is %d already", cs.Revision, gw, g.st.Latest)
	case !cs.Snapshot && cs.Base != g.st.Latest:
		return fmt.Errorf("portal: send %d to %q: it builds on %d, but the gateway's latest revision is %d", cs.Revision, gw, cs.Base, g.st.Latest)
	case !cs.Snapshot && cs.Revision <= cs.Base:
		return fmt.Errorf("portal: send %d to %q: a delta's revision must be above its base %d", cs.Revision, gw, cs.Base)
	}
	if cs.Snapshot {
		g.history = nil
	} else {
		g.history = append(g.history, delta{base: cs.Base, revision: cs.Revision, payload: payload})
		if over := len(g.history) - s.cfg.History; over > 0 {
			g.history = slices.Delete(g.history, 0, over)
		}
	}
	g.st.Latest = cs.Revision
	g.st.Refused, g.st.NeedsSnapshot = nil, false
	return s.publishLocked(ctx, g, payload, false)
}

// publishLocked publishes one payload to g's gateway and notes the outcome.
func (s *Syncer) publishLocked(ctx context.Context, g *gwSync, payload []byte, resend bool) error {
	err := s.cfg.Publisher.PublishChanges(ctx, g.st.Gateway, payload)
	g.st.SentAt = s.cfg.Now()
	if err != nil {
		g.st.PublishError = err.Error()
		return fmt.Errorf("portal: publish to %q: %w", g.st.Gateway, err)
	}
	g.st.PublishError = ""
	g.st.Sent++
	if resend {
		g.st.Resent++
	}
	return nil
}

// HandleAck takes an ack published by gateway gw (on
// lintel/v1/{gw}/sync/acks) into the gateway's state and, when it shows
// the gateway behind, resends what it lacks:
//
//   - applied and duplicate acks move Applied; nothing is resent, since
//     later changesets may simply be on their way;
//   - a current ack (the gateway has just connected) below Latest resends
//     from the ack's revision;
//   - a gap resends from the ack's revision;
//   - internal (the gateway's store failed) resends nothing now; Retry
//     does, later;
//   - any other refusal is the portal's mistake: see GatewayState.Refused.
//
// An applied, duplicate or refused ack older than one already taken is
// counted and ignored; a current ack is always taken, since a gateway
// whose data was wiped comes back at revision 0. The error is for an ack
// that cannot be read; a failed resend is only noted in the state.
func (s *Syncer) HandleAck(ctx context.Context, gw string, payload []byte) error {
	var ack changeset.Ack
	if err := json.Unmarshal(payload, &ack); err != nil {
		return fmt.Errorf("portal: ack from %q: %w", gw, err)
	}
	switch ack.Status {
	case changeset.StatusApplied, changeset.StatusDuplicate, changeset.StatusRefused, changeset.StatusCurrent:
	default:
		return fmt.Errorf("portal: ack from %q: unknown status %q", gw, ack.Status)
	}
	g := s.gateway(gw)
	g.mu.Lock()
	taken := s.takeAckLocked(ctx, g, ack)
	g.mu.Unlock()
	if taken && s.cfg.OnAck != nil {
		s.cfg.OnAck(gw, ack)
	}
	return nil
}

func (s *Syncer) takeAckLocked(ctx context.Context, g *gwSync, ack changeset.Ack) bool {
	st := &g.st
	if st.Heard && ack.Status != changeset.StatusCurrent && ack.Revision < st.Applied {
		st.StaleAcks++
		return false
	}
	st.Heard = true
	st.Applied, st.Digest, st.Counts = ack.Revision, ack.Digest, ack.Counts
	st.LastStatus, st.LastAckAt = ack.Status, s.cfg.Now()
	if st.Applied > st.Latest && ack.Status != changeset.StatusRefused {
		s.log.Warn("portal: gateway reports a revision above the portal's latest", "gateway", st.Gateway,
			"revision", st.Applied, "latest", st.Latest)
	}
	switch ack.Status {
	case changeset.StatusCurrent:
		// The gateway has just subscribed, on a clean session: whatever
		// went out before did not reach it, however recently.
		g.resentAt = time.Time{}
		s.resendLocked(ctx, g, "connected")
	case changeset.StatusRefused:
		code := changeset.Code("")
		if ack.Error != nil {
			code = ack.Error.Code
		}
		switch code {
		case changeset.CodeGap:
			s.resendLocked(ctx, g, "gap")
		case changeset.CodeInternal:
			s.log.Warn("portal: gateway could not apply a changeset; Retry resends it", "gateway", st.Gateway,
				"received", ack.Received)
		default:
			s.refusedLocked(g, ack)
		}
	}
	return true
}

// refusedLocked drops the refused changeset and what was built on it.
func (s *Syncer) refusedLocked(g *gwSync, ack changeset.Ack) {
	r := &Refusal{Revision: ack.Received}
	if ack.Error != nil {
		r.Error = *ack.Error
	}
	g.st.Refused = r
	g.history = slices.DeleteFunc(g.history, func(d delta) bool { return d.revision > g.st.Applied })
	g.st.Latest = g.st.Applied
	s.log.Error("portal: gateway refused a changeset", "gateway", g.st.Gateway, "revision", r.Revision,
		"code", r.Error.Code, "path", r.Error.Path, "err", r.Error.Message)
}

// resendLocked sends g's gateway what takes it from Applied to Latest,
// unless the same resend went out less than RetryAfter ago (callers that
// know it cannot have arrived clear resentAt first).
func (s *Syncer) resendLocked(ctx context.Context, g *gwSync, why string) {
	from := g.st.Applied
	if from >= g.st.Latest {
		return
	}
	now := s.cfg.Now()
	if g.resentFrom == from && !g.resentAt.IsZero() && now.Sub(g.resentAt) < s.cfg.RetryAfter {
		return
	}
	g.resentFrom, g.resentAt = from, now
	i := slices.IndexFunc(g.history, func(d delta) bool { return d.base == from })
	if i >= 0 {
		began := time.Now()
		for _, d := range g.history[i:] {
			if err := s.publishLocked(ctx, g, d.payload, true); err != nil {
				s.resendFailedLocked(g, err)
				return
			}
		}
		s.log.Info("portal: resent", "gateway", g.st.Gateway, "why", why, "from", from, "to", g.st.Latest,
			"changesets", len(g.history)-i, "took", time.Since(began).Round(time.Millisecond))
		return
	}
	if s.cfg.Snapshot == nil {
		g.st.NeedsSnapshot = true
		s.log.Warn("portal: gateway needs a snapshot", "gateway", g.st.Gateway, "at", from, "latest", g.st.Latest)
		return
	}
	cs, err := s.cfg.Snapshot(g.st.Gateway, g.st.Latest)
	if err == nil && (!cs.Snapshot || cs.Revision != g.st.Latest) {
		err = fmt.Errorf("got a changeset at revision %d (snapshot %v), want a snapshot at %d", cs.Revision, cs.Snapshot, g.st.Latest)
	}
	var payload []byte
	if err == nil {
		payload, err = changeset.Encode(cs)
	}
	if err != nil {
		g.st.NeedsSnapshot = true
		s.log.Error("portal: cannot make the snapshot a gateway needs", "gateway", g.st.Gateway, "err", err)
		return
	}
	g.history = nil
	g.st.NeedsSnapshot = false
	began := time.Now()
	if err := s.publishLocked(ctx, g, payload, true); err != nil {
		s.resendFailedLocked(g, err)
		return
	}
	s.log.Info("portal: resent as a snapshot", "gateway", g.st.Gateway, "why", why, "from", from, "to", g.st.Latest,
		"bytes", len(payload), "took", time.Since(began).Round(time.Millisecond))
}

// resendFailedLocked notes a resend that did not go out; the next reason
// to resend (an ack, Retry) may try again at once.
func (s *Syncer) resendFailedLocked(g *gwSync, err error) {
	g.resentAt = time.Time{}
	s.log.Warn("portal: resend failed", "gateway", g.st.Gateway, "err", err)
}

// Retry resends to every gateway that has not acknowledged its latest
// revision although the last publish to it is at least RetryAfter old,
// and returns how many it resent to. A portal calls it on a ticker; it
// catches what neither a gap nor a reconnect reveals, such as a changeset
// lost on its way to a gateway that stayed connected.
func (s *Syncer) Retry(ctx context.Context) int {
	s.mu.Lock()
	all := make([]*gwSync, 0, len(s.gws))
	for _, g := range s.gws {
		all = append(all, g)
	}
	s.mu.Unlock()
	n := 0
	for _, g := range all {
		g.mu.Lock()
		now := s.cfg.Now()
		if g.st.Applied < g.st.Latest && g.st.Refused == nil && now.Sub(g.st.SentAt) >= s.cfg.RetryAfter {
			g.resentAt = time.Time{} // a retry is due whatever the last resend was
			sent := g.st.Sent
			s.resendLocked(ctx, g, "no answer")
			if g.st.Sent > sent {
				n++
			}
		}
		g.mu.Unlock()
	}
	return n
}

// State returns what the Syncer knows of gateway gw, and false if it has
// never heard of it.
func (s *Syncer) State(gw string) (GatewayState, bool) {
	s.mu.Lock()
	g := s.gws[gw]
	s.mu.Unlock()
	if g == nil {
		return GatewayState{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.st
	if st.Refused != nil {
		r := *st.Refused
		st.Refused = &r
	}
	return st, true
}

// States returns every gateway's state, by gateway id.
func (s *Syncer) States() []GatewayState {
	s.mu.Lock()
	ids := make([]string, 0, len(s.gws))
	for id := range s.gws {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	out := make([]GatewayState, 0, len(ids))
	for _, id := range ids {
		if st, ok := s.State(id); ok {
			out = append(out, st)
		}
	}
	return out
}
