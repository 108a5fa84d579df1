package portal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/topic"
)

// Strategy is how an [Ingester]'s workers split the fleet's events.
type Strategy int

const (
	// Shared: every worker subscribes to
	// $share/{group}/lintel/v1/+/events/+ and the broker hands each event
	// to one of them, by its own policy. Nothing to configure per gateway,
	// and any broker with shared subscriptions does it; but one gateway's
	// events reach several workers, so they arrive at the Sequencer out of
	// order (it restores the order), and while no worker is subscribed the
	// broker drops what gateways publish. mosquitto 2.0 does not keep
	// shared subscriptions across its own restart, so the events
	// gateways publish between a mosquitto restart and the workers'
	// return are lost.
	Shared Strategy = iota
	// Partitioned: the portal hashes each gateway id to one worker
	// ([WorkerOf]) and that worker subscribes to the gateway's own events
	// topics, lintel/v1/{gw}/events/+. This is "hash by client id" done
	// by the portal, for brokers without such a policy: a gateway's events
	// reach one worker, in order, and plain subscriptions of a persistent
	// session survive a broker restart where the broker persists sessions
	// (mosquitto with persistence on). It needs the list of gateways
	// (IngestConfig.Gateways, AddGateway): one subscription per gateway.
	Partitioned
)

