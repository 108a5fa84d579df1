package broker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/topic"
)

func TestGatewayPublishReachesSubscriber(t *testing.T) {
	b, _ := start(t, testConfig(t))
	sub := mustDial(t, clientOpts{url: tcpURL(b), id: "display", username: "display", password: "display-pass"})
	events := must(t)(topic.EventsFilter(gw))
	sub.mustSubscribe(t, events)

	front := must(t)(topic.Events(gw, "front"))
	for i := range 3 {
		payload := fmt.Sprintf(`{"seq":%d}`, i+1)
		if err := b.Publish(front, []byte(payload), false); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		m := sub.next(t)
		if m.Topic() != front || string(m.Payload()) != payload || m.Qos() != 1 {
			t.Fatalf("received %s %q qos %d, want %s %q qos 1", m.Topic(), m.Payload(), m.Qos(), front, payload)
		}
	}
}

func TestRetainedStatusAndDoorReachLateSubscriber(t *testing.T) {
	b, _ := start(t, testConfig(t))
	door := must(t)(topic.Door(gw, "front"))
	if err := b.Publish(door, []byte(`{"open":false}`), true); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(door, []byte(`{"open":true}`), true); err != nil {
		t.Fatal(err)
	}

	late := mustDial(t, clientOpts{url: tcpURL(b), id: "late", username: "display", password: "display-pass"})
	status := must(t)(topic.Status(gw))
	late.mustSubscribe(t, status)
	late.expect(t, status, topic.StatusOnline)
	late.mustSubscribe(t, must(t)(topic.DoorsFilter(gw)))
	m := late.next(t)
	if m.Topic() != door || string(m.Payload()) != `{"open":true}` || !m.Retained() {
		t.Fatalf("received %s %q retained=%v, want the last door state, retained", m.Topic(), m.Payload(), m.Retained())
	}

	// An empty retained payload removes the door's retained state: the next
	// subscriber's first message is a live one published after it joined.
	if err := b.Publish(door, nil, true); err != nil {
		t.Fatal(err)
	}
	later := mustDial(t, clientOpts{url: tcpURL(b), id: "later", username: "display", password: "display-pass"})
	later.mustSubscribe(t, must(t)(topic.DoorsFilter(gw)))
	side := must(t)(topic.Door(gw, "side"))
	if err := b.Publish(side, []byte("live"), false); err != nil {
		t.Fatal(err)
	}
	later.expect(t, side, "live")
}

