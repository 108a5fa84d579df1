package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lintel-access/lintel/broker/topic"
)

// ErrClosed is returned by Publish, Subscribe and Start once Close has begun.
var ErrClosed = errors.New("broker: closed")

const (
	// sessionExpiry is how long the broker keeps the session (subscriptions
	// and queued QoS 1 messages) of a client that connected with a
	// persistent session and went away. The journal, not the broker, is
	// where events are kept; this only spares a briefly disconnected
	// display a gap.
	sessionExpiry = time.Hour

	// sysInterval is how often mochi refreshes its $SYS topics. They are
	// closed to clients (see authHook), and each refresh reads the Go
	// runtime's memory statistics, which briefly stops the world; so
	// hourly, and Stats is the broker's report.
	sysInterval = 3600 // seconds

	// offlineDrain bounds how long Close waits for the "offline" status to
	// reach the clients subscribed to it before disconnecting them.
	offlineDrain = 2 * time.Second
)

// Listener ids, as mochi and the logs name them.
const (
	listenerTCP = "tcp"
	listenerTLS = "tls"
	listenerWS  = "ws"
)

// Stats are the broker's counters, for the status page and metrics. Counts
// are since Start; ClientsConnected is a gauge. docs/mqtt.md lists them
// (TestDocsNameTheBrokerCounters holds the two together).
type Stats struct {
	ClientsConnected int64 // clients connected now
	MessagesIn       int64 // PUBLISH packets received, from clients and the gateway
	MessagesOut      int64 // PUBLISH packets written to clients

	// MessagesDropped counts the messages subscribers lost for being slow:
	// a QoS 1 message for a subscriber with Config.QueueLimit messages
	// unacknowledged (or queued for it while it is away), and a message for
	// one with QueueLimit messages already waiting for its socket. Refused
	// publishes are not counted here.
	MessagesDropped int64

	// PublishesRefused counts client publishes the access rules refused:
	// outside the client's ACL, on the gateway's own topics, under another
	// gateway's id, or on sync/changes from a client without RolePortal.
	// None reached a subscriber. A refused will is a refused client.
	PublishesRefused int64

	// SubscriptionsRefused counts topic filters refused in a SUBACK:
	// outside the client's ACL, on '$' topics, or invalid.
	SubscriptionsRefused int64

	// ClientsRefused counts CONNECTs refused for their credentials or the
	// access policy: a bad username or password, an anonymous client
	// where none are allowed, a will on a topic the client may not publish
	// on, a client id of another account, or a broker stopping.
	ClientsRefused int64

	// ClientsRefusedFull counts CONNECTs refused for want of a slot:
	// MaxClients clients connected, or, for an anonymous client, all the
	// slots ReservedForAccounts leaves anonymous clients.
	ClientsRefusedFull int64
}

// Broker is the embedded MQTT broker. Create it with New, then Start it;
// Close stops it for good.
//
// Publish, Subscribe, Stats and the address methods are safe for concurrent
// use, from any goroutine, before and after Start. Publish and Subscribe
// return ErrClosed once Close has begun, and Close waits for the calls in
// progress. Start and Close are meant to be called once each, by the
// goroutine that owns the broker's lifetime.
type Broker struct {
	cfg    Config // with defaults applied
	log    *slog.Logger
	srv    *mqtt.Server
	hook   *authHook
	status string // the status topic

	tcp, tls *streamListener // tls nil unless configured
	ws       *wsListener     // nil unless configured

	mu     sync.Mutex // guards state and calls
	state  state
	calls  int        // Publish and Subscribe calls in progress
	noCall *sync.Cond // on mu; broadcast when calls drops to 0

	subID atomic.Int64 // the last inline subscription id given out

	retainMu sync.Mutex      // guards retained
	retained map[string]bool // topics with a retained message in mochi's tree
}

type state int

const (
	stateNew state = iota
	stateRunning
	stateClosed
)

