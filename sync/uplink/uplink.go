package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/topic"
)

// Entry is one journal record ready to publish.
type Entry struct {
	Seq     uint64 // gap-free, increasing
	Reader  string // topic segment: the event's reader, or "gateway" for events with none
	Payload []byte // the event JSON exactly as journaled
}

// Journal is the gateway's event journal, as the uplink reads it. The uplink
// never writes to it and never holds anything of it between calls, so a
// stalled cloud broker cannot slow an append. Safe for concurrent use.
type Journal interface {
	// After returns up to limit entries with Seq > after, in order. It may
	// return fewer than limit, or none when nothing newer exists. Entries
	// removed by retention are simply absent; the uplink logs the gap and
	// carries on. The uplink does not modify the returned entries.
	After(after uint64, limit int) ([]Entry, error)
	// Wait blocks until an entry with Seq > after exists or ctx is done,
	// and returns ctx.Err() in the second case. It returns at once when
	// such an entry already exists.
	Wait(ctx context.Context, after uint64) error
}

// Cursor persists the last sequence the cloud broker acknowledged. Safe for
// concurrent use.
//
// The uplink calls Save only with increasing values, after the PUBACKs of
// every event up to seq have arrived, one call at a time, from a goroutine
// of its own: a slow Save holds up nothing but the next Save. It skips
// values (it saves the latest at most every 50 ms, and when Run ends).
// Save should be durable when it returns; a cursor that lags only costs
// duplicates after a restart, never losses.
type Cursor interface {
	// Load returns the last saved sequence, or 0 when none was saved.
	Load() (uint64, error)
	Save(seq uint64) error
}

// SyncHandler takes the changesets arriving on the sync topic and reports
// the current ack. It must be safe for concurrent use.
//
// The uplink calls SubmitChanges from paho's delivery goroutine, one
// changeset at a time, in arrival order; it must not block, since that
// goroutine also delivers the PUBACKs of events. The handler keeps the
// order (the gateway's sync inbox applies changesets one at a time in the
// order they were submitted) and calls reply exactly once with the ack,
// later from a goroutine of its own or at once, before SubmitChanges
// returns, when it refuses the changeset unread. reply never blocks; a nil
// ack publishes nothing.
type SyncHandler interface {
	SubmitChanges(payload []byte, reply func(ack []byte))
	// CurrentAck is published on every connect: the applied revision. Nil
	// publishes nothing.
	CurrentAck() []byte
}

// State is a snapshot of the uplink for the status page and metrics.
type State struct {
	// Connected says whether a connection to the cloud broker is up.
	Connected bool `json:"connected"`
	// Since is when Connected last changed; zero before the first
	// connection attempt has ended either way.
	Since time.Time `json:"since,omitzero"`
	// Cursor is the last sequence the cloud broker acknowledged, with
	// every sequence before it.
	Cursor uint64 `json:"cursor"`
	// LastError describes the last failure (connection, publish, journal or
	// cursor), LastErrorAt says when. Empty when there was none.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Reconnects counts connection attempts after the first.
	Reconnects uint64 `json:"reconnects"`
	// Published counts events the cloud broker acknowledged since start,
	// resends included.
	Published uint64 `json:"published"`
	// AcksDropped counts sync acks dropped because acks were being made
	// faster than the connection took them (see the package
	// documentation).
	AcksDropped uint64 `json:"acks_dropped"`
}

// acksQueue is how many sync acks may wait to be published.
const acksQueue = 256

// shutdownTimeout bounds the orderly goodbye on shutdown: publishing the
// retained "offline" status and the MQTT DISCONNECT.
const shutdownTimeout = time.Second

// disconnectQuiesce is how long paho may take to write the DISCONNECT.
const disconnectQuiesce = 250 // ms

