package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus collectors, served by the API at
// /metrics. Counters and histograms are updated where things happen; gauges
// that mirror other components' state are read at scrape time.
type metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec // by result: granted, denied
	latency   prometheus.Histogram   // frame in → door commanded
	rejects   *prometheus.CounterVec // Wiegand frames rejected, by reader and cause
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
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lintel_frames_rejected_total",
			Help: "Wiegand frames rejected by the framer, by reader and cause.",
		}, []string{"reader", "cause"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lintel_events_total",
			Help: "Events appended to the journal.",
		}),
	}
	m.decisions.WithLabelValues("granted")
	m.decisions.WithLabelValues("denied")
	m.reg.MustRegister(m.decisions, m.latency, m.rejects, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_journal_depth",
			Help: "Events held in the journal.",
		}, func() float64 { return float64(g.store.JournalStats().Count) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lintel_journal_undelivered",
			Help: "Events not yet acknowledged by the cloud broker.",
		}, func() float64 { return float64(g.store.JournalStats().Undelivered) }),
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
	)
	return m
}
