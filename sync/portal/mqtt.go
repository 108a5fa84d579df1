package portal

import (
	"cmp"
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

// MQTTConfig is how the portal reaches the cloud broker. URL and ClientID
// are required; every other field has a documented zero value.
type MQTTConfig struct {
	// URL is the broker, as paho takes it: tcp://host:port, ssl://,
	// ws:// or wss://.
	URL string
	// ClientID identifies the connection. It must be stable across
	// restarts: the broker keeps the session (and the QoS 1 messages that
	// arrive while the portal is away) under it. An ingester's workers add
	// "-0", "-1", ...
	ClientID string
	// Username and Password are the portal's own broker account.
	Username, Password string
	// TLS configures ssl:// and wss://. Nil: the system's roots.
	TLS *tls.Config
	// KeepAlive is the MQTT keep-alive. Zero: 30 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds a connection attempt. Zero: 10 s.
	ConnectTimeout time.Duration
	// AckTimeout bounds the wait for a PUBACK or SUBACK. Zero: 10 s.
	AckTimeout time.Duration
	// RetryMin and RetryMax bound the wait between connection attempts:
	// it doubles from RetryMin, with jitter, up to RetryMax. The portal
	// has few connections and should be back before its gateways, so the
	// defaults are short. Zero: 50 ms and 2 s.
	RetryMin, RetryMax time.Duration
}

func (c MQTTConfig) withDefaults() MQTTConfig {
	c.KeepAlive = cmp.Or(c.KeepAlive, 30*time.Second)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, 10*time.Second)
	c.AckTimeout = cmp.Or(c.AckTimeout, 10*time.Second)
	c.RetryMin = cmp.Or(c.RetryMin, 50*time.Millisecond)
	c.RetryMax = cmp.Or(c.RetryMax, 2*time.Second)
	return c
}

func (c MQTTConfig) check() error {
	switch {
	case c.URL == "":
		return errors.New("portal: MQTTConfig.URL is required")
	case c.ClientID == "":
		return errors.New("portal: MQTTConfig.ClientID is required")
	case c.KeepAlive < 0 || c.ConnectTimeout < 0 || c.AckTimeout < 0 || c.RetryMin < 0 || c.RetryMax < 0:
		return errors.New("portal: MQTTConfig durations must not be negative")
	}
	return nil
}

// ErrNotConnected is returned by a publish while the portal has no
// connection to the broker.
var ErrNotConnected = errors.New("portal: not connected to the broker")

// session is one connection's lifetime hooks for keep.
type session struct {
	// live, when set, is told of the client as soon as it is connected,
	// and of nil when it is not: a publish may go out at once, even while
	// up subscribes (a resumed session's queued messages may arrive and
	// ask for one before up is done).
	live func(mqtt.Client)
	// up is called on every connect, to subscribe. An error drops the
	// connection and retries.
	up func(ctx context.Context, c mqtt.Client) error
	// ready, when set, is told true once up has succeeded, and false when
	// the connection is gone.
	ready func(bool)
	// handler takes every message, whatever subscription it came by, and
	// also those the broker sends before up has subscribed again (a
	// resumed session's queue).
	handler mqtt.MessageHandler
	// connects counts connections made.
	connects *atomic.Uint64
}

// keep holds one connection open until ctx is done. Each connection is a
// fresh paho client with a persistent session (CleanSession false: the
// broker queues QoS 1 messages for it while it is away), without paho's
// own reconnect, which waits a second before its first try; up subscribes
// again on every connect, since a broker may resume a session without its
// shared subscriptions (mosquitto 2.0 does not persist them).
func keep(ctx context.Context, cfg MQTTConfig, clientID string, s session, log *slog.Logger) {
	failures := 0
	for ctx.Err() == nil {
		began := time.Now()
		err := connectOnce(ctx, cfg, clientID, s)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= cfg.RetryMax {
			failures = 0
		}
		failures++
		wait := retryWait(failures, cfg.RetryMin, cfg.RetryMax, rand.Float64())
		log.Warn("portal: broker connection down", "client_id", clientID, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryWait is the wait after the given number of consecutive failures:
// from the upper half of a ceiling that doubles from lo up to hi.
func retryWait(failures int, lo, hi time.Duration, r float64) time.Duration {
	ceil := lo
	for i := 1; i < min(failures, 63) && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	return ceil/2 + time.Duration(r*float64(ceil-ceil/2))
}

// connectOnce runs one connection until it is lost or ctx is done.
func connectOnce(ctx context.Context, cfg MQTTConfig, clientID string, s session) error {
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetKeepAlive(cfg.KeepAlive).
		SetPingTimeout(cfg.KeepAlive).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.AckTimeout).
		SetTLSConfig(cfg.TLS).
		SetDefaultPublishHandler(s.handler).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go func() {
			<-tok.Done()
			c.Disconnect(0)
		}()
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.URL, err)
	}
	defer c.Disconnect(100)
	if s.connects != nil {
		s.connects.Add(1)
	}
	if s.live != nil {
		s.live(c)
		defer s.live(nil)
	}
	if err := s.up(ctx, c); err != nil {
		return err
	}
	if s.ready != nil {
		s.ready(true)
		defer s.ready(false)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	}
}

// await waits for tok within timeout or until ctx is done.
func await(ctx context.Context, tok mqtt.Token, timeout time.Duration, what string) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s: no answer from the broker within %v", what, timeout)
	}
}