func TestOfflineStatusAtClose(t *testing.T) {
	for i := range 3 { // Close races with delivery if ordered wrongly; try a few times.
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b, err := broker.New(testConfig(t), discard())
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			sub := mustDial(t, clientOpts{url: tcpURL(b), id: "watcher", username: "display", password: "display-pass"})
			status := must(t)(topic.Status(gw))
			sub.mustSubscribe(t, status)
			sub.expect(t, status, topic.StatusOnline)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			sub.expect(t, status, topic.StatusOffline)
			if err := b.Publish(status, []byte("x"), true); !errors.Is(err, broker.ErrClosed) {
				t.Fatalf("Publish after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestConnectRefusals(t *testing.T) {
	cfg := testConfig(t)
	b, logs := start(t, cfg)
	anon := cfg
	anon.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
	ba, _ := start(t, anon)

	tests := []struct {
		name               string
		url                string
		username, password string
		wantErr            bool
	}{
		{"right password", tcpURL(b), "portal", "portal-pass", false},
		{"bad password", tcpURL(b), "portal", "wrong-secret-xyz", true},
		{"other account's password", tcpURL(b), "portal", "display-pass", true},
		{"unknown user", tcpURL(b), "nobody", "portal-pass", true},
		{"anonymous not configured", tcpURL(b), "", "", true},
		{"anonymous configured, loopback", tcpURL(ba), "", "", false},
		{"account still checked when anonymous allowed", tcpURL(ba), "portal", "wrong-secret-xyz", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, clientOpts{url: tc.url, id: fmt.Sprintf("c%d", i), username: tc.username, password: tc.password})
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("connect error = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
	if strings.Contains(logs.String(), "wrong-secret-xyz") {
		t.Fatalf("the broker logged a password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "bad username or password") {
		t.Fatalf("the broker did not log the refusal:\n%s", logs.String())
	}
}

func TestSubscribeOutsideACLIsRefusedAndReceivesNothing(t *testing.T) {
	b, _ := start(t, testConfig(t))
	c := mustDial(t, clientOpts{url: tcpURL(b), id: "display", username: "display", password: "display-pass"})
	for _, filter := range []string{
		"#",
		"lintel/v1/" + gw + "/#",
		must(t)(topic.SyncChanges(gw)),
		"lintel/v1/+/events/+",
		"$SYS/#",
		"$share/g/#",
	} {
		if code := c.subscribe(t, filter); code != 0x80 {
			t.Errorf("subscribe %q: SUBACK code %#x, want 0x80 (failure)", filter, code)
		}
	}
	// Deliveries are ordered per client: once the allowed message arrives,
	// a forbidden one published before it would have arrived first.
	c.mustSubscribe(t, "display/#")
	if err := b.Publish(must(t)(topic.SyncChanges(gw)), []byte("secret changeset"), false); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("display/barrier", []byte("barrier"), false); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "display/barrier", "barrier")
}

func TestSpoofedPublishOnGatewayTopicsIsDropped(t *testing.T) {
	b, _ := start(t, testConfig(t))
	watcher := mustDial(t, clientOpts{url: tcpURL(b), id: "watcher", username: "portal", password: "portal-pass"})
	watcher.mustSubscribe(t, "lintel/v1/"+gw+"/#")
	watcher.expect(t, must(t)(topic.Status(gw)), topic.StatusOnline) // retained

	spoofed := []string{
		must(t)(topic.Events(gw, "front")),
		must(t)(topic.Status(gw)),
		must(t)(topic.Door(gw, "front")),
		must(t)(topic.SyncAcks(gw)),
		"lintel/v1/" + gw + "/events/front/extra",
		"lintel/v1/" + gw + "/other",
	}
	for i, name := range spoofed {
		for _, qos := range []byte{0, 1} {
			t.Run(fmt.Sprintf("%s qos %d", name, qos), func(t *testing.T) {
				// portal's ACL allows publishing on "#"; the gateway's
				// namespace is closed to clients whatever the ACL says.
				c := mustDial(t, clientOpts{url: tcpURL(b), id: fmt.Sprintf("spoof%d-%d", i, qos), username: "portal", password: "portal-pass"})
				tok := c.Publish(name, qos, true, "spoofed")
				tok.WaitTimeout(waitFor) // QoS 1 ends in a disconnect for MQTT 3.1.1
				if err := b.Publish(must(t)(topic.SyncAcks(gw)), []byte("barrier"), false); err != nil {
					t.Fatal(err)
				}
				watcher.expect(t, must(t)(topic.SyncAcks(gw)), "barrier")
			})
		}
	}
	// The retained status was not replaced either.
	late := mustDial(t, clientOpts{url: tcpURL(b), id: "late", username: "portal", password: "portal-pass"})
	late.mustSubscribe(t, must(t)(topic.Status(gw)))
	late.expect(t, must(t)(topic.Status(gw)), topic.StatusOnline)
}

// TestEventsUnderAnotherGatewayIDAreRefused: the embedded broker serves one
// gateway, so nothing under lintel/v1/ but that gateway's sync/changes is
// a client's to publish on. A consumer subscribed to lintel/v1/+/events/+
// would otherwise take a client's message on lintel/v1/gw2/... for gateway
// gw2's word, whatever filters the client's account lists ("#" here).
func TestEventsUnderAnotherGatewayIDAreRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.Clients = append(cfg.Clients, broker.Client{
		Username: "watcher", PasswordHash: hash(t, "watcher-pass"),
		Subscribe: []string{"lintel/v1/#"},
	})
	b, _ := start(t, cfg)
	watcher := mustDial(t, clientOpts{url: tcpURL(b), id: "watcher", username: "watcher", password: "watcher-pass"})
	watcher.mustSubscribe(t, "lintel/v1/#")
	watcher.expect(t, must(t)(topic.Status(gw)), topic.StatusOnline) // retained

	const other = "gw2"
	acks := must(t)(topic.SyncAcks(gw))
	for i, name := range []string{
		must(t)(topic.Events(other, "front")),
		must(t)(topic.Status(other)),
		must(t)(topic.Door(other, "front")),
		must(t)(topic.SyncAcks(other)),
		must(t)(topic.SyncChanges(other)),
		"lintel/v1/" + other + "/elsewhere",
		"lintel/v1",
	} {
		for _, qos := range []byte{0, 1} {
			t.Run(fmt.Sprintf("%s qos %d", name, qos), func(t *testing.T) {
				c := mustDial(t, clientOpts{url: tcpURL(b), id: fmt.Sprintf("spoof%d-%d", i, qos), username: "portal", password: "portal-pass"})
				c.Publish(name, qos, false, "spoofed").WaitTimeout(waitFor) // QoS 1 ends in a disconnect for MQTT 3.1.1
				// Deliveries to the watcher are ordered: had the spoofed
				// message been let through, it would arrive first.
				if err := b.Publish(acks, []byte("barrier"), false); err != nil {
					t.Fatal(err)
				}
				watcher.expect(t, acks, "barrier")
			})
		}
	}
}

// TestOnlyPortalAccountsMayChangeTheTable: a changeset reaches the
// gateway's handler only from a portal account, and the handler learns
// which account sent it, so the change can be journaled under its name.
// The display (a plain client) and an anonymous client are refused; the
// configuration that would give them sync/changes is refused at load
// (TestValidate) and by the hook (TestOnlyPortalAccountsMayPublishChanges).
func TestOnlyPortalAccountsMayChangeTheTable(t *testing.T) {
	cfg := testConfig(t)
	cfg.Anonymous = broker.Anonymous{Allow: true, Publish: []string{"lintel/v1/+/sync/+"}, Subscribe: []string{"#"}}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate let anonymous clients publish changesets")
	}
	cfg.Anonymous.Publish = []string{"anon/#"}
	b, _ := start(t, cfg)
	changes := must(t)(topic.SyncChanges(gw))
	acks := must(t)(topic.SyncAcks(gw))
	got := make(chan broker.Message, 8)
	err := b.SubscribeMessages(changes, func(m broker.Message) {
		got <- m
		// A handler may answer through the broker.
		if err := b.Publish(acks, []byte("applied "+string(m.Payload)), false); err != nil {
			t.Errorf("Publish from handler: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	// display and anonymous clients may not publish there: their QoS 0
	// publishes are dropped.
	display := mustDial(t, clientOpts{url: tcpURL(b), id: "display", username: "display", password: "display-pass"})
	display.Publish(changes, 0, false, "from display").WaitTimeout(waitFor)
	anon := mustDial(t, clientOpts{url: tcpURL(b), id: "anon"})
	anon.Publish(changes, 0, false, "from anonymous").WaitTimeout(waitFor)

	portal := mustDial(t, clientOpts{url: tcpURL(b), id: "portal-7", username: "portal", password: "portal-pass"})
	portal.mustSubscribe(t, acks)
	portal.publish(t, changes, 1, "rev 7")
	select {
	case m := <-got:
		want := broker.Message{Topic: changes, Payload: []byte("rev 7"), ClientID: "portal-7", Username: "portal", Role: broker.RolePortal}
		if diff := cmp.Diff(m, want); diff != "" {
			t.Fatalf("handler got another message than the portal's (-got +want):\n%s", diff)
		}
	case <-time.After(waitFor):
		t.Fatal("handler got nothing")
	}
	portal.expect(t, acks, "applied rev 7")
}

// TestSubscribeMessagesNamesEveryPublisher: the handler's Message names
// the account of each publisher, anonymous clients included, and a will
// as the client that left it.
func TestSubscribeMessagesNamesEveryPublisher(t *testing.T) {
	cfg := testConfig(t)
	cfg.Anonymous = broker.Anonymous{Allow: true, Publish: []string{"display/#"}}
	b, _ := start(t, cfg)
	got := make(chan broker.Message, 8)
	if err := b.SubscribeMessages("display/#", func(m broker.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	next := func() broker.Message {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(waitFor):
			t.Fatal("handler got nothing")
			return broker.Message{}
		}
	}
	display := mustDial(t, clientOpts{url: tcpURL(b), id: "panel", username: "display", password: "display-pass"})
	display.publish(t, "display/hello", 1, "hi")
	if m, want := next(), (broker.Message{Topic: "display/hello", Payload: []byte("hi"), ClientID: "panel", Username: "display", Role: broker.RoleClient}); !cmp.Equal(m, want) {
		t.Errorf("display's message = %+v, want %+v", m, want)
	}
	anon := mustDial(t, clientOpts{url: tcpURL(b), id: "anon", will: "display/gone"})
	anon.publish(t, "display/anon", 1, "hello")
	if m, want := next(), (broker.Message{Topic: "display/anon", Payload: []byte("hello"), ClientID: "anon", Role: broker.RoleClient}); !cmp.Equal(m, want) {
		t.Errorf("anonymous message = %+v, want %+v", m, want)
	}
	// Dropping the connection without DISCONNECT publishes the will.
	anon.dropConnection(t)
	if m, want := next(), (broker.Message{Topic: "display/gone", Payload: []byte("gone"), ClientID: "anon", Role: broker.RoleClient}); !cmp.Equal(m, want) {
		t.Errorf("anonymous will = %+v, want %+v", m, want)
	}
}

func TestMosquittoClients(t *testing.T) {
	subBin := needBinary(t, "mosquitto_sub")
	pubBin := needBinary(t, "mosquitto_pub")
	cfg := broker.SimConfig(gw)
	cfg.Listen = "127.0.0.1:0"
	cfg.Clients = []broker.Client{{
		Username: "portal", Role: broker.RolePortal, PasswordHash: hash(t, "portal-pass"),
		Publish: []string{must(t)(topic.SyncChanges(gw))},
	}}
	b, _ := start(t, cfg)
	host, port, _ := net.SplitHostPort(b.TCPAddr())

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var out bytes.Buffer
	sub := exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-i", "msub", "-q", "1", "-v", "-C", "1", "-t", "lintel/v1/+/events/#")
	sub.Stdout, sub.Stderr = &out, &out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	// mosquitto_sub says nothing when its subscription is in place, so
	// publish until it has printed one event (it exits after one).
	front := must(t)(topic.Events(gw, "front"))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("mosquitto_sub: %v: %s", err, out.String())
			}
			break wait
		case <-tick.C:
			if err := b.Publish(front, []byte(`{"seq":1}`), false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := strings.TrimSpace(out.String()), front+` {"seq":1}`; got != want {
		t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
	}

	// mosquitto_pub, anonymous from loopback, may not push a changeset in
	// sim; with a portal account's password it may.
	got := make(chan broker.Message, 2)
	if err := b.SubscribeMessages(must(t)(topic.SyncChanges(gw)), func(m broker.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	pub := func(args ...string) error {
		args = append([]string{"-h", host, "-p", port, "-q", "1", "-t", must(t)(topic.SyncChanges(gw))}, args...)
		out, err := exec.CommandContext(ctx, pubBin, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_pub: %w: %s", err, out)
		}
		return nil
	}
	if err := pub("-m", "anonymous rev"); err == nil {
		t.Fatal("anonymous mosquitto_pub published a changeset without an error")
	}
	if err := pub("-u", "portal", "-P", "portal-pass", "-m", "rev 1"); err != nil {
		t.Fatal(err)
	}
	// mosquitto_pub -q 1 exits on its PUBACK (or the disconnect that
	// refuses it), after the broker has called the handler; so the first
	// message the handler got is the first one the broker let through.
	select {
	case m := <-got:
		if m.Payload == nil || string(m.Payload) != "rev 1" || m.Username != "portal" || m.Role != broker.RolePortal {
			t.Fatalf("handler got %q from %q (role %q), want %q from portal (role portal)", m.Payload, m.Username, m.Role, "rev 1")
		}
	case <-ctx.Done():
		t.Fatal("the changeset from mosquitto_pub never reached the handler")
	}
}

func TestTLSListener(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	cfg := testConfig(t)
	cfg.TLS = broker.TLSListener{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}
	b, _ := start(t, cfg)
	if b.TLSAddr() == "" || b.TLSAddr() == b.TCPAddr() {
		t.Fatalf("TLSAddr() = %q, want a listener of its own", b.TLSAddr())
	}
	c := mustDial(t, clientOpts{
		url: "ssl://" + b.TLSAddr(), id: "tls", username: "display", password: "display-pass",
		tls: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
	})
	c.mustSubscribe(t, must(t)(topic.Status(gw)))
	c.expect(t, must(t)(topic.Status(gw)), topic.StatusOnline)

	// A client that does not trust the certificate does not connect.
	if _, err := dial(t, clientOpts{url: "ssl://" + b.TLSAddr(), id: "untrusting", username: "display", password: "display-pass", tls: &tls.Config{}}); err == nil {
		t.Fatal("a client without the CA connected over TLS")
	}
}

func TestWebSocketListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebSocket = broker.WebSocketListener{Listen: "127.0.0.1:0"}
	b, _ := start(t, cfg)
	c := mustDial(t, clientOpts{url: "ws://" + b.WebSocketAddr() + "/mqtt", id: "ws", username: "display", password: "display-pass"})
	c.mustSubscribe(t, must(t)(topic.EventsFilter(gw)))
	side := must(t)(topic.Events(gw, "side"))
	payload := strings.Repeat("e", 5000) // spans several reads of a message
	if err := b.Publish(side, []byte(payload), false); err != nil {
		t.Fatal(err)
	}
	c.expect(t, side, payload)
	if _, err := dial(t, clientOpts{url: "ws://" + b.WebSocketAddr() + "/mqtt", id: "ws-bad", username: "display", password: "nope"}); err == nil {
		t.Fatal("a bad password connected over WebSocket")
	}
}

func TestStats(t *testing.T) {
	b, _ := start(t, testConfig(t))
	c := mustDial(t, clientOpts{url: tcpURL(b), id: "display", username: "display", password: "display-pass"})
	c.mustSubscribe(t, must(t)(topic.EventsFilter(gw)))
	before := b.Stats()
	front := must(t)(topic.Events(gw, "front"))
	for range 5 {
		if err := b.Publish(front, []byte("e"), false); err != nil {
			t.Fatal(err)
		}
		c.next(t)
	}
	c.publish(t, "display/x", 1, "in")
	got := b.Stats()
	if got.ClientsConnected != 1 {
		t.Errorf("ClientsConnected = %d, want 1", got.ClientsConnected)
	}
	if d := got.MessagesIn - before.MessagesIn; d != 6 {
		t.Errorf("MessagesIn grew by %d, want 6 (5 from the gateway, 1 from the client)", d)
	}
	if d := got.MessagesOut - before.MessagesOut; d != 5 {
		t.Errorf("MessagesOut grew by %d, want 5", d)
	}
	if got.MessagesDropped != 0 {
		t.Errorf("MessagesDropped = %d, want 0", got.MessagesDropped)
	}
}

// TestBrokerCountersCountWhatTheDocsSay: each counter docs/mqtt.md names
// counts what it says it does, and nothing else; in particular a refused
// publish is not a message dropped for a slow subscriber (that one is
// TestSlowSubscriberLosesMessagesPastQueueLimit).
func TestBrokerCountersCountWhatTheDocsSay(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxClients = 5
	cfg.ReservedForAccounts = 3
	cfg.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
	b, _ := start(t, cfg)
	before := b.Stats()
	v311 := func(o clientOpts) clientOpts { o.url, o.version = tcpURL(b), 4; return o } // no retry as MQTT 3.1

	display := mustDial(t, v311(clientOpts{id: "display", username: "display", password: "display-pass"}))
	// Three refused publishes: sync/changes from a plain client, another
	// gateway's event, outside the ACL. The allowed QoS 1 publish after
	// them is acknowledged once the broker has handled them.
	display.Publish(must(t)(topic.SyncChanges(gw)), 0, false, "changeset").WaitTimeout(waitFor)
	display.Publish(must(t)(topic.Events("gw2", "front")), 0, false, "event").WaitTimeout(waitFor)
	display.Publish("elsewhere", 0, false, "x").WaitTimeout(waitFor)
	display.publish(t, "display/ok", 1, "ok")
	// Two refused subscriptions, one granted.
	for _, f := range []string{"#", "$SYS/#"} {
		if code := display.subscribe(t, f); code != 0x80 {
			t.Fatalf("subscribe %q: SUBACK %#x, want 0x80", f, code)
		}
	}
	display.mustSubscribe(t, must(t)(topic.EventsFilter(gw)))

	// Two refused clients: a bad password, a will on a topic anonymous
	// clients may not publish on.
	if _, err := dial(t, v311(clientOpts{id: "guess", username: "portal", password: "guess"})); err == nil {
		t.Fatal("a bad password connected")
	}
	if _, err := dial(t, v311(clientOpts{id: "willful", will: "x"})); err == nil {
		t.Fatal("an anonymous will on a topic outside its ACL was accepted")
	}
	// One refused for want of a slot: 5 less 3 reserved is 2 anonymous.
	mustDial(t, v311(clientOpts{id: "anon1"}))
	mustDial(t, v311(clientOpts{id: "anon2"}))
	if _, err := dial(t, v311(clientOpts{id: "anon3"})); err == nil {
		t.Fatal("a third anonymous client connected")
	}

	got := b.Stats()
	delta := broker.Stats{
		ClientsConnected:     got.ClientsConnected,
		MessagesDropped:      got.MessagesDropped - before.MessagesDropped,
		PublishesRefused:     got.PublishesRefused - before.PublishesRefused,
		SubscriptionsRefused: got.SubscriptionsRefused - before.SubscriptionsRefused,
		ClientsRefused:       got.ClientsRefused - before.ClientsRefused,
		ClientsRefusedFull:   got.ClientsRefusedFull - before.ClientsRefusedFull,
	}
	want := broker.Stats{
		ClientsConnected:     3,
		PublishesRefused:     3,
		SubscriptionsRefused: 2,
		ClientsRefused:       2,
		ClientsRefusedFull:   1,
	}
	if diff := cmp.Diff(delta, want); diff != "" {
		t.Fatalf("counters grew other than the docs say (-got +want):\n%s", diff)
	}
}

// TestDocsNameTheBrokerCounters holds docs/mqtt.md and this package's doc
// to Stats: every counter the documents name (as Stats.Name, or in the
// counter table of docs/mqtt.md) is a field of Stats, and the table lists
// every field.
func TestDocsNameTheBrokerCounters(t *testing.T) {
	fields := map[string]bool{}
	st := reflect.TypeOf(broker.Stats{})
	for i := range st.NumField() {
		fields[st.Field(i).Name] = true
	}
	named := regexp.MustCompile(`Stats\.([A-Z]\w*)`)
	row := regexp.MustCompile("(?m)^\\| `([A-Z]\\w*)` \\|")
	for _, doc := range []string{"doc.go", "../docs/mqtt.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(text), -1) {
			if !fields[m[1]] {
				t.Errorf("%s names Stats.%s, which is not a counter of broker.Stats", doc, m[1])
			}
		}
		if doc != "../docs/mqtt.md" {
			continue
		}
		listed := map[string]bool{}
		for _, m := range row.FindAllStringSubmatch(string(text), -1) {
			listed[m[1]] = true
			if !fields[m[1]] {
				t.Errorf("%s lists counter %s, which broker.Stats does not have", doc, m[1])
			}
		}
		for f := range fields {
			if !listed[f] {
				t.Errorf("%s does not list broker.Stats.%s in its counter table", doc, f)
			}
		}
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.WebSocket = broker.WebSocketListener{Listen: busy.Addr().String()}
	b, err := broker.New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start()
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Start = %v, want an error naming %s", err, busy.Addr())
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close after a failed Start: %v", err)
	}
	if err := b.Start(); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestPublishAndSubscribeRefuseBadTopics(t *testing.T) {
	b, err := broker.New(testConfig(t), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{"", "a/+", "a/#", "a\x00"} {
		if err := b.Publish(name, nil, false); err == nil {
			t.Errorf("Publish(%q) = nil, want an error", name)
		}
	}
	for _, filter := range []string{"", "a/#/b", "a+"} {
		if err := b.Subscribe(filter, func(string, []byte) {}); err == nil {
			t.Errorf("Subscribe(%q) = nil, want an error", filter)
		}
	}
	if err := b.Subscribe("a/#", nil); err == nil {
		t.Error("Subscribe with a nil handler = nil, want an error")
	}
}

// TestCloseDuringConnectionChurn closes the broker while clients connect,
// half-connect and disconnect as fast as they can. Run with -race (and
// -count) it is the check that shutdown is ordered so that nothing of
// mochi's runs on after Close or races with it (upstream issue 541).
func TestCloseDuringConnectionChurn(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
			cfg.WebSocket = broker.WebSocketListener{Listen: "127.0.0.1:0"}
			b, err := broker.New(cfg, discard())
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			addr, wsAddr := b.TCPAddr(), b.WebSocketAddr()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			stopped := false
			halt := func() {
				if !stopped {
					stopped = true
					close(stop)
					wg.Wait()
				}
			}
			defer halt() // also on a failure below, so no churn outlives the test
			defer b.Close()
			connected := make(chan struct{}, 1) // a CONNACK arrived
			for w := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if w%2 == 0 {
							churn(addr, w, i, connected)
						} else {
							churnWS(wsAddr, w, i, connected)
						}
					}
				})
			}
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					b.Publish(must(t)(topic.Events(gw, "front")), []byte("e"), false) //nolint:errcheck // ErrClosed once Close begins.
				}
			})
			// Let connections pile up in every state, then close under them.
			deadline := time.After(waitFor)
			for n := range 4 {
				select {
				case <-connected:
				case <-deadline:
					t.Fatalf("%d churning clients got a CONNACK in %v, want 4", n, waitFor)
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			halt()
			if n := b.Stats().ClientsConnected; n != 0 {
				t.Fatalf("ClientsConnected after Close = %d, want 0", n)
			}
		})
	}
}

// churnWS does what churn does, over WebSocket.
func churnWS(addr string, w, i int, connected chan<- struct{}) {
	d := websocket.Dialer{HandshakeTimeout: time.Second, Subprotocols: []string{"mqtt"}}
	c, _, err := d.Dial("ws://"+addr+"/mqtt", nil)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // best effort in a stress loop.
	churnScript(byte('A'+w), i, connected,
		func(b []byte) error { return c.WriteMessage(websocket.BinaryMessage, b) },
		func() error { _, _, err := c.ReadMessage(); return err })
}

// churn opens one raw connection and runs churnScript on it.
func churn(addr string, w, i int, connected chan<- struct{}) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // best effort in a stress loop.
	buf := make([]byte, 512)
	churnScript(byte('a'+w), i, connected,
		func(b []byte) error { _, err := c.Write(b); return err },
		func() error { _, err := c.Read(buf); return err })
}

// churnScript leaves one connection in one of several states, chosen by
// i: closed at once, closed mid-CONNECT, or connected and subscribed then
// dropped. idFirst starts the client id, keeping TCP and WebSocket
// clients apart. Each CONNACK is offered on connected, without waiting.
func churnScript(idFirst byte, i int, connected chan<- struct{}, send func([]byte) error, recv func() error) {
	connect := []byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, idFirst, byte('a' + i%26)}
	switch i % 3 {
	case 0:
		return
	case 1:
		send(connect[:7]) //nolint:errcheck // half a CONNECT on purpose.
		return
	}
	if send(connect) != nil || recv() != nil {
		return
	}
	select {
	case connected <- struct{}{}:
	default:
	}
	send([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0x01}) //nolint:errcheck // as above.
	recv()                                                      //nolint:errcheck // as above.
}