func (s Strategy) String() string {
	switch s {
	case Shared:
		return "shared"
	case Partitioned:
		return "partitioned"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// IngestConfig says how an [Ingester] takes events from the cloud broker.
// MQTT and Sequencer are required; every other field has a documented
// zero value.
type IngestConfig struct {
	// MQTT is the portal's broker account. Worker i connects with client
	// id MQTT.ClientID + "-" + i, on a persistent session.
	MQTT MQTTConfig
	// Workers is how many connections take events. Zero: 4.
	Workers int
	// Strategy is how they split the fleet. Zero: Shared.
	Strategy Strategy
	// Group is the shared subscription's group name (Shared only): every
	// portal process of one ingestion pipeline uses the same. Zero:
	// "lintel-portal".
	Group string
	// Gateways are the gateways to subscribe to (Partitioned only); more
	// may be added with AddGateway.
	Gateways []string
	// Sequencer takes every event a worker receives. Run it beside the
	// Ingester.
	Sequencer *Sequencer
	// Log receives connection changes and malformed events. Nil discards.
	Log *slog.Logger
}

// DefaultGroup is the shared subscription group of the zero IngestConfig.
const DefaultGroup = "lintel-portal"

// subscribeBatch bounds the filters of one SUBSCRIBE packet.
const subscribeBatch = 500

// WorkerStats is one ingestion worker's connection and traffic.
type WorkerStats struct {
	ClientID  string `json:"client_id"`
	Connected bool   `json:"connected"`
	// Connects counts connections made; Received the events it took;
	// Malformed the messages it dropped as not being events (see
	// ParseEvent).
	Connects  uint64 `json:"connects"`
	Received  uint64 `json:"received"`
	Malformed uint64 `json:"malformed"`
	// Gateways is how many gateways it subscribes to (Partitioned only).
	Gateways int `json:"gateways"`
}

// An Ingester runs a portal's ingestion workers: MQTT connections that
// take the fleet's events from the cloud broker and hand them to a
// Sequencer. Create it with NewIngester and run it with Run; AddGateway,
// Stats and Ready may be called from any goroutine.
type Ingester struct {
	cfg     IngestConfig
	log     *slog.Logger
	workers []*worker
}

type worker struct {
	in *Ingester
	id string

	connects, received, malformed atomic.Uint64
	ready                         atomic.Bool // connected and subscribed

	// mu guards live and gateways.
	mu       sync.Mutex
	live     mqtt.Client
	gateways []string // Partitioned: the gateways hashed to this worker
}

// NewIngester checks cfg and returns an Ingester for it.
func NewIngester(cfg IngestConfig) (*Ingester, error) {
	if err := cfg.MQTT.check(); err != nil {
		return nil, err
	}
	if cfg.Sequencer == nil {
		return nil, errors.New("portal: an ingester needs a Sequencer")
	}
	if cfg.Workers < 0 {
		return nil, errors.New("portal: IngestConfig.Workers must not be negative")
	}
	if cfg.Strategy != Shared && cfg.Strategy != Partitioned {
		return nil, fmt.Errorf("portal: unknown strategy %v", cfg.Strategy)
	}
	cfg.Workers = cmp.Or(cfg.Workers, 4)
	cfg.Group = cmp.Or(cfg.Group, DefaultGroup)
	if err := topic.CheckID(cfg.Group); err != nil {
		return nil, fmt.Errorf("portal: IngestConfig.Group %w", err)
	}
	cfg.MQTT = cfg.MQTT.withDefaults()
	in := &Ingester{cfg: cfg, log: cfg.Log}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	for i := range cfg.Workers {
		in.workers = append(in.workers, &worker{in: in, id: fmt.Sprintf("%s-%d", cfg.MQTT.ClientID, i)})
	}
	for _, gw := range cfg.Gateways {
		if err := in.AddGateway(gw); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// WorkerOf returns the worker, from 0 to workers-1, that takes gateway's
// events under Partitioned.
func WorkerOf(gateway string, workers int) int {
	h := fnv.New32a()
	h.Write([]byte(gateway))
	return int(h.Sum32() % uint32(workers))
}

// AddGateway subscribes the worker gateway hashes to to its events
// (Partitioned only): at once when that worker is connected, and on every
// connect after. Adding a gateway twice does nothing.
func (in *Ingester) AddGateway(gateway string) error {
	if in.cfg.Strategy != Partitioned {
		return fmt.Errorf("portal: AddGateway needs the Partitioned strategy, not %v", in.cfg.Strategy)
	}
	filter, err := topic.EventsFilter(gateway)
	if err != nil {
		return fmt.Errorf("portal: add gateway: %w", err)
	}
	w := in.workers[WorkerOf(gateway, len(in.workers))]
	w.mu.Lock()
	if slices.Contains(w.gateways, gateway) {
		w.mu.Unlock()
		return nil
	}
	w.gateways = append(w.gateways, gateway)
	live := w.live
	w.mu.Unlock()
	if live != nil {
		// A failure drops nothing: the next connect subscribes it.
		if err := subscribe(context.Background(), live, []string{filter}, in.cfg.MQTT.AckTimeout); err != nil {
			in.log.Warn("portal: subscribe to a new gateway", "gateway", gateway, "err", err)
		}
	}
	return nil
}

// Run runs the workers until ctx is done, then returns nil.
func (in *Ingester) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range in.workers {
		wg.Go(func() {
			keep(ctx, in.cfg.MQTT, w.id, session{
				live:     w.setLive,
				up:       w.subscribe,
				ready:    w.ready.Store,
				handler:  func(_ mqtt.Client, m mqtt.Message) { w.take(ctx, m) },
				connects: &w.connects,
			}, in.log)
		})
	}
	wg.Wait()
	return nil
}

// filters returns what w subscribes to.
func (w *worker) filters() []string {
	if w.in.cfg.Strategy == Shared {
		return []string{"$share/" + w.in.cfg.Group + "/" + topic.AllEventsFilter}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.gateways))
	for _, gw := range w.gateways {
		f, _ := topic.EventsFilter(gw) // checked by AddGateway
		out = append(out, f)
	}
	return out
}

func (w *worker) subscribe(ctx context.Context, c mqtt.Client) error {
	for fs := range slices.Chunk(w.filters(), subscribeBatch) {
		if err := subscribe(ctx, c, fs, w.in.cfg.MQTT.AckTimeout); err != nil {
			return err
		}
	}
	w.in.log.Info("portal: ingestion worker subscribed", "client_id", w.id, "strategy", w.in.cfg.Strategy)
	return nil
}

func (w *worker) setLive(c mqtt.Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live = c
}

// take runs on paho's router goroutine for each message, in the order the
// broker sent them, and hands the event to the sequencer; it blocks while
// the sequencer's shard is full, which slows this worker's reading and so
// the broker's sending to it.
func (w *worker) take(ctx context.Context, m mqtt.Message) {
	ev, err := ParseEvent(m.Topic(), m.Payload())
	if err != nil {
		w.malformed.Add(1)
		w.in.log.Warn("portal: message dropped", "client_id", w.id, "err", err)
		return
	}
	if w.in.cfg.Sequencer.Add(ctx, ev) == nil {
		w.received.Add(1)
	}
}

// Stats returns each worker's counters.
func (in *Ingester) Stats() []WorkerStats {
	out := make([]WorkerStats, len(in.workers))
	for i, w := range in.workers {
		w.mu.Lock()
		out[i] = WorkerStats{ClientID: w.id, Connected: w.ready.Load(), Gateways: len(w.gateways)}
		w.mu.Unlock()
		out[i].Connects, out[i].Received, out[i].Malformed = w.connects.Load(), w.received.Load(), w.malformed.Load()
	}
	return out
}

// Ready says whether every worker is connected and subscribed.
func (in *Ingester) Ready() bool {
	for _, w := range in.workers {
		if !w.ready.Load() {
			return false
		}
	}
	return true
}
