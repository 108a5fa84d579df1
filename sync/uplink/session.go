package uplink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/topic"
)

// conn is one MQTT connection: a paho client used for exactly one network
// connection and thrown away with it. A token from one conn is never
// confused with another's, which is what lets the uplink trust a completed
// token at all.
type conn struct {
	client mqtt.Client
	// lost is closed when paho reports the connection lost; err says why.
	lost     chan struct{}
	lostOnce sync.Once
	err      error // written once before lost is closed
	// acks, when not nil, is how the network connection acknowledges (see
	// ackMode); set by the opener before the CONNACK.
	acks ackMode
}

// setBulk tells the network connection whether a backlog is draining.
func (c *conn) setBulk(on bool) {
	if c.acks != nil {
		c.acks.setBulk(on)
	}
}

func (c *conn) markLost(err error) {
	c.lostOnce.Do(func() {
		c.err = err
		close(c.lost)
	})
}

// live reports whether c is still the connection it was: paho has not
// reported it lost and still calls it open.
func (c *conn) live() bool {
	select {
	case <-c.lost:
		return false
	default:
	}
	return c.client.IsConnectionOpen()
}

// lostError is the error a session ends with when its connection dropped.
func (c *conn) lostError() error {
	if c.err != nil {
		return fmt.Errorf("uplink: connection lost: %w", c.err)
	}
	return errors.New("uplink: connection lost")
}

// errDoubt ends a session whose connection is no longer the live one by the
// time a publish completed: the PUBACK cannot be trusted.
var errDoubt = errors.New("uplink: connection changed while a publish completed; resending from the cursor")

// connect opens one connection. paho's automatic reconnect is off (it can
// report a publish as delivered that the broker never saw) and so is its
// persistent store (the journal is the outbox): every connection starts
// clean and the uplink resends from its cursor.
func (u *Uplink) connect(ctx context.Context) (*conn, error) {
	c := &conn{lost: make(chan struct{})}
	// An attempt abandoned because ctx is done closes its socket, which
	// ends paho's wait for the CONNACK at once rather than after
	// ConnectTimeout. unwatch, set by the opener before the token
	// completes, keeps a successful connection open.
	attempt, abandon := context.WithCancel(ctx)
	defer abandon()
	var unwatch func() bool
	opts := mqtt.NewClientOptions().
		AddBroker(u.url).
		SetClientID(u.clientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetStore(mqtt.NewMemoryStore()).
		SetOrderMatters(true).
		SetKeepAlive(u.cfg.KeepAlive).
		SetPingTimeout(u.cfg.KeepAlive).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetWriteTimeout(u.cfg.AckTimeout).
		SetBinaryWill(u.topics.status, []byte(topic.StatusOffline), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.markLost(err) }).
		SetCustomOpenConnectionFn(func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			nc, err := u.dial(attempt, uri)
			if err != nil {
				return nil, err
			}
			c.acks = nc.acks
			unwatch = context.AfterFunc(attempt, func() { nc.Close() })
			return nc, nil
		})
	if u.cfg.Username != "" {
		opts.SetUsername(u.cfg.Username).SetPassword(u.password)
	}
	c.client = mqtt.NewClient(opts)
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// The deferred abandon closes the socket; should the connection
		// have come up in the meantime, it is closed too.
		go func() {
			<-tok.Done()
			if tok.Error() == nil {
				c.client.Disconnect(0)
			}
		}()
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("uplink: connect to %s: %w", u.url, err)
	}
	if unwatch == nil || !unwatch() {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("uplink: connect to %s: abandoned", u.url)
	}
	u.log.Info("uplink connected", "url", u.url, "client_id", u.clientID)
	return c, nil
}

// hangUp closes c. On shutdown (orderly) the retained status is set to
// "offline" first, since a clean DISCONNECT does not fire the last will.
// Otherwise a DISCONNECT is still sent, so that a broker that was only
// slow does not publish the will after the next connection announced
// itself.
func (u *Uplink) hangUp(c *conn, orderly bool) {
	u.setLive(nil)
	if orderly && c.live() {
		tok := c.client.Publish(u.topics.status, 1, true, []byte(topic.StatusOffline))
		t := time.NewTimer(shutdownTimeout)
		select {
		case <-tok.Done():
		case <-c.lost:
		case <-t.C:
		}
		t.Stop()
	}
	if c.client.IsConnectionOpen() {
		c.client.Disconnect(disconnectQuiesce)
	}
}

// await waits for tok within AckTimeout, failing if the connection drops
// first or ctx is done.
func (u *Uplink) await(ctx context.Context, c *conn, tok mqtt.Token, what string) error {
	t := time.NewTimer(u.cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("uplink: %s: %w", what, err)
		}
		return nil
	case <-c.lost:
		return c.lostError()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("uplink: %s: no answer from the broker within %v", what, u.cfg.AckTimeout)
	}
}