func TestClientIDOfAnotherAccountIsRefused(t *testing.T) {
	b, _ := start(t, testConfig(t))
	mustDial(t, clientOpts{url: tcpURL(b), id: "panel-1", username: "display", password: "display-pass"})
	if _, err := dial(t, clientOpts{url: tcpURL(b), id: "panel-1", username: "portal", password: "portal-pass"}); err == nil {
		t.Fatal("portal took over display's session by reusing its client id")
	}
	// The same account may take its own session over, as MQTT requires.
	mustDial(t, clientOpts{url: tcpURL(b), id: "panel-1", username: "display", password: "display-pass"})
}

func TestMaxClients(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxClients = 1
	b, _ := start(t, cfg)
	mustDial(t, clientOpts{url: tcpURL(b), id: "first", username: "display", password: "display-pass"})
	if _, err := dial(t, clientOpts{url: tcpURL(b), id: "second", username: "display", password: "display-pass"}); err == nil {
		t.Fatal("a second client connected with max_clients = 1")
	}
}

// TestPortalAccountStaysUsableWhenAnonymousClientsFillMaxClients:
// anonymous clients (a LAN full of displays, or one buggy one reconnecting
// under new ids) may take at most max_clients - reserved_for_accounts
// slots, so the portal can still connect; accounts may use every slot.
// A refusal for want of a slot says "server unavailable", not "bad
// username or password".
func TestPortalAccountStaysUsableWhenAnonymousClientsFillMaxClients(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxClients = 6
	cfg.ReservedForAccounts = 2
	cfg.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
	b, _ := start(t, cfg)

	for i := range 4 {
		mustDial(t, clientOpts{url: tcpURL(b), id: fmt.Sprintf("anon%d", i)})
	}
	_, err := dial(t, clientOpts{url: tcpURL(b), id: "anon4"})
	if !errors.Is(err, pahopackets.ErrorRefusedServerUnavailable) {
		t.Fatalf("a fifth anonymous client of max_clients 6 less 2 reserved: connect error %v, want %v", err, pahopackets.ErrorRefusedServerUnavailable)
	}
	// An anonymous client may still take its own session over (its old
	// connection is going), even with the anonymous slots full.
	mustDial(t, clientOpts{url: tcpURL(b), id: "anon0"})

	portal := mustDial(t, clientOpts{url: tcpURL(b), id: "portal", username: "portal", password: "portal-pass"})
	portal.publish(t, must(t)(topic.SyncChanges(gw)), 1, "rev 1")
	mustDial(t, clientOpts{url: tcpURL(b), id: "display", username: "display", password: "display-pass"})
	_, err = dial(t, clientOpts{url: tcpURL(b), id: "display-2", username: "display", password: "display-pass"})
	if !errors.Is(err, pahopackets.ErrorRefusedServerUnavailable) {
		t.Fatalf("a seventh client of max_clients 6: connect error %v, want %v", err, pahopackets.ErrorRefusedServerUnavailable)
	}
}

