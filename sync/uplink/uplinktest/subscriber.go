package uplinktest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Subscriber received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Subscriber is a cloud-side MQTT client that records, in arrival order,
// every message delivered on one topic filter at QoS 1.
type Subscriber struct {
	client mqtt.Client
	filter string

	// mu guards msgs.
	mu   sync.Mutex
	msgs []Message
	// changed holds a token when messages arrived since WaitFor last
	// looked; one token stands for any number of messages.
	changed chan struct{}
}

// subscribeTimeout bounds connecting and subscribing; the broker is a real
// process, so the wait is generous.
const subscribeTimeout = 15 * time.Second

var clientIDs atomic.Uint64

// Subscribe connects to the broker at url with a clean session and
// subscribes to filter. It fails the test if either does not succeed, and
// disconnects when the test ends. The subscriber does not reconnect.
func Subscribe(t testing.TB, url, filter string) *Subscriber {
	t.Helper()
	return subscribe(t, url, fmt.Sprintf("uplinktest-sub-%d", clientIDs.Add(1)), filter, false)
}

// SubscribePersistent is Subscribe with a persistent session under
// clientID that reconnects after the broker goes away: with a broker that
// keeps its sessions across a restart, messages published while the
// subscriber was cut off are delivered when it is back.
func SubscribePersistent(t testing.TB, url, clientID, filter string) *Subscriber {
	t.Helper()
	return subscribe(t, url, clientID, filter, true)
}

func subscribe(t testing.TB, url, clientID, filter string, persistent bool) *Subscriber {
	t.Helper()
	s := &Subscriber{filter: filter, changed: make(chan struct{}, 1)}
	subscribed := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(!persistent).
		SetAutoReconnect(persistent).
		SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectTimeout(subscribeTimeout).
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Subscribe on every connect: a broker that lost its
			// sessions would otherwise deliver nothing after a restart.
			tok := c.Subscribe(filter, 1, s.record)
			tok.WaitTimeout(subscribeTimeout)
			select {
			case subscribed <- tok.Error():
			default:
			}
		})
	// A persistent session receives queued messages before the OnConnect
	// handler could subscribe; the default handler catches those.
	opts.SetDefaultPublishHandler(s.record)
	s.client = mqtt.NewClient(opts)
	if tok := s.client.Connect(); !tok.WaitTimeout(subscribeTimeout) || tok.Error() != nil {
		t.Fatalf("uplinktest: subscriber connect to %s: %v (or timed out after %v)", url, tok.Error(), subscribeTimeout)
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("uplinktest: subscribe to %s on %s: %v", filter, url, err)
		}
	case <-time.After(subscribeTimeout):
		t.Fatalf("uplinktest: subscribe to %s on %s: no SUBACK within %v", filter, url, subscribeTimeout)
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

func (s *Subscriber) record(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Messages returns the messages received so far, in arrival order.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Len returns how many messages were received so far.
func (s *Subscriber) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitFor waits until done returns true for the messages received so far,
// or fails the test after timeout (the broker is a real process: the
// deadline is generous, and reaching it is a failure, not a measurement).
// It returns the messages done accepted. One WaitFor at a time.
func (s *Subscriber) WaitFor(t testing.TB, timeout time.Duration, what string, done func([]Message) bool) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs := s.msgs
		s.mu.Unlock()
		if done(msgs) {
			return append([]Message(nil), msgs...)
		}
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("uplinktest: subscriber on %s: waited %v for %s; got %d messages", s.filter, timeout, what, len(msgs))
			return nil
		}
	}
}

// Seqs parses the event payloads received so far into their sequence
// numbers, failing the test on a payload that is not an event.
func Seqs(t testing.TB, msgs []Message) []uint64 {
	t.Helper()
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		e, err := ParseEvent(m.Payload)
		if err != nil {
			t.Fatalf("message %d on %s: %v", i, m.Topic, err)
		}
		out[i] = e.Seq
	}
	return out
}
