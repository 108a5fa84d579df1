package gateway

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/mosquittotest"
)

// BenchmarkCloudChangeToDoor measures one change published on the cloud
// broker until it is effective at the door: a changeset setting a new PIN
// goes to a real mosquitto, through the uplink and the applier into the
// store, until the decision path's directory finds the user by that PIN.
// Budget: p99 ≤ 5 ms on broker=mosquitto-defaults.
//
// broker=mosquitto-defaults is the budget's case: mosquitto with its stock
// settings, the configuration mosquittotest writes with a zero Config, in
// particular without set_tcp_nodelay. Nagle's algorithm is then on at the
// broker, and a change would wait there for the gateway's delayed ACK of the
// packet before it (up to 40 ms), but for the uplink acknowledging at once
// (TCP_QUICKACK; see package sync/uplink). broker=tcp-nodelay runs the same
// with set_tcp_nodelay true, as hosted brokers usually run, for comparison.
func BenchmarkCloudChangeToDoor(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  mosquittotest.Config
	}{
		{"broker=mosquitto-defaults", mosquittotest.Config{}},
		{"broker=tcp-nodelay", mosquittotest.Config{TCPNoDelay: true}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchCloudChangeToDoor(b, bc.cfg) })
	}
}

func benchCloudChangeToDoor(b *testing.B, cfg mosquittotest.Config) {
	cloud := mosquittotest.StartWith(b, cfg)
	g := startSim(b, cloudConfig(cloud.URL()))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(cloud.URL()).SetClientID("portal-bench"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("portal connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	// Wait for the uplink to be subscribed before timing anything.
	for deadline := time.Now().Add(20 * time.Second); !g.uplink.State().Connected; {
		if time.Now().After(deadline) {
			b.Fatal("uplink did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	publish := func(rev int, pin string) time.Time {
		payload := fmt.Sprintf(`{"revision":%d,"base":%d,"ops":[{"op":"user.upsert","user":"u1","name":"U","enabled":true},{"op":"pin.set","user":"u1","pin":%q}]}`, rev, rev-1, pin)
		start := time.Now()
		if tok := c.Publish("lintel/v1/lintel-sim/sync/changes", 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("publish: %v", tok.Error())
		}
		return start
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		pin := fmt.Sprintf("%08d", 10000000+i*7919%89999999)
		start := publish(i+1, pin)
		deadline := start.Add(10 * time.Second)
		for {
			if h, ok := g.store.PIN([]byte(pin)); ok && h.User.ID == "u1" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("change %d not effective within 10s", i+1)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}