// Uplink forwards the journal to the cloud broker and takes changesets from
// it. Create it with New, run it with Run; State and SetRetained may be
// called from any goroutine at any time.
type Uplink struct {
	cfg      Config // with defaults applied
	url      string // cfg.URL with the default port filled in
	password string // cfg.Password, or what cfg.PasswordFile holds
	tls      *tls.Config
	gw       string
	topics   topics
	clientID string
	journal  Journal
	cursor   Cursor
	handler  SyncHandler // nil: no sync over this uplink
	log      *slog.Logger

	// acks carries sync acks from the handler's replies to the goroutine
	// that publishes them, in the order they were made.
	acks chan []byte
	// retainedKick wakes the live session to publish dirty retained
	// topics. Capacity 1: one pending wake-up covers any number of calls.
	retainedKick chan struct{}
	// saveKick wakes the cursor saver when the cursor moved. Capacity 1,
	// likewise.
	saveKick chan struct{}

	running atomic.Bool // Run is in progress

	// mu guards state, retained, dirty and live.
	mu       sync.Mutex
	state    State
	retained map[string][]byte   // topic → payload, republished on every connect
	dirty    map[string]struct{} // retained topics changed since last published
	live     *conn               // the connection acks go out on; nil when down

	// ackMu serialises publications on sync/acks, so the CurrentAck
	// announced on connect is never published after, and older than, an
	// ack of a changeset applied since.
	ackMu sync.Mutex
}