// New checks cfg and builds a broker; nothing listens until Start. log
// receives the broker's own records and mochi's warnings and errors.
func New(cfg Config, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker: config: %w", err)
	}
	cfg = cfg.withDefaults()
	log = log.With("component", "broker")

	// Start from mochi's defaults: a partial Capabilities literal leaves
	// MaximumClients at 0, which refuses every client.
	caps := mqtt.NewDefaultServerCapabilities()
	// The hook counts clients against MaxClients itself (see slotTable):
	// mochi's own count cannot tell accounts from anonymous clients, and
	// refuses before the client's credentials are known.
	caps.MaximumClients = math.MaxInt64
	// 0 turns off mochi's forced expiry (24 h by default) of retained and
	// queued messages: the retained status and door states must last as
	// long as the gateway runs. MQTT 5 clients' own expiries still apply.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumSessionExpiryInterval = uint32(sessionExpiry / time.Second)
	caps.MaximumInflight = uint16(cfg.QueueLimit)
	caps.MaximumClientWritesPending = int32(cfg.QueueLimit)
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize)

	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		Logger:                 slog.New(mochiLog{log.Handler()}),
		SysTopicResendInterval: sysInterval,
	})
	hook := newAuthHook(cfg, log)
	hook.server = srv
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	status, _ := topic.Status(cfg.GatewayID) // the config is valid

	b := &Broker{
		cfg:    cfg,
		log:    log,
		srv:    srv,
		hook:   hook,
		status: status,
		tcp:    newStreamListener(listenerTCP, cfg.Listen, nil, hook.slots.release),

		retained: make(map[string]bool),
	}
	b.noCall = sync.NewCond(&b.mu)
	if cfg.TLS.Listen != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker: tls: %w", err)
		}
		b.tls = newStreamListener(listenerTLS, cfg.TLS.Listen, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}, hook.slots.release)
	}
	if cfg.WebSocket.Listen != "" {
		b.ws = newWSListener(listenerWS, cfg.WebSocket.Listen, cfg.MaxPacketSize, hook.slots.release)
	}
	return b, nil
}

// Start binds the listeners, publishes the retained "online" status and
// starts serving. If a listener cannot bind, Start returns the error and
// the broker is closed.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case stateRunning:
		return errors.New("broker: start: already started")
	case stateClosed:
		return ErrClosed
	}
	fail := func(err error) error {
		b.state = stateClosed
		close(b.hook.stop)
		b.srv.Close() // closes the listeners bound so far
		return fmt.Errorf("broker: start: %w", err)
	}
	for _, l := range b.listeners() {
		if err := b.srv.AddListener(l); err != nil {
			return fail(err)
		}
	}
	// Retained before the first client can connect, so none misses it.
	if err := b.publish(b.status, []byte(topic.StatusOnline), true); err != nil {
		return fail(fmt.Errorf("publish status: %w", err))
	}
	if err := b.srv.Serve(); err != nil {
		return fail(err)
	}
	b.state = stateRunning
	b.log.Info("broker: started", "tcp", b.TCPAddr(), "tls", b.TLSAddr(), "websocket", b.WebSocketAddr())
	return nil
}

// Close publishes the retained "offline" status, gives the subscribed
// clients up to 2 s to receive it (a QoS 1 subscriber until it
// acknowledges), disconnects every client and stops the listeners. It waits for Publish and Subscribe calls in progress and for
// every connection's goroutine, including Subscribe handlers running on
// them, so a handler must not wait for Close. Closing a closed broker does
// nothing.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.state == stateClosed {
		b.mu.Unlock()
		return nil
	}
	wasRunning := b.state == stateRunning
	b.state = stateClosed
	for b.calls > 0 {
		b.noCall.Wait()
	}
	b.mu.Unlock()

	close(b.hook.stop)
	if wasRunning {
		b.publishOffline()
	}
	// The listeners stop accepting, then disconnect and wait for every
	// connection (see listener.go), so mochi's Close waits on nothing
	// that could still start.
	b.srv.Close()
	b.log.Info("broker: stopped")
	return nil
}