// TestClientSlotsComeBackWhenClientsLeave: a slot is given back when its
// client goes, however it goes (DISCONNECT, a dropped connection, over
// TCP or WebSocket), so a broker does not fill up with clients long gone.
func TestClientSlotsComeBackWhenClientsLeave(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxClients = 2
	cfg.Anonymous = broker.Anonymous{Allow: true, Publish: []string{"anon/#"}, Subscribe: []string{"#"}}
	cfg.WebSocket = broker.WebSocketListener{Listen: "127.0.0.1:0"}
	b, _ := start(t, cfg)
	// max_clients 2 reserves 1 (half of it) for accounts: one anonymous
	// client at a time, so each one below needs the slot of the one before.
	ws := "ws://" + b.WebSocketAddr() + "/mqtt"
	for i, way := range []string{"tcp drop", "tcp disconnect", "ws disconnect", "tcp drop", "ws disconnect", "tcp disconnect"} {
		o := clientOpts{url: tcpURL(b), id: fmt.Sprintf("anon%d", i)}
		switch way {
		case "tcp drop":
			o.will = "anon/gone"
		case "ws disconnect":
			o.url = ws
		}
		c := dialWithin(t, o)
		if way == "tcp drop" {
			c.dropConnection(t)
		} else {
			c.Disconnect(0)
		}
	}
}