// New checks cfg and returns an Uplink for gateway gatewayID that reads j,
// keeps its place in c and hands changesets to h. A nil h means no sync
// over this uplink (the sync topic is not subscribed). log is used as given
// (the caller adds any component attribute); nil discards.
func New(cfg Config, gatewayID string, j Journal, c Cursor, h SyncHandler, log *slog.Logger) (*Uplink, error) {
	if err := topic.CheckID(gatewayID); err != nil {
		return nil, fmt.Errorf("uplink: gateway id %w", err)
	}
	tp, err := newTopics(gatewayID)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if j == nil || c == nil {
		return nil, errors.New("uplink: a journal and a cursor are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bu, err := cfg.brokerURL()
	if err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	id := cfg.ClientID
	if id == "" {
		id = gatewayID
	}
	return &Uplink{
		cfg:          cfg.withDefaults(),
		url:          bu.String(),
		password:     pw,
		tls:          tc,
		gw:           gatewayID,
		topics:       tp,
		clientID:     id,
		journal:      j,
		cursor:       c,
		handler:      h,
		log:          log,
		acks:         make(chan []byte, acksQueue),
		retainedKick: make(chan struct{}, 1),
		saveKick:     make(chan struct{}, 1),
		retained:     make(map[string][]byte),
		dirty:        make(map[string]struct{}),
	}, nil
}

// State returns a snapshot of the uplink's state.
func (u *Uplink) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

// SetRetained sets the retained payload of topic name, the gateway's status
// (topic.Status) or a door's state (topic.Door). It is published at once
// when connected and again on every connect, so the cloud always holds the
// latest value, even after its broker lost its retained messages. It never
// blocks on the network: a door may call it. Any other topic is logged and
// ignored.
func (u *Uplink) SetRetained(name string, payload []byte) {
	if err := checkRetained(u.gw, name); err != nil {
		u.log.Warn("retained message ignored", "err", err)
		return
	}
	p := append([]byte(nil), payload...)
	u.mu.Lock()
	u.retained[name] = p
	u.dirty[name] = struct{}{}
	u.mu.Unlock()
	select {
	case u.retainedKick <- struct{}{}:
	default:
	}
}

// Run connects to the cloud broker and forwards the journal until ctx is
// done, reconnecting with backoff after every failure, forever. It returns
// nil once ctx is done, or an error at once if Run is already running.
// Leaving takes about a second at most (awaiting the PUBACKs in flight,
// then the "offline" status), or up to AckTimeout more when a publish was
// waiting on a broker that stopped reading; the cursor reached is saved
// before Run returns.
func (u *Uplink) Run(ctx context.Context) error {
	if !u.running.CompareAndSwap(false, true) {
		return errors.New("uplink: Run is already running")
	}
	defer u.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()
	if u.handler != nil {
		wg.Go(func() { u.publishAcks(ctx) })
	}

	acked, ok := u.loadCursor(ctx)
	if !ok {
		return nil
	}
	// The cursor is saved beside the sessions, and once more, with the
	// last acknowledgement, before Run returns.
	stopSaving, loaded := make(chan struct{}), acked
	wg.Go(func() { u.saveCursors(stopSaving, loaded) })
	defer close(stopSaving)
	u.log.Info("uplink starting", "url", u.url, "client_id", u.clientID, "cursor", acked)
	failures := 0
	for {
		began := time.Now()
		c, err := u.connect(ctx)
		if err == nil {
			acked, err = u.session(ctx, c, acked)
			u.hangUp(c, ctx.Err() != nil)
			if time.Since(began) >= u.cfg.BackoffMax {
				failures = 0
			}
		}
		if ctx.Err() != nil {
			u.log.Info("uplink stopped", "cursor", acked)
			return nil
		}
		failures++
		wait := backoff(failures, u.cfg.BackoffMin, u.cfg.BackoffMax, rand.Float64())
		u.noteError(err)
		u.log.Warn("uplink down", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
		u.mu.Lock()
		u.state.Reconnects++
		u.mu.Unlock()
	}
}

// loadCursor reads the persisted cursor, retrying with backoff until it
// succeeds or ctx is done.
func (u *Uplink) loadCursor(ctx context.Context) (uint64, bool) {
	for failures := 1; ; failures++ {
		seq, err := u.cursor.Load()
		if err == nil {
			u.mu.Lock()
			u.state.Cursor = seq
			u.mu.Unlock()
			return seq, true
		}
		err = fmt.Errorf("uplink: load cursor: %w", err)
		u.noteError(err)
		wait := backoff(failures, u.cfg.BackoffMin, u.cfg.BackoffMax, rand.Float64())
		u.log.Error("cannot read the uplink cursor", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return 0, false
		}
	}
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (u *Uplink) noteError(err error) {
	if err == nil {
		return
	}
	u.mu.Lock()
	u.state.LastError = err.Error()
	u.state.LastErrorAt = time.Now()
	u.mu.Unlock()
}

// setLive records c as the connection acks and retained messages go out
// on (nil when down) and updates the state.
func (u *Uplink) setLive(c *conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.live = c
	if u.state.Connected != (c != nil) {
		u.state.Connected = c != nil
		u.state.Since = time.Now()
	}
}

// onChanges is paho's handler for the sync topic. It runs on paho's router
// goroutine, which also delivers PUBACKs, so it must not block: it hands
// the changeset to the handler, which queues it (or refuses it at once as
// busy), and the ack comes back through queueAck.
func (u *Uplink) onChanges(_ mqtt.Client, m mqtt.Message) {
	u.handler.SubmitChanges(m.Payload(), u.queueAck)
}

// queueAck queues a sync ack for publishAcks. It never blocks: an ack that
// finds the queue full is dropped and counted, which loses nothing the
// portal cannot recover, as a lost ack does (see the package
// documentation).
func (u *Uplink) queueAck(ack []byte) {
	if ack == nil {
		return
	}
	select {
	case u.acks <- ack:
	default:
		u.mu.Lock()
		u.state.AcksDropped++
		u.mu.Unlock()
		u.log.Warn("sync ack dropped: too many waiting to be published", "queue", acksQueue)
	}
}

// publishAcks publishes queued acks on the live connection, in order. An
// ack that finds no connection is not kept: CurrentAck on the next connect
// supersedes it.
func (u *Uplink) publishAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ack := <-u.acks:
			u.publishAck(ack, nil)
		}
	}
}

// publishAck publishes ack on sync/acks over c, or over the live connection
// when c is nil. With c given, the ack is read from CurrentAck under the
// lock, so that it is ordered with the applier's acks.
func (u *Uplink) publishAck(ack []byte, c *conn) {
	u.ackMu.Lock()
	defer u.ackMu.Unlock()
	if c == nil {
		u.mu.Lock()
		c = u.live
		u.mu.Unlock()
		if c == nil {
			u.log.Debug("sync ack not published: not connected; the next connect announces the current one")
			return
		}
	} else {
		ack = u.handler.CurrentAck()
	}
	if ack == nil {
		return
	}
	// The token is not awaited: a lost ack is superseded by the CurrentAck
	// published on the next connect.
	c.client.Publish(u.topics.acks, 1, false, ack)
}