// session runs one connection: it subscribes to the sync topic, announces
// the applied revision and the retained topics, then forwards the journal
// from acked until the connection fails or ctx is done. It returns the
// cursor it reached.
func (u *Uplink) session(ctx context.Context, c *conn, acked uint64) (uint64, error) {
	u.setLive(c)
	if u.handler != nil {
		changes := u.topics.changes
		tok := c.client.Subscribe(changes, 1, u.onChanges)
		if err := u.await(ctx, c, tok, "subscribe to "+changes); err != nil {
			return acked, err
		}
		if st, ok := tok.(*mqtt.SubscribeToken); ok && st.Result()[changes] == 0x80 {
			// Events matter more than sync: keep forwarding, and try the
			// subscription again on the next connect.
			err := fmt.Errorf("uplink: the broker refused the subscription to %s", changes)
			u.noteError(err)
			u.log.Error("sync unavailable over the uplink", "err", err)
		}
		u.publishAck(nil, c)
	}
	u.publishRetained(c, true)
	return u.forward(ctx, c, acked)
}

// publishRetained publishes the retained topics on c: all of them (every
// connect) or only those changed since they were last published. The
// tokens are not awaited: if this connection fails, the next connect
// publishes everything again.
func (u *Uplink) publishRetained(c *conn, all bool) {
	type msg struct {
		topic   string
		payload []byte
	}
	var out []msg
	u.mu.Lock()
	if all {
		if _, ok := u.retained[u.topics.status]; !ok {
			out = append(out, msg{u.topics.status, []byte(topic.StatusOnline)})
		}
		for t, p := range u.retained {
			out = append(out, msg{t, p})
		}
	} else {
		for t := range u.dirty {
			out = append(out, msg{t, u.retained[t]})
		}
	}
	clear(u.dirty)
	u.mu.Unlock()
	for _, m := range out {
		c.client.Publish(m.topic, 1, true, m.payload)
	}
}

// journalPause is how long forward waits before asking the journal again
// when Wait reported an entry that After did not return.
const journalPause = 50 * time.Millisecond

// flight is one event publish awaiting its PUBACK.
type flight struct {
	seq uint64
	tok mqtt.Token
	at  time.Time // when it was handed to paho
}

// window is the ring of in-flight publishes, oldest first.
type window struct {
	buf        []flight
	head, size int
}

func (w *window) len() int       { return w.size }
func (w *window) space() int     { return len(w.buf) - w.size }
func (w *window) front() *flight { return &w.buf[w.head] }
func (w *window) push(f flight) {
	w.buf[(w.head+w.size)%len(w.buf)] = f
	w.size++
}
func (w *window) pop() {
	w.buf[w.head] = flight{}
	w.head = (w.head + 1) % len(w.buf)
	w.size--
}

