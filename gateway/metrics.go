package gateway

import (
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/gateway/access"
)

// metrics are the gateway's Prometheus collectors, served by the API at
// /metrics. Their names are a contract with dashboards (README lists them).
// Counters and histograms are updated where things happen; values that
// mirror other components' state (journal, uplink, sync, reader counters)
// are read at scrape time, so they are never stale.
type metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec // by result: granted, denied
	latency   prometheus.Histogram   // frame in → door commanded
	events    prometheus.Counter     // events journaled
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lintel_decisions_total",
			Help: "Access decisions, by result (granted or denied).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lintel_decision_latency_seconds",
			Help:    "Time from a decoded frame to the door being commanded.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3},
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lintel_events_total",
			Help: "Events appended to the journal.",
		}),
	}
	m.decisions.WithLabelValues("granted")
	m.decisions.WithLabelValues("denied")
	m.reg.MustRegister(m.decisions, m.latency, m.events, rejectCollector{g}, doorCollector{g}, brokerCollector{g},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "lintel_build_info",
			Help:        "Always 1; the labels say which build of Lintel runs.",
			ConstLabels: prometheus.Labels{"version": Version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_journal_events",
			Help: "Events held in the journal.",
		}, func() float64 { return float64(g.store.JournalStats().Count) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_journal_undelivered",
			Help: "Events not yet acknowledged by the cloud broker.",
		}, func() float64 { return float64(g.store.JournalStats().Undelivered) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_journal_pending",
			Help: "Events waiting in memory to be written to the journal.",
		}, func() float64 { return float64(g.store.JournalStats().Pending) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lintel_journal_lost_total",
			Help: "Events dropped from memory, never written, while the disk was full.",
		}, func() float64 { return float64(g.store.JournalStats().Lost) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_storage_full",
			Help: "1 while writes are refused for lack of disk space (doors decide from memory).",
		}, func() float64 {
			if g.store.DiskStats().Full {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_storage_free_bytes",
			Help: "Free space on the data directory's filesystem, as last measured.",
		}, func() float64 { return float64(g.store.DiskStats().Free) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_uplink_connected",
			Help: "1 when the uplink to the cloud broker is connected.",
		}, func() float64 {
			if g.uplink != nil && g.uplink.State().Connected {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_sync_revision",
			Help: "The user table's applied sync revision.",
		}, func() float64 { return float64(g.store.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_clock_trusted",
			Help: "1 while the clock is trusted (synchronised, not behind the latest trusted time).",
		}, func() float64 {
			if g.clock.Trusted() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_pin_density",
			Help: "Users' PINs of the densest length divided by the PINs of that length: one guess's chance.",
		}, func() float64 { return g.guessRisk().Density }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_pin_guess_day_risk",
			Help: "The chance that a day of PIN guessing, as the lockouts allow it, finds some user's PIN (warn at 0.01).",
		}, func() float64 { return g.guessRisk().Day }),
	)
	return m
}

// rejectCollector reports each reader's framer counters at scrape time as
// lintel_frames_rejected_total{reader,cause}.
type rejectCollector struct{ g *Gateway }

var rejectDesc = prometheus.NewDesc("lintel_frames_rejected_total",
	"Wiegand frames rejected by the framer, by reader and cause.", []string{"reader", "cause"}, nil)

func (rejectCollector) Describe(ch chan<- *prometheus.Desc) { ch <- rejectDesc }

func (c rejectCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.g.hw.readers {
		n := r.reader.Status().Counters
		for _, v := range []struct {
			cause string
			n     uint64
		}{{"length", n.Length}, {"parity", n.Parity}, {"invalid", n.Invalid}, {"both_low", n.BothLow}, {"partial", n.Partial}} {
			ch <- prometheus.MustNewConstMetric(rejectDesc, prometheus.CounterValue, float64(v.n), r.name, v.cause)
		}
	}
}

// doorCollector reports each door's and reader's state at scrape time:
// lintel_door_locked{door}, lintel_door_open{door},
// lintel_door_alarm{door,alarm} (one series per alarm the door can raise,
// the alarms of the door state topic) and lintel_reader_fault{reader}.
type doorCollector struct{ g *Gateway }

