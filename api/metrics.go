package api

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus collectors, served at /metrics when
// their registry is Config.Metrics. The gateway owns the numbers and updates
// them; they live here so that their names, a contract with dashboards, are
// defined next to the endpoint. All methods are safe for concurrent use.
type Metrics struct {
	// Decisions counts access decisions by result ("granted", "denied").
	Decisions *prometheus.CounterVec
	// DecisionLatency is frame in → door command out.
	DecisionLatency prometheus.Histogram
	// FramesRejected counts Wiegand frames rejected, by reader and cause
	// ("parity", "length", "timing", "format").
	FramesRejected *prometheus.CounterVec
	// JournalEvents is how many events the journal holds;
	// JournalUndelivered how many the cloud has not acknowledged.
	JournalEvents      prometheus.Gauge
	JournalUndelivered prometheus.Gauge
	// UplinkConnected is 1 while the cloud link is up, 0 otherwise.
	UplinkConnected prometheus.Gauge
	// SyncRevision is the revision of the last changeset applied.
	SyncRevision prometheus.Gauge
}

// NewMetrics makes the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lintel_decisions_total", Help: "Access decisions, by result.",
		}, []string{"result"}),
		DecisionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lintel_decision_latency_seconds", Help: "Time from a complete frame to the door command.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3},
		}),
		FramesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lintel_frames_rejected_total", Help: "Wiegand frames rejected, by reader and cause.",
		}, []string{"reader", "cause"}),
		JournalEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lintel_journal_events", Help: "Events held in the journal.",
		}),
		JournalUndelivered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lintel_journal_undelivered", Help: "Journal events not yet acknowledged by the cloud broker.",
		}),
		UplinkConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lintel_uplink_connected", Help: "1 while the cloud uplink is connected.",
		}),
		SyncRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lintel_sync_revision", Help: "Revision of the last changeset applied.",
		}),
	}
	for _, c := range []prometheus.Collector{m.Decisions, m.DecisionLatency, m.FramesRejected,
		m.JournalEvents, m.JournalUndelivered, m.UplinkConnected, m.SyncRevision} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveDecision records one decision and how long it took.
func (m *Metrics) ObserveDecision(result string, took time.Duration) {
	m.Decisions.WithLabelValues(result).Inc()
	m.DecisionLatency.Observe(took.Seconds())
}

// SetUplink records whether the uplink is connected.
func (m *Metrics) SetUplink(connected bool) {
	v := 0.0
	if connected {
		v = 1
	}
	m.UplinkConnected.Set(v)
}