// forward publishes journal entries after acked, in order, keeping up to
// Window publishes in flight, and moves the cursor over each entry whose
// PUBACK arrived on the still-live connection, oldest first. Any error, a
// PUBACK overdue or a doubt about the connection ends the session; the next
// one resends from the cursor, so the broker may see an event twice but
// never misses one and never sees them out of order.
func (u *Uplink) forward(ctx context.Context, c *conn, acked uint64) (uint64, error) {
	w := &window{buf: make([]flight, u.cfg.Window)}
	refill := max(1, u.cfg.Window/4) // fetch when this much room, to batch journal reads
	sent := acked                    // last seq handed to paho on this connection
	var jw *journalWaiter
	defer func() {
		if jw != nil {
			jw.stop()
		}
	}()
	ackTimer := time.NewTimer(time.Hour)
	defer ackTimer.Stop()
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
	woken := false // the last Wait returned because of a new entry
	evTopics := &eventTopics{u: u, known: make(map[string]string)}

	for {
		// Retire the publishes acknowledged so far, oldest first.
		retired := uint64(0)
		for w.len() > 0 {
			f := w.front()
			if !isDone(f.tok) {
				break
			}
			if err := f.tok.Error(); err != nil {
				u.saveCursor(acked, retired)
				return acked, fmt.Errorf("uplink: publish event %d: %w", f.seq, err)
			}
			if !c.live() {
				u.saveCursor(acked, retired)
				return acked, errDoubt
			}
			acked = f.seq
			retired++
			w.pop()
		}
		u.saveCursor(acked, retired)

		// Hand more of the journal to paho while the window has room.
		if w.len() == 0 || w.space() >= refill {
			entries, err := u.journal.After(sent, w.space())
			if err != nil {
				return acked, fmt.Errorf("uplink: read journal after %d: %w", sent, err)
			}
			if len(entries) > w.space() {
				// A journal breaking its contract must not overrun the window.
				entries = entries[:w.space()]
			}
			// A journal with more than fits is a backlog: the publishes
			// about to follow one another carry the ACKs (see ackMode).
			c.setBulk(len(entries) == w.space())
			if len(entries) > 0 {
				woken = false
				now := time.Now()
				for i := range entries {
					e := &entries[i]
					if e.Seq <= sent {
						return acked, fmt.Errorf("uplink: journal returned event %d after %d: out of order", e.Seq, sent)
					}
					if e.Seq > sent+1 {
						u.log.Warn("journal events missing (removed by retention before delivery)", "from", sent+1, "to", e.Seq-1)
					}
					tok := c.client.Publish(evTopics.of(e.Reader), 1, false, e.Payload)
					w.push(flight{seq: e.Seq, tok: tok, at: now})
					sent = e.Seq
				}
				continue
			}
		}

		// Wait for a PUBACK, a new journal entry, a retained change, the
		// connection's end or the PUBACK deadline.
		var headDone <-chan struct{}
		var ackDue <-chan time.Time
		if w.len() > 0 {
			f := w.front()
			headDone = f.tok.Done()
			ackTimer.Reset(time.Until(f.at.Add(u.cfg.AckTimeout)))
			ackDue = ackTimer.C
		}
		var more <-chan error
		var resume <-chan time.Time
		if (w.len() == 0 || w.space() >= refill) && woken {
			// Wait said there was an entry and After, just now, found none
			// (retention removed it, or the journal's methods disagree):
			// pause rather than spin.
			woken = false
			pause.Reset(journalPause)
			resume = pause.C
		} else if w.len() == 0 || w.space() >= refill {
			if jw != nil && jw.after != sent {
				jw.stop()
				jw = nil
			}
			if jw == nil {
				jw = u.startWaiter(ctx, sent)
			}
			more = jw.done
		}
		select {
		case <-ctx.Done():
			return u.settle(c, w, acked), nil
		case <-c.lost:
			return acked, c.lostError()
		case <-headDone:
		case <-ackDue:
			return acked, fmt.Errorf("uplink: no PUBACK for event %d within %v", w.front().seq, u.cfg.AckTimeout)
		case err := <-more:
			jw.cancel()
			jw = nil
			if err != nil && ctx.Err() == nil {
				return acked, fmt.Errorf("uplink: wait for journal after %d: %w", sent, err)
			}
			woken = err == nil
		case <-resume:
		case <-u.retainedKick:
			u.publishRetained(c, false)
		}
	}
}

// settle gives the publishes in flight at shutdown a moment to be
// acknowledged, so that a restart resends less, and returns the cursor it
// saved.
func (u *Uplink) settle(c *conn, w *window, acked uint64) uint64 {
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	retired := uint64(0)
	defer func() { u.saveCursor(acked, retired) }()
	for w.len() > 0 {
		f := w.front()
		select {
		case <-f.tok.Done():
		case <-c.lost:
			return acked
		case <-t.C:
			return acked
		}
		if f.tok.Error() != nil || !c.live() {
			return acked
		}
		acked = f.seq
		retired++
		w.pop()
	}
	return acked
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// saveCursor persists acked after n more events were acknowledged. A
// failure is logged and kept in the state; the cursor in memory still moves
// on, and the next save catches up (a lagging persisted cursor costs only
// duplicates after a restart).
func (u *Uplink) saveCursor(acked, n uint64) {
	if n == 0 {
		return
	}
	err := u.cursor.Save(acked)
	u.mu.Lock()
	u.state.Cursor = acked
	u.state.Published += n
	u.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("uplink: save cursor %d: %w", acked, err)
		u.noteError(err)
		u.log.Error("cannot save the uplink cursor", "err", err)
	}
}

// journalWaiter runs one Journal.Wait in its own goroutine so the session
// can wait for it beside PUBACKs.
type journalWaiter struct {
	after  uint64
	cancel context.CancelFunc
	done   chan error // receives Wait's result, once
}

func (u *Uplink) startWaiter(ctx context.Context, after uint64) *journalWaiter {
	wctx, cancel := context.WithCancel(ctx)
	jw := &journalWaiter{after: after, cancel: cancel, done: make(chan error, 1)}
	go func() { jw.done <- u.journal.Wait(wctx, after) }()
	return jw
}

// stop cancels the wait and waits for its goroutine, unless its result was
// already taken.
func (jw *journalWaiter) stop() {
	jw.cancel()
	<-jw.done
}