var (
	doorLockedDesc = prometheus.NewDesc("lintel_door_locked",
		"1 while the door's strike is locked.", []string{"door"}, nil)
	doorOpenDesc = prometheus.NewDesc("lintel_door_open",
		"1 while the door's contact says it is open.", []string{"door"}, nil)
	doorAlarmDesc = prometheus.NewDesc("lintel_door_alarm",
		"1 while the door has this alarm (forced_open, held_open_prealarm, held_open, output_error, lockdown).", []string{"door", "alarm"}, nil)
	readerFaultDesc = prometheus.NewDesc("lintel_reader_fault",
		"1 while the reader has a fault (a stuck data line, a burst of rejected frames).", []string{"reader"}, nil)
)

// doorAlarms are the alarms a door state can carry, each a series of
// lintel_door_alarm.
var doorAlarms = []string{"forced_open", "held_open_prealarm", "held_open", "output_error", "lockdown"}

func (doorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- doorLockedDesc
	ch <- doorOpenDesc
	ch <- doorAlarmDesc
	ch <- readerFaultDesc
}

func (c doorCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	for _, d := range g.hw.doors {
		st := d.door.Status()
		raised := alarms(st)
		if g.engine != nil {
			if m, ok := g.engine.DoorStatus(time.Now(), d.name); ok && m.Mode == access.ModeLockdown {
				raised = append(raised, "lockdown")
			}
		}
		ch <- prometheus.MustNewConstMetric(doorLockedDesc, prometheus.GaugeValue, one(st.Locked), d.name)
		ch <- prometheus.MustNewConstMetric(doorOpenDesc, prometheus.GaugeValue, one(st.Open), d.name)
		for _, a := range doorAlarms {
			ch <- prometheus.MustNewConstMetric(doorAlarmDesc, prometheus.GaugeValue, one(slices.Contains(raised, a)), d.name, a)
		}
	}
	for _, r := range g.hw.readers {
		ch <- prometheus.MustNewConstMetric(readerFaultDesc, prometheus.GaugeValue, one(len(r.reader.Status().Faults) > 0), r.name)
	}
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// brokerMetrics names the embedded broker's counters (broker.Stats) on
// /metrics; docs/mqtt.md lists them beside the counters, and a test holds
// the three together.
var brokerMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(broker.Stats) int64
}{
	{"lintel_broker_clients_connected", "Clients connected to the embedded broker now.", prometheus.GaugeValue,
		func(s broker.Stats) int64 { return s.ClientsConnected }},
	{"lintel_broker_messages_in_total", "PUBLISH packets the embedded broker received, from clients and the gateway.", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.MessagesIn }},
	{"lintel_broker_messages_out_total", "PUBLISH packets the embedded broker wrote to clients.", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.MessagesOut }},
	{"lintel_broker_messages_dropped_total", "Messages subscribers of the embedded broker lost for being slow (past queue_limit).", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.MessagesDropped }},
	{"lintel_broker_publishes_refused_total", "Client publishes the embedded broker's access rules refused.", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.PublishesRefused }},
	{"lintel_broker_subscriptions_refused_total", "Topic filters the embedded broker refused in a SUBACK.", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.SubscriptionsRefused }},
	{"lintel_broker_clients_refused_total", "CONNECTs the embedded broker refused for credentials or policy.", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.ClientsRefused }},
	{"lintel_broker_clients_refused_full_total", "CONNECTs the embedded broker refused for want of a slot (max_clients).", prometheus.CounterValue,
		func(s broker.Stats) int64 { return s.ClientsRefusedFull }},
}

var brokerDescs = func() []*prometheus.Desc {
	out := make([]*prometheus.Desc, len(brokerMetrics))
	for i, m := range brokerMetrics {
		out[i] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	return out
}()

// brokerCollector reports the embedded broker's counters at scrape time;
// nothing when the broker is disabled.
type brokerCollector struct{ g *Gateway }

func (brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range brokerDescs {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	if c.g.broker == nil {
		return
	}
	st := c.g.broker.Stats()
	for i, m := range brokerMetrics {
		ch <- prometheus.MustNewConstMetric(brokerDescs[i], m.kind, float64(m.value(st)))
	}
}