// publishOffline publishes the retained "offline" status and waits, at most
// offlineDrain, until each client subscribed to it has received it (see
// offlineTracker).
func (b *Broker) publishOffline() {
	want := b.statusReaders()
	if err := b.publish(b.status, []byte(topic.StatusOffline), true); err != nil {
		b.log.Warn("broker: publish offline status", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), offlineDrain)
	defer cancel()
	for b.hook.offline.count() < want {
		select {
		case <-b.hook.offline.wake:
		case <-ctx.Done():
			b.log.Warn("broker: not every subscriber received the offline status before shutdown")
			return
		}
	}
}

// statusReaders counts the connected clients a status message will be
// delivered to.
func (b *Broker) statusReaders() int {
	n := 0
	for id := range b.srv.Topics.Subscribers(b.status).Subscriptions {
		cl, ok := b.srv.Clients.Get(id)
		if !ok || cl.Closed() || cl.Net.Inline {
			continue
		}
		if a, ok := b.hook.aclOf(cl); ok && a.maySubscribe(b.status) {
			n++
		}
	}
	return n
}

// enter admits a Publish or Subscribe call unless the broker is closing.
func (b *Broker) enter() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == stateClosed {
		return ErrClosed
	}
	b.calls++
	return nil
}

func (b *Broker) leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls--
	if b.calls == 0 {
		b.noCall.Broadcast()
	}
}

// Publish sends payload on topic at QoS 1 through the gateway's inline
// client, retained if retain is set. It is the only way anything is
// published on the gateway's own topics. Publish returns once the message
// is queued for every subscriber; payload is copied and may be reused.
// Before Start, retained messages are kept for the first subscribers and
// others reach nobody. An empty retained payload removes the topic's
// retained message. The first retained message on a topic waits for client
// subscriptions being processed at that moment (see retain); later ones
// do not.
func (b *Broker) Publish(name string, payload []byte, retain bool) error {
	if !topic.ValidName(name) {
		return fmt.Errorf("broker: publish: %q is not a valid topic name", name)
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	return b.publish(name, bytes.Clone(payload), retain)
}

// publish is Publish without the checks: payload is the broker's own.
func (b *Broker) publish(name string, payload []byte, retain bool) error {
	if retain {
		b.retain(name, payload)
	}
	if len(payload) == 0 && retain {
		return nil // clearing a retained message delivers nothing
	}
	if err := b.srv.Publish(name, payload, false, 1); err != nil {
		return fmt.Errorf("broker: publish %q: %w", name, err)
	}
	return nil
}

// retain makes payload the retained message of topic name; an empty
// payload removes it.
//
// mochi v2.7.9 keeps a retained message in two places: a map guarded by a
// lock, and the path of the message on its topic-tree node, which a
// subscription's scan for retained messages reads without any lock. Writing
// that path while a client subscribes is a data race. So the path is
// written only when a topic gets its first retained message (or loses it),
// with the scans held off; later messages on the topic replace the map
// entry alone, under the map's own lock. Clients never retain (authHook
// clears their retain flags), so the gateway is the only writer.
func (b *Broker) retain(name string, payload []byte) {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName:       name,
		Payload:         payload,
		Origin:          mqtt.InlineClientId,
		Created:         time.Now().Unix(),
		ProtocolVersion: 4,
	}
	b.retainMu.Lock()
	defer b.retainMu.Unlock()
	switch {
	case len(payload) > 0 && b.retained[name]:
		b.srv.Topics.Retained.Add(name, pk)
	default:
		b.hook.scans.Lock()
		b.srv.Topics.RetainMessage(pk)
		b.hook.scans.Unlock()
		if len(payload) > 0 {
			b.retained[name] = true
		} else {
			delete(b.retained, name)
		}
	}
	atomic.StoreInt64(&b.srv.Info.Retained, int64(b.srv.Topics.Retained.Len()))
}