// subscribe subscribes to filters at QoS 1 and checks the broker granted
// every one.
func subscribe(ctx context.Context, c mqtt.Client, filters []string, timeout time.Duration) error {
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = 1
	}
	tok := c.SubscribeMultiple(m, nil)
	if err := await(ctx, tok, timeout, "subscribe"); err != nil {
		return err
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				return fmt.Errorf("subscribe: the broker refused %q", f)
			}
		}
	}
	return nil
}

// acksFilter matches every gateway's sync acks. The levels are the topic
// contract's (package broker/topic).
const acksFilter = topic.Prefix + "/+/sync/acks"

// ackLanes is how many goroutines hand acks to the ack handler, each for
// the gateways hashed to it, and ackQueue how many acks may wait for one.
// A handler that resends waits for the broker's PUBACK; lanes let that
// wait for one gateway overlap with others' instead of queueing a fleet's
// reconnect behind it.
const (
	ackLanes = 16
	ackQueue = 1024
)

// Client is the portal's sync connection: it publishes changesets to
// gateways and takes their acks. It implements [Publisher], so a
// [Syncer] sends through it, and hands each ack to the function given to
// NewClient (Syncer.HandleAck), one at a time, in arrival order.
//
// Acks come by a plain subscription to lintel/v1/+/sync/acks on a
// persistent session, not a shared one: they are few (one per changeset
// per gateway, and one per connect), the broker keeps them while the
// portal is away, and one subscriber sees each gateway's acks in the order
// they were sent. The handler runs on one of 16 goroutines chosen by the
// gateway id: one gateway's acks are handled one at a time, in arrival
// order; different gateways' in parallel. Create it with NewClient and
// run it with Run; the other methods may be called from any goroutine.
type Client struct {
	cfg   MQTTConfig
	onAck func(ctx context.Context, gateway string, payload []byte) error
	log   *slog.Logger
	lanes []chan ackMsg

	connects, dropped atomic.Uint64
	subscribed        atomic.Bool

	// mu guards live.
	mu   sync.Mutex
	live mqtt.Client
}

type ackMsg struct {
	gateway string
	payload []byte
}

// NewClient returns a Client for cfg that hands acks to onAck. A nil log
// discards.
func NewClient(cfg MQTTConfig, onAck func(ctx context.Context, gateway string, payload []byte) error, log *slog.Logger) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if onAck == nil {
		return nil, errors.New("portal: a client needs an ack handler")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg.withDefaults(), onAck: onAck, log: log, lanes: make([]chan ackMsg, ackLanes)}
	for i := range c.lanes {
		c.lanes[i] = make(chan ackMsg, ackQueue)
	}
	return c, nil
}

// Run keeps the connection until ctx is done, then returns nil.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, lane := range c.lanes {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case a := <-lane:
					if err := c.onAck(ctx, a.gateway, a.payload); err != nil {
						c.log.Warn("portal: ack not taken", "gateway", a.gateway, "err", err)
					}
				}
			}
		})
	}
	keep(ctx, c.cfg, c.cfg.ClientID, session{
		up: func(ctx context.Context, mc mqtt.Client) error {
			if err := subscribe(ctx, mc, []string{acksFilter}, c.cfg.AckTimeout); err != nil {
				return err
			}
			c.log.Info("portal: sync client subscribed", "client_id", c.cfg.ClientID)
			return nil
		},
		live:     c.setLive,
		ready:    c.subscribed.Store,
		handler:  c.onMessage,
		connects: &c.connects,
	}, c.log)
	wg.Wait()
	return nil
}

func (c *Client) setLive(mc mqtt.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = mc
}

// onMessage runs on paho's router goroutine, which must not wait on
// anything that needs a PUBACK of the same connection (a resend does): it
// queues the ack on its gateway's lane, or drops it when that is full. A dropped ack costs
// a resend at worst (Syncer.Retry), which the gateway answers again.
func (c *Client) onMessage(_ mqtt.Client, m mqtt.Message) {
	t, err := topic.Parse(m.Topic())
	if err != nil || t.Kind != topic.KindSyncAcks {
		c.log.Warn("portal: message on the ack subscription is not an ack", "topic", m.Topic())
		return
	}
	select {
	case c.lanes[shardOf(t.Gateway, len(c.lanes))] <- ackMsg{t.Gateway, m.Payload()}:
	default:
		c.dropped.Add(1)
		c.log.Warn("portal: ack dropped: too many waiting", "gateway", t.Gateway)
	}
}

// Connected says whether the connection is up and subscribed to the acks.
func (c *Client) Connected() bool { return c.subscribed.Load() }

// Connects counts the connections made; DroppedAcks the acks dropped
// because too many were waiting.
func (c *Client) Connects() uint64    { return c.connects.Load() }
func (c *Client) DroppedAcks() uint64 { return c.dropped.Load() }

// PublishChanges publishes a changeset to gateway on its sync/changes
// topic at QoS 1 and waits for the broker's PUBACK. Without a connection
// it fails at once with ErrNotConnected.
func (c *Client) PublishChanges(ctx context.Context, gateway string, payload []byte) error {
	name, err := topic.SyncChanges(gateway)
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	c.mu.Lock()
	mc := c.live
	c.mu.Unlock()
	if mc == nil {
		return ErrNotConnected
	}
	return await(ctx, mc.Publish(name, 1, false, payload), c.cfg.AckTimeout, "publish to "+name)
}

var _ Publisher = (*Client)(nil)