// TestSlowSubscriberLosesMessagesPastQueueLimit pins down what QueueLimit
// promises: a subscriber that acknowledges nothing holds QueueLimit QoS 1
// messages, and the rest are dropped for it and counted.
func TestSlowSubscriberLosesMessagesPastQueueLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueLimit = 10
	cfg.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
	b, _ := start(t, cfg)

	// A raw MQTT 3.1.1 client: CONNECT, SUBSCRIBE to the events (nothing
	// retained there) at QoS 1, then it never reads or acknowledges again.
	c, err := net.DialTimeout("tcp", b.TCPAddr(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor)) //nolint:errcheck // a failed read below says enough.
	connect := []byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 's', 'l'}
	events := must(t)(topic.EventsFilter(gw))
	subscribe := append([]byte{0x82, byte(5 + len(events)), 0x00, 0x01, 0x00, byte(len(events))}, events...)
	subscribe = append(subscribe, 0x01)
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	connack := make([]byte, 4)
	if _, err := io.ReadFull(c, connack); err != nil || connack[3] != 0 {
		t.Fatalf("CONNACK %x, %v", connack, err)
	}
	if _, err := c.Write(subscribe); err != nil {
		t.Fatal(err)
	}
	suback := make([]byte, 5)
	if _, err := io.ReadFull(c, suback); err != nil || suback[0] != 0x90 || suback[4] != 1 {
		t.Fatalf("SUBACK %x, %v", suback, err)
	}

	before := b.Stats().MessagesDropped
	front := must(t)(topic.Events(gw, "front"))
	for range 50 {
		if err := b.Publish(front, []byte("e"), false); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Stats().MessagesDropped - before; got != 40 {
		t.Fatalf("MessagesDropped grew by %d, want 40 (50 published, 10 held unacknowledged)", got)
	}
}

