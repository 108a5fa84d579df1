package uplinktest

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/mosquittotest"
)

func TestLineChecker(t *testing.T) {
	const gw = "gw-1"
	ok := func(seq uint64, reader string) string {
		segment := reader
		if segment == "" {
			segment = "gateway"
		}
		return "lintel/v1/gw-1/events/" + segment + " " + string(EventJSON(gw, seq, reader))
	}
	tests := []struct {
		name string
		line string
		seq  uint64
		want string // error prefix; "" for nil
	}{
		{"reader", ok(12, "front"), 12, ""},
		{"no reader", ok(13, ""), 13, ""},
		{"wrong reader topic", strings.Replace(ok(12, "front"), "events/front", "events/side", 1), 0, `event 12 of reader "front" arrived on "lintel/v1/gw-1/events/side"`},
		{"reader-less on a reader topic", strings.Replace(ok(13, ""), "events/gateway", "events/front", 1), 0, `event 13 of reader "gateway" arrived on`},
		{"other gateway", strings.Replace(ok(12, "front"), "v1/gw-1/", "v1/gw-2/", 1), 0, `event 12 of reader "front" arrived on "lintel/v1/gw-2/events/front"`},
		{"id of another event", strings.Replace(ok(12, "front"), `"id":"gw-1-12"`, `"id":"gw-1-11"`, 1), 0, `event 12: want id "gw-1-12"`},
		{"id with a longer seq", strings.Replace(ok(12, "front"), `"id":"gw-1-12"`, `"id":"gw-1-123"`, 1), 0, `event 12: want id "gw-1-12"`},
		{"no seq", `lintel/v1/gw-1/events/front {"id":"gw-1-1"}`, 0, `no "seq": in`},
		{"no payload", "lintel/v1/gw-1/events/front", 0, "no payload in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := lineChecker{prefix: []byte("lintel/v1/gw-1/events/"), id: []byte(`"id":"gw-1-`)}
			seq, err := c.check([]byte(tc.line))
			switch {
			case tc.want == "" && (err != nil || seq != tc.seq):
				t.Fatalf("check(%q) = %d, %v; want %d", tc.line, seq, err, tc.seq)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("check(%q) = %d, %v; want an error starting %q", tc.line, seq, err, tc.want)
			}
		})
	}
}

// TestMosquittoSub: the session registered before events are published
// gets them, whether the collector reads while they are published or
// starts afterwards; a message on the wrong topic fails the check.
func TestMosquittoSub(t *testing.T) {
	const gw = "gw-1"
	srv := mosquittotest.Start(t)
	opts := mqtt.NewClientOptions().AddBroker(srv.URL()).SetClientID("uplinktest-publisher")
	pub := mqtt.NewClient(opts)
	if tok := pub.Connect(); !tok.WaitTimeout(subscribeTimeout) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	publish := func(topic string, payload []byte) {
		t.Helper()
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(subscribeTimeout) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	events := func(first, last uint64) {
		for seq := first; seq <= last; seq++ {
			reader, segment := "front", "front"
			if seq%2 == 0 {
				reader, segment = "", "gateway"
			}
			publish("lintel/v1/gw-1/events/"+segment, EventJSON(gw, seq, reader))
		}
	}

	live := NewMosquittoSub(t, srv.Addr(), gw)
	live.Start(1, 4)
	events(1, 4)
	if err := live.Wait(time.Minute); err != nil {
		t.Errorf("collector reading while published: %v", err)
	}

	queued := NewMosquittoSub(t, srv.Addr(), gw)
	events(5, 8)
	queued.Start(5, 8)
	if err := queued.Wait(time.Minute); err != nil {
		t.Errorf("collector started afterwards: %v", err)
	}

	wrong := NewMosquittoSub(t, srv.Addr(), gw)
	publish("lintel/v1/gw-1/events/side", EventJSON(gw, 9, "front"))
	wrong.Start(9, 9)
	if err := wrong.Wait(time.Minute); err == nil || !strings.Contains(err.Error(), `event 9 of reader "front" arrived on "lintel/v1/gw-1/events/side"`) {
		t.Errorf("Wait() = %v for an event on another reader's topic", err)
	}
}
