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

// at returns the i-th oldest flight.
func (w *window) at(i int) *flight { return &w.buf[(w.head+i)%len(w.buf)] }

// drop pops the n oldest flights and returns n.
func (w *window) drop(n int) uint64 {
	for range n {
		w.pop()
	}
	return uint64(n)
}

// forward publishes journal entries after acked, in order, keeping up to
// Window publishes in flight, and moves the cursor over each entry whose
// PUBACK arrived on the still-live connection, oldest first. Any error, a
// PUBACK overdue or a doubt about the connection ends the session; the next
// one resends from the cursor, so the broker may see an event twice but
// never misses one and never sees them out of order.
//
// The journal is read ahead in batches of up to Window entries (once half
// of what was read has been handed on), and each slot a PUBACK frees is
// filled at once from what was read. Filling slots one by one keeps bytes
// flowing towards the broker: a broker that batches its PUBACKs behind
// Nagle's algorithm (mosquitto's default) releases them when the next
// segment from the gateway acknowledges the last, and a window refilled
// only in large steps waited for the gateway's delayed ACK instead, tens
// of milliseconds at a time. At most Window entries wait in the read-ahead
// beside the Window in flight.
func (u *Uplink) forward(ctx context.Context, c *conn, acked uint64) (uint64, error) {
	w := &window{buf: make([]flight, u.cfg.Window)}
	lowWater := u.cfg.Window / 2 // read the journal when no more than this is left ahead
	var ahead []Entry            // read from the journal, not yet handed to paho
	read := acked                // last seq read from the journal on this connection
	idle := false                // the last After found nothing: wait for the journal
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
	woken := false   // the last Wait returned because of a new entry
	pausing := false // After found nothing right after such a Wait
	evTopics := &eventTopics{u: u, known: make(map[string]string)}

	for {
		// Retire the publishes acknowledged so far, oldest first. A
		// connection once lost never comes back, so one check that it is
		// still live, after the scan, vouches for every token found done.
		done := 0
		var failed error
		for ; done < w.len(); done++ {
			f := w.at(done)
			if !isDone(f.tok) {
				break
			}
			if err := f.tok.Error(); err != nil {
				failed = fmt.Errorf("uplink: publish event %d: %w", f.seq, err)
				break
			}
		}
		if done > 0 {
			if !c.live() {
				return acked, errDoubt
			}
			acked = w.at(done - 1).seq
			u.noteAcked(acked, w.drop(done))
		}
		if failed != nil {
			return acked, failed
		}

		// Read ahead when what is left runs low.
		if len(ahead) <= lowWater && !idle && !pausing {
			limit := u.cfg.Window - len(ahead)
			entries, err := u.journal.After(read, limit)
			if err != nil {
				return acked, fmt.Errorf("uplink: read journal after %d: %w", read, err)
			}
			if len(entries) > limit {
				// A journal breaking its contract must not overrun the read-ahead.
				entries = entries[:limit]
			}
			// A full batch means a backlog: the publishes about to follow
			// one another carry the ACKs (see ackMode). Near the journal's
			// head, and once idle, each PUBACK is acknowledged at once.
			c.setBulk(len(entries) == limit)
			for i := range entries {
				e := &entries[i]
				if e.Seq <= read {
					return acked, fmt.Errorf("uplink: journal returned event %d after %d: out of order", e.Seq, read)
				}
				if e.Seq > read+1 {
					u.log.Warn("journal events missing (removed by retention before delivery)", "from", read+1, "to", e.Seq-1)
				}
				read = e.Seq
			}
			switch {
			case len(entries) > 0:
				woken = false
				if len(ahead) == 0 {
					ahead = entries
				} else {
					ahead = append(ahead, entries...)
				}
			case woken:
				// Wait said there was an entry and After, just now, found
				// none (retention removed it, or the journal's methods
				// disagree): pause rather than spin.
				woken = false
				pausing = true
				pause.Reset(journalPause)
			default:
				idle = true
			}
		}

		// Fill the window's free slots.
		if n := min(w.space(), len(ahead)); n > 0 {
			now := time.Now()
			for i := range n {
				e := &ahead[i]
				tok := c.client.Publish(evTopics.of(e.Reader), 1, false, e.Payload)
				w.push(flight{seq: e.Seq, tok: tok, at: now})
			}
			clear(ahead[:n]) // let the payloads go once paho is done with them
			ahead = ahead[n:]
			if len(ahead) == 0 {
				ahead = nil
			}
			if len(ahead) <= lowWater && !idle && !pausing {
				continue // read on before waiting
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
		switch {
		case pausing:
			resume = pause.C
		case idle:
			if jw != nil && jw.after != read {
				jw.stop()
				jw = nil
			}
			if jw == nil {
				jw = u.startWaiter(ctx, read)
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
				return acked, fmt.Errorf("uplink: wait for journal after %d: %w", read, err)
			}
			woken = err == nil
			idle = false
		case <-resume:
			pausing = false
		case <-u.retainedKick:
			u.publishRetained(c, false)
		}
	}
}

// settle gives the publishes in flight at shutdown a moment to be
// acknowledged, so that a restart resends less, and returns the cursor it
// reached.
func (u *Uplink) settle(c *conn, w *window, acked uint64) uint64 {
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	retired := uint64(0)
	defer func() { u.noteAcked(acked, retired) }()
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

// noteAcked records that the cloud broker acknowledged every event up to
// acked, n of them since the last call, and wakes the cursor saver. It
// never waits for the disk.
func (u *Uplink) noteAcked(acked, n uint64) {
	if n == 0 {
		return
	}
	u.mu.Lock()
	u.state.Cursor = acked
	u.state.Published += n
	u.mu.Unlock()
	select {
	case u.saveKick <- struct{}{}:
	default:
	}
}

// cursorSaveEvery spaces the cursor's saves while a backlog drains. Each
// is a durable write (an fsync on the gateway's disk, milliseconds on an SD
// card); this bounds them to a few a second, and what a crash costs in
// duplicates to what was acknowledged meanwhile.
const cursorSaveEvery = 50 * time.Millisecond

// saveCursors persists the acknowledged cursor, from saved on, until stop
// is closed, and then once more. It runs in a goroutine of its own so that
// a Save never holds up PUBACKs or publishes: the cursor moves on in memory
// meanwhile, and each Save takes the latest value, at most one per
// cursorSaveEvery. Values only grow, as the Cursor contract asks.
func (u *Uplink) saveCursors(stop <-chan struct{}, saved uint64) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var last time.Time // when the last Save began
	for {
		select {
		case <-u.saveKick:
		case <-stop:
			u.saveCursor(saved)
			return
		}
		if wait := cursorSaveEvery - time.Since(last); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-stop:
				u.saveCursor(saved)
				return
			}
		}
		last = time.Now()
		saved = u.saveCursor(saved)
	}
}

// saveCursor saves the acknowledged cursor if it passed saved, and returns
// the cursor now persisted. A failure is logged and kept in the state;
// the next acknowledgement, or the end of Run, tries again (a lagging
// persisted cursor costs only duplicates after a restart).
func (u *Uplink) saveCursor(saved uint64) uint64 {
	u.mu.Lock()
	acked := u.state.Cursor
	u.mu.Unlock()
	if acked <= saved {
		return saved
	}
	if err := u.cursor.Save(acked); err != nil {
		err = fmt.Errorf("uplink: save cursor %d: %w", acked, err)
		u.noteError(err)
		u.log.Error("cannot save the uplink cursor", "err", err)
		return saved
	}
	return acked
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
