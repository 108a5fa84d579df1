package broker_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/mosquittotest"
)

// benchWindow is how many messages the benchmark keeps between the
// publisher and the subscriber: published, not yet received. The brokers
// acknowledge a publish as soon as it is queued, so a window on PUBACKs
// alone would let the publisher outrun the subscriber and measure what a
// subscriber loses past its queue (Config.QueueLimit) instead of
// throughput. 256 stays well under the embedded broker's default limit.
const benchWindow = 256

// benchBatch is how many messages one benchmark op publishes, so that even
// -benchtime 1x measures a stream rather than one round trip.
const benchBatch = 10000

// benchPayload is about the size of a journal event.
var benchPayload = []byte(`{"seq":123456,"id":"gw1-123456","time":"2026-11-28T04:00:00Z","type":"access.granted","name":"Grant Access","reader":"front","door":"front","user":"u1"}`)

// BenchmarkPublish measures one paho publisher sending b.N×benchBatch QoS 1
// messages to one paho subscriber, through the embedded broker and through a real
// mosquitto on the same machine. Each reports msgs/s; the mosquitto run
// also reports embedded/mosquitto, the embedded broker's rate (from its
// last run just before) as a fraction of mosquitto's.
func BenchmarkPublish(b *testing.B) {
	var embedded float64
	b.Run("embedded", func(b *testing.B) {
		cfg := broker.Config{
			GatewayID: "gw1",
			Listen:    "127.0.0.1:0",
			Anonymous: broker.Anonymous{Allow: true, Publish: []string{"bench/#"}, Subscribe: []string{"bench/#"}},
		}
		br, err := broker.New(cfg, discard())
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Start(); err != nil {
			b.Fatal(err)
		}
		defer br.Close()
		embedded = benchPublish(b, "tcp://"+br.TCPAddr())
	})
	b.Run("mosquitto", func(b *testing.B) {
		srv := mosquittotest.Start(b)
		rate := benchPublish(b, srv.URL())
		if embedded > 0 {
			b.ReportMetric(embedded/rate, "embedded/mosquitto")
		}
	})
}

// benchPublish runs one round and returns its rate in messages a second,
// also reported as the msgs/s metric.
func benchPublish(b *testing.B, url string) float64 {
	b.Helper()
	sub := benchClient(b, url, "bench-sub")
	var got atomic.Int64
	done := make(chan struct{})
	total := b.N * benchBatch
	n := int64(total)
	inFlight := make(chan struct{}, benchWindow)
	tok := sub.Subscribe("bench/events", 1, func(_ paho.Client, _ paho.Message) {
		<-inFlight
		if got.Add(1) == n {
			close(done)
		}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := benchClient(b, url, "bench-pub")

	b.SetBytes(int64(len(benchPayload) * benchBatch))
	b.ResetTimer()
	start := time.Now()
	tokens := make([]paho.Token, 0, total)
	for i := 0; i < total; i++ {
		select {
		case inFlight <- struct{}{}:
		case <-time.After(waitFor):
			b.Fatalf("the subscriber received %d of %d messages, then nothing for %v", got.Load(), i, waitFor)
		}
		tokens = append(tokens, pub.Publish("bench/events", 1, false, benchPayload))
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		b.Fatalf("the subscriber received %d of %d messages", got.Load(), total)
	}
	for _, t := range tokens {
		waitToken(b, t)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchClient(b *testing.B, url, id string) paho.Client {
	b.Helper()
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(fmt.Sprintf("%s-%d", id, b.N)).
		SetAutoReconnect(false).
		SetConnectTimeout(waitFor)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		b.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(0) })
	return c
}

func waitToken(b *testing.B, t paho.Token) {
	if !t.WaitTimeout(waitFor) || t.Error() != nil {
		b.Fatalf("publish: no PUBACK (%v)", t.Error())
	}
}
