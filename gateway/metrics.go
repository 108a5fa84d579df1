package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	m.reg.MustRegister(m.decisions, m.latency, m.events, rejectCollector{g},
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
