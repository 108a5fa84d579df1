package broker_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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

// benchRound is how many messages one round sends through one broker.
const benchRound = 10000

// benchRounds is how many rounds each broker gets per op, alternating.
// Short rounds, many of them: on a shared machine the load changes within
// seconds, and the more often the brokers take turns the less either one
// has a quiet or a busy stretch to itself.
const benchRounds = 9

// benchPayload is about the size of a journal event.
var benchPayload = []byte(`{"seq":123456,"id":"gw1-123456","time":"2026-11-28T04:00:00Z","type":"access.granted","name":"Grant Access","reader":"front","door":"front","user":"u1"}`)

// BenchmarkPublish compares the embedded broker's publish throughput with
// a real mosquitto's on the same machine, in the same run, with the same
// client: one paho publisher sending QoS 1 messages to one paho subscriber
// (benchRound messages a round, benchWindow of them at most between the
// two). Each op runs benchRounds rounds on each broker, alternating which
// goes first, so that a change in the machine's load in the middle of the
// run does not decide the comparison. It reports each broker's median
// rate (embedded-msgs/s, mosquitto-msgs/s) and the ratio of the medians
// (embedded/mosquitto). Budget: embedded/mosquitto ≥ 1.0.
//
// On a machine busy with other work the wall-clock ratio also measures
// how the kernel shares the cores: the embedded broker and the clients are
// one process of at most GOMAXPROCS running threads, mosquitto is a
// process more. So it also reports messages per second of CPU spent by the
// clients and the broker together (this process's CPU time, plus
// mosquitto's from /proc on its rounds), as embedded-msgs/cpu-s,
// mosquitto-msgs/cpu-s and their ratio embedded/mosquitto-cpu; where /proc
// is missing these are left out.
func BenchmarkPublish(b *testing.B) {
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
	embedded := "tcp://" + br.TCPAddr()
	mosq := mosquittotest.Start(b)
	cpu := func() (time.Duration, bool) {
		self, ok1 := selfCPU()
		other, ok2 := processCPU(mosq.Pid())
		return self + other, ok1 && ok2
	}

	var rates, perCPU [2][]float64 // embedded, mosquitto
	cpuOK := true
	b.SetBytes(int64(len(benchPayload) * benchRound * benchRounds * 2))
	b.ResetTimer()
	for op := range b.N {
		for r := range 2 * benchRounds {
			which := (r + r/2 + op) % 2 // E M, M E, E M, ...
			url := embedded
			if which == 1 {
				url = mosq.URL()
			}
			before, ok1 := cpu()
			rate := publishRound(b, url, fmt.Sprintf("%d-%d", op, r))
			after, ok2 := cpu()
			rates[which] = append(rates[which], rate)
			cpuOK = cpuOK && ok1 && ok2 && after > before
			if cpuOK {
				perCPU[which] = append(perCPU[which], benchRound/(after-before).Seconds())
			}
		}
	}
	b.StopTimer()
	e, m := median(rates[0]), median(rates[1])
	b.ReportMetric(e, "embedded-msgs/s")
	b.ReportMetric(m, "mosquitto-msgs/s")
	b.ReportMetric(e/m, "embedded/mosquitto")
	if cpuOK {
		ec, mc := median(perCPU[0]), median(perCPU[1])
		b.ReportMetric(ec, "embedded-msgs/cpu-s")
		b.ReportMetric(mc, "mosquitto-msgs/cpu-s")
		b.ReportMetric(ec/mc, "embedded/mosquitto-cpu")
	}
}

// selfCPU is the CPU time this process has used, user and system.
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// processCPU is the CPU time process pid has used, user and system, from
// /proc/PID/stat (in clock ticks of 1/100 s, as Linux reports them there).
func processCPU(pid int) (time.Duration, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// publishRound sends benchRound messages through the broker at url and
// returns the rate in messages a second, from the first publish to the
// last message received and every PUBACK in. The clients connect before
// the clock starts and disconnect after it stops.
func publishRound(b *testing.B, url, round string) float64 {
	b.Helper()
	sub := benchClient(b, url, "bench-sub-"+round)
	defer sub.Disconnect(0)
	var got atomic.Int64
	done := make(chan struct{})
	inFlight := make(chan struct{}, benchWindow)
	tok := sub.Subscribe("bench/events", 1, func(_ paho.Client, _ paho.Message) {
		<-inFlight
		if got.Add(1) == benchRound {
			close(done)
		}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := benchClient(b, url, "bench-pub-"+round)
	defer pub.Disconnect(0)

	tokens := make([]paho.Token, 0, benchRound)
	start := time.Now()
	for i := range benchRound {
		select {
		case inFlight <- struct{}{}:
		case <-time.After(waitFor):
			b.Fatalf("%s: the subscriber received %d of %d messages, then nothing for %v", url, got.Load(), i, waitFor)
		}
		tokens = append(tokens, pub.Publish("bench/events", 1, false, benchPayload))
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		b.Fatalf("%s: the subscriber received %d of %d messages", url, got.Load(), benchRound)
	}
	for _, t := range tokens {
		waitToken(b, t)
	}
	return benchRound / time.Since(start).Seconds()
}

func benchClient(b *testing.B, url, id string) paho.Client {
	b.Helper()
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetAutoReconnect(false).
		SetConnectTimeout(waitFor)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		b.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	return c
}

func waitToken(b *testing.B, t paho.Token) {
	if !t.WaitTimeout(waitFor) || t.Error() != nil {
		b.Fatalf("publish: no PUBACK (%v)", t.Error())
	}
}