// TestConcurrentUse runs the gateway's publishes (events, retained door
// states on new and known topics), a portal's changesets and clients that
// keep subscribing and unsubscribing with wildcards, all at once. Under
// -race it checks the retained-message handling and the hooks against
// mochi's own goroutines.
func TestConcurrentUse(t *testing.T) {
	b, _ := start(t, testConfig(t))
	changes := must(t)(topic.SyncChanges(gw))
	var handled atomic.Int64
	if err := b.Subscribe(changes, func(string, []byte) { handled.Add(1) }); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		c := mustDial(t, clientOpts{url: tcpURL(b), id: fmt.Sprintf("watcher%d", w), username: "display", password: "display-pass"})
		wg.Go(func() {
			filters := []string{must(t)(topic.DoorsFilter(gw)), must(t)(topic.EventsFilter(gw)), must(t)(topic.Status(gw))}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := filters[i%len(filters)]
				c.Subscribe(f, 1, nil).WaitTimeout(waitFor)
				c.Unsubscribe(f).WaitTimeout(waitFor)
			}
		})
	}
	portal := mustDial(t, clientOpts{url: tcpURL(b), id: "portal", username: "portal", password: "portal-pass"})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			portal.Publish(changes, 1, true, fmt.Sprintf("rev %d", i)).WaitTimeout(waitFor)
		}
	})
	for i := range 300 {
		door := must(t)(topic.Door(gw, fmt.Sprintf("d%d", i%40))) // new topics, then known ones
		if err := b.Publish(door, []byte(fmt.Sprintf(`{"n":%d}`, i)), true); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(must(t)(topic.Events(gw, "front")), []byte("e"), false); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if handled.Load() == 0 {
		t.Fatal("no changeset reached the handler")
	}
}

