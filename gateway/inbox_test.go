package gateway

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// localPortalPassword is the password of the embedded broker's portal
// account in the sync tests.
const localPortalPassword = "local portal password"

// withLocalPortal gives the embedded broker a portal account "portal": only
// a portal account may publish changesets there.
func withLocalPortal(t testing.TB) func(*Config) {
	t.Helper()
	hash, err := broker.HashPassword(localPortalPassword)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.Broker.Clients = append(c.Broker.Clients, broker.Client{Username: "portal", Role: broker.RolePortal, PasswordHash: hash,
			Publish: []string{"lintel/v1/lintel-sim/sync/changes"}, Subscribe: []string{"lintel/v1/lintel-sim/#"}})
	}
}

// localPortal connects to the gateway's embedded broker as its portal
// account.
func localPortal(t testing.TB, g *Gateway, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + g.broker.TCPAddr()).SetClientID(id).
		SetUsername("portal").SetPassword(localPortalPassword))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect to the embedded broker: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestSyncBrokerBackToBackDeltasInOrder is the reordering finding: 300
// deltas published back to back on the embedded broker, each building on
// the one before, are all applied, in order, with no gap.
func TestSyncBrokerBackToBackDeltasInOrder(t *testing.T) {
	const n = 300
	g := startSim(t, withLocalPortal(t))
	acks := uplinktest.Subscribe(t, "tcp://"+g.broker.TCPAddr(), "lintel/v1/lintel-sim/sync/acks")
	portal := localPortal(t, g, "portal")
	toks := make([]mqtt.Token, 0, n)
	for rev := 1; rev <= n; rev++ {
		payload := fmt.Sprintf(`{"revision":%d,"base":%d,"ops":[{"op":"user.upsert","user":"u%d","name":"U","enabled":true}]}`, rev, rev-1, rev)
		toks = append(toks, portal.Publish("lintel/v1/lintel-sim/sync/changes", 1, false, payload))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	var applied, refused int
	codes := map[changeset.Code]int{}
	acks.WaitFor(t, 60*time.Second, fmt.Sprintf("%d acks", n), func(m []uplinktest.Message) bool {
		applied, refused = 0, 0
		clear(codes)
		for _, msg := range m {
			var a changeset.Ack
			if json.Unmarshal(msg.Payload, &a) != nil || a.Status == changeset.StatusCurrent {
				continue
			}
			switch a.Status {
			case changeset.StatusApplied:
				applied++
			case changeset.StatusRefused:
				refused++
				codes[a.Error.Code]++
			}
		}
		return applied+refused >= n
	})
	if applied != n || refused != 0 {
		t.Errorf("of %d back-to-back deltas: %d applied, %d refused %v; want all applied", n, applied, refused, codes)
	}
	if got := g.store.Revision(); got != n {
		t.Errorf("revision after %d deltas: got %d, want %d", n, got, n)
	}
	// Each is audited, naming the embedded broker as the actor.
	var audited int
	for _, ev := range syncEvents(t, g, 0) {
		if ev.Type == TypeSyncApplied && strings.Contains(ev.Detail, " applied by local-broker:portal") {
			audited++
		}
	}
	if audited != n {
		t.Errorf("%d audit events name the embedded broker, want %d", audited, n)
	}
}

// rawPublisher is a bare MQTT 3.1.1 client over one TCP connection that
// publishes from the caller's buffer, so a flood costs the client no
// memory of its own and the heap measured is the gateway's.
type rawPublisher struct {
	conn   net.Conn
	nextID uint16
	acked  chan uint16
}

// dialRaw connects as the embedded broker's portal account (see
// withLocalPortal), the one account that may publish changesets.
func dialRaw(tb testing.TB, addr, clientID string) *rawPublisher {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = "MQTT", 4, true, clientID, 60
	cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, "portal", true, []byte(localPortalPassword)
	if err := cp.Write(conn); err != nil {
		tb.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack, err := packets.ReadPacket(conn)
	if ca, ok := ack.(*packets.ConnackPacket); err != nil || !ok || ca.ReturnCode != 0 {
		tb.Fatalf("connack: %v %v", ack, err)
	}
	conn.SetReadDeadline(time.Time{})
	p := &rawPublisher{conn: conn, acked: make(chan uint16, 1<<16)}
	go func() {
		for {
			pk, err := packets.ReadPacket(conn)
			if err != nil {
				close(p.acked)
				return
			}
			if pa, ok := pk.(*packets.PubackPacket); ok {
				p.acked <- pa.MessageID
			}
		}
	}()
	return p
}

// publish sends payload at QoS 1 without waiting for its PUBACK.
func (p *rawPublisher) publish(tb testing.TB, topic string, payload []byte) {
	p.nextID++
	pk := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pk.Qos, pk.TopicName, pk.MessageID, pk.Payload = 1, topic, p.nextID, payload
	if err := pk.Write(p.conn); err != nil {
		tb.Fatalf("publish: %v", err)
	}
}

// waitAcked waits for the PUBACKs of n publishes.
func (p *rawPublisher) waitAcked(tb testing.TB, n int) {
	deadline := time.After(2 * time.Minute)
	for range n {
		select {
		case _, ok := <-p.acked:
			if !ok {
				tb.Fatal("the broker closed the connection")
			}
		case <-deadline:
			tb.Fatal("PUBACKs did not come within 2 minutes")
		}
	}
}

// peakMemory samples the heap in use and the process's resident size until
// stop is closed, and returns their highest values in bytes.
func peakMemory(stop <-chan struct{}) (heap, rss chan uint64) {
	heap, rss = make(chan uint64, 1), make(chan uint64, 1)
	go func() {
		var peakHeap, peakRSS uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			peakRSS = max(peakRSS, residentBytes())
			select {
			case <-stop:
				heap <- peakHeap
				rss <- peakRSS
				return
			case <-t.C:
			}
		}
	}()
	return heap, rss
}

// residentBytes is the process's VmRSS, 0 where /proc is missing.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkSyncBrokerFloodMemory is the memory finding: 300 changesets of
// 1 MiB published back to back on the embedded broker took the gateway
// from 50 to 318 MiB. Each is a snapshot of 2,000 users padded with blanks
// to just under the broker's 1 MiB packet limit, so that applying one
// takes a while, as a real snapshot does. It reports the heap and resident
// size the flood adds at its peak, and how the changesets were answered
// (the inbox holds 40 MiB at most and refuses the rest as busy).
//
// The flood comes from the embedded broker's portal account, the only
// account the broker lets publish changesets, so that every one reaches
// the inbox: from any other client the broker refuses the first publish
// and drops the connection, and nothing of the inbox would be measured.
func BenchmarkSyncBrokerFloodMemory(b *testing.B) {
	const n, users = 300, 2000
	g := startSim(b, withLocalPortal(b))
	changes := "lintel/v1/lintel-sim/sync/changes"
	pub := dialRaw(b, g.broker.TCPAddr(), "flood")
	acks := uplinktest.Subscribe(b, "tcp://"+g.broker.TCPAddr(), "lintel/v1/lintel-sim/sync/acks")
	// One buffer is reused for every payload: the client holds 1 MiB.
	buf := make([]byte, 1<<20-256)
	fill := func(rev uint64) {
		w := fmt.Appendf(buf[:0], `{"revision":%d,"snapshot":true,"users":[`, rev)
		for u := range users {
			if u > 0 {
				w = append(w, ',')
			}
			w = fmt.Appendf(w, `{"id":"u%d","name":"User %d","enabled":true}`, u, rev)
		}
		w = append(w, "]}"...)
		for j := len(w); j < len(buf); j++ {
			buf[j] = ' '
		}
	}
	var heapAdd, rssAdd, applied, busy, gaps float64
	rev := g.store.Revision()
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseHeap, baseRSS := ms.HeapInuse, residentBytes()
		stop := make(chan struct{})
		heap, rss := peakMemory(stop)
		before := len(acks.Messages())
		start := rev
		for i := range n {
			fill(start + uint64(i) + 1)
			pub.publish(b, changes, buf)
		}
		pub.waitAcked(b, n)
		msgs := acks.WaitFor(b, 2*time.Minute, fmt.Sprintf("%d acks", n), func(m []uplinktest.Message) bool { return len(m)-before >= n })
		close(stop)
		peakHeap, peakRSS := <-heap, <-rss
		heapAdd += float64(peakHeap-min(baseHeap, peakHeap)) / (1 << 20)
		rssAdd += float64(peakRSS-min(baseRSS, peakRSS)) / (1 << 20)
		for _, m := range msgs[before:] {
			var a changeset.Ack
			if json.Unmarshal(m.Payload, &a) != nil {
				continue
			}
			switch {
			case a.Status == changeset.StatusApplied:
				applied++
			case a.Error != nil && a.Error.Code == changeset.CodeBusy:
				busy++
			case a.Error != nil && a.Error.Code == changeset.CodeGap:
				gaps++
			}
		}
		rev = g.store.Revision()
	}
	b.ReportMetric(heapAdd/float64(b.N), "heap-added-MiB")
	b.ReportMetric(rssAdd/float64(b.N), "rss-added-MiB")
	b.ReportMetric(applied/float64(b.N), "applied/op")
	b.ReportMetric(busy/float64(b.N), "busy/op")
	b.ReportMetric(gaps/float64(b.N), "gap/op")
}