// Message is a client's publish as a SubscribeMessages handler gets it:
// the topic, the payload and who published it. The access rules have
// already passed it: a message on the gateway's sync/changes topic comes
// from an account with Role RolePortal, and from no one else.
type Message struct {
	Topic    string
	Payload  []byte // the handler's own copy
	ClientID string // the publishing client's MQTT client id
	Username string // the publishing account's username; "" for an anonymous client
	Role     Role   // the publishing account's role; RoleClient for an anonymous client
}

// Subscribe calls handler with the topic and payload of every message a
// client publishes on a topic matching filter. It is SubscribeMessages for
// a handler that does not need to know who published.
func (b *Broker) Subscribe(filter string, handler func(topic string, payload []byte)) error {
	if handler == nil {
		return errors.New("broker: subscribe: nil handler")
	}
	return b.SubscribeMessages(filter, func(m Message) { handler(m.Topic, m.Payload) })
}

// SubscribeMessages calls handler with every message a client publishes on
// a topic matching filter, with the publishing client's id, username and
// role, so a changeset can be journaled under the account that sent it.
// The gateway's own publishes are not passed back, and clients' messages
// are never retained, so nothing arrives from before the call. Filters on
// '$' topics are refused.
//
// handler runs on the publishing client's connection goroutine, in the order
// that client published; it holds up only that client while it runs. It
// gets its own copy of the payload. It may call Publish (which returns
// ErrClosed once Close has begun) but must not call Close or wait for it.
func (b *Broker) SubscribeMessages(filter string, handler func(Message)) error {
	if !topic.ValidFilter(filter) || strings.HasPrefix(filter, "$") {
		return fmt.Errorf("broker: subscribe: %q is not a valid topic filter outside '$' topics", filter)
	}
	if handler == nil {
		return errors.New("broker: subscribe: nil handler")
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	id := int(b.subID.Add(1))
	// mochi scans for retained messages here too; see retain.
	b.hook.scans.RLock()
	defer b.hook.scans.RUnlock()
	err := b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		// mochi passes its inline client here, not the publisher; the
		// packet's origin is the publisher's client id.
		if pk.Origin == mqtt.InlineClientId {
			return
		}
		username, role, ok := b.hook.publisher(pk.Origin)
		if !ok {
			// Not reached while the hook's rules hold (see publisher);
			// a message from no one known is not passed on.
			b.log.Warn("broker: dropped a message from a client no longer known", "client", pk.Origin, "topic", pk.TopicName)
			return
		}
		handler(Message{
			Topic:    pk.TopicName,
			Payload:  bytes.Clone(pk.Payload),
			ClientID: pk.Origin,
			Username: username,
			Role:     role,
		})
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	info := b.srv.Info.Clone()
	return Stats{
		ClientsConnected: info.ClientsConnected,
		MessagesIn:       info.MessagesReceived,
		MessagesOut:      info.MessagesSent,
		// mochi counts a message that found a subscriber's socket queue
		// full in MessagesDropped, and one that found its QoS 1 window
		// (or its packet ids) exhausted in InflightDropped; either way
		// the subscriber lost it.
		MessagesDropped:      info.MessagesDropped + info.InflightDropped,
		PublishesRefused:     b.hook.publishesRefused.Load(),
		SubscriptionsRefused: b.hook.subscriptionsRefused.Load(),
		ClientsRefused:       b.hook.clientsRefused.Load(),
		ClientsRefusedFull:   b.hook.clientsRefusedFull.Load(),
	}
}

func (b *Broker) listeners() []listeners.Listener {
	ls := []listeners.Listener{b.tcp}
	if b.tls != nil {
		ls = append(ls, b.tls)
	}
	if b.ws != nil {
		ls = append(ls, b.ws)
	}
	return ls
}

// TCPAddr is the plain TCP listener's bound address after Start (useful
// with port 0), else its configured address.
func (b *Broker) TCPAddr() string { return b.tcp.Address() }

// TLSAddr is the TLS listener's address, or "" when there is none.
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// WebSocketAddr is the WebSocket listener's address, or "" when there is
// none.
func (b *Broker) WebSocketAddr() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.Address()
}