// TestDoorCommandsOnlyFromHomeAssistantAccounts: a door command
// (doors/{door}/set) reaches the gateway only from an account with role
// homeassistant; a portal account allowed "#", an anonymous client and the
// homeassistant account itself may not publish on the gateway's reserved
// topics (its discovery configs), though the homeassistant account may
// publish its own status.
func TestDoorCommandsOnlyFromHomeAssistantAccounts(t *testing.T) {
	cfg := testConfig(t)
	cfg.Clients = append(cfg.Clients, broker.Client{
		Username: "ha", Role: broker.RoleHomeAssistant, PasswordHash: hash(t, "ha-pass"),
		Publish:   []string{must(t)(topic.DoorCommandsFilter(gw)), "homeassistant/#"},
		Subscribe: []string{"homeassistant/#", "lintel/v1/" + gw + "/#"},
	})
	cfg.Anonymous = broker.Anonymous{Allow: true, Publish: []string{"anon/#", "homeassistant/#"}}
	cfg.Reserved = []string{"homeassistant/+/" + gw + "/+/config"}
	b, _ := start(t, cfg)
	command := must(t)(topic.DoorCommand(gw, "front"))
	discovery := "homeassistant/lock/" + gw + "/front/config"
	got := make(chan broker.Message, 8)
	for _, f := range []string{must(t)(topic.DoorCommandsFilter(gw)), "homeassistant/#"} {
		if err := b.SubscribeMessages(f, func(m broker.Message) { got <- m }); err != nil {
			t.Fatal(err)
		}
	}
	before := b.Stats()
	v311 := func(o clientOpts) clientOpts { o.url, o.version = tcpURL(b), 4; return o }

	// Refused QoS 0 publishes, each client's followed by an allowed QoS 1
	// one, acknowledged once the broker has handled those before it.
	portal := mustDial(t, v311(clientOpts{id: "portal", username: "portal", password: "portal-pass"}))
	portal.Publish(command, 0, false, "UNLOCK").WaitTimeout(waitFor)
	portal.Publish(discovery, 0, false, "{}").WaitTimeout(waitFor)
	portal.publish(t, "portal/ok", 1, "ok")
	anon := mustDial(t, v311(clientOpts{id: "anon"}))
	anon.Publish(command, 0, false, "UNLOCK").WaitTimeout(waitFor)
	anon.Publish(discovery, 0, false, "{}").WaitTimeout(waitFor)
	anon.publish(t, "anon/ok", 1, "ok")
	ha := mustDial(t, v311(clientOpts{id: "ha-1", username: "ha", password: "ha-pass"}))
	ha.Publish(discovery, 0, false, "{}").WaitTimeout(waitFor)
	ha.publish(t, "homeassistant/status", 1, "online")
	ha.publish(t, command, 1, "UNLOCK")

	for _, want := range []broker.Message{
		{Topic: "homeassistant/status", Payload: []byte("online"), ClientID: "ha-1", Username: "ha", Role: broker.RoleHomeAssistant},
		{Topic: command, Payload: []byte("UNLOCK"), ClientID: "ha-1", Username: "ha", Role: broker.RoleHomeAssistant},
	} {
		select {
		case m := <-got:
			if diff := cmp.Diff(m, want); diff != "" {
				t.Fatalf("the gateway got another message (-got +want):\n%s", diff)
			}
		case <-time.After(waitFor):
			t.Fatalf("the gateway never got %s %q", want.Topic, want.Payload)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("the gateway got %s %q from %q, which the rules refuse", m.Topic, m.Payload, m.ClientID)
	default:
	}
	if d := b.Stats().PublishesRefused - before.PublishesRefused; d != 5 {
		t.Errorf("PublishesRefused grew by %d, want 5", d)
	}
}
