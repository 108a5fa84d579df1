package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/sdnotify"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink"
)

// Options are the run-time choices that are not in the config file.
type Options struct {
	// Sim runs the readers and doors on simulated pins and enables the
	// simulator's API routes.
	Sim bool
	// Logger receives the gateway's log. Nil writes text to stderr at the
	// config's level.
	Logger *slog.Logger
	// Out is where the admin token is printed on first start. Nil means
	// os.Stdout.
	Out io.Writer
	// ShutdownTimeout bounds the drain after the run context ends. Zero
	// means 10s.
	ShutdownTimeout time.Duration
	// Notify tells systemd about readiness and health. Nil means the
	// notifier of $NOTIFY_SOCKET (a no-op outside systemd).
	Notify *sdnotify.Notifier

	// onReady, for tests in this package, is called with the gateway once
	// the doors are operational.
	onReady func(*Gateway)
	// component, for tests in this package, runs beside the others, so a
	// test can make a component fail or panic.
	component func(context.Context) error
}

// dbDir is the database's directory inside the data directory. The device
// key is kept elsewhere (devicekey.go).
const dbDir = "db"

// heartbeatEvery is how often the decision loop proves it is alive; the
// gateway is unhealthy when it has not for healthyWithin.
const (
	heartbeatEvery = 500 * time.Millisecond
	healthyWithin  = 5 * time.Second
)

// Gateway is one running appliance. Create it with [Run].
type Gateway struct {
	cfg  *Config
	opts Options
	log  *slog.Logger

	hw      *hardware
	store   *store.Store
	engine  *access.Engine
	sync    *changeset.Applier
	inbox   *changeset.Inbox      // every changeset goes through it
	broker  *broker.Broker        // nil when disabled
	uplink  *uplink.Uplink        // nil when no uplink is configured
	ha      *homeassistant.Bridge // nil unless Home Assistant discovery is on
	api     *api.Server
	metrics *metrics

	started time.Time
	clock   *clockTrust
	// clockWasUntrusted is set once Clock Untrusted is journaled, so that
	// Clock Trusted is journaled when it ends; decision loop only.
	clockWasUntrusted bool
	// modeKick asks the decision loop to look at the doors' modes now.
	modeKick chan struct{}
	// guessesPerDay is how many PINs the lockouts let a guesser try in a
	// day at this gateway's keypads.
	guessesPerDay int
	// beat is the decision loop's last heartbeat, in Unix nanoseconds.
	beat atomic.Int64
	// inputs carries reader frames to the decision loop.
	inputs chan input
	// ready is closed once the doors are operational.
	ready chan struct{}
	// enrol holds the readers waiting for a card to enrol (operators.go).
	enrol enrolments
	// healthKick asks the health loop to publish the status now.
	healthKick chan struct{}
}

// Run starts the appliance and blocks until ctx ends or a component fails.
// Whatever happens, every strike is driven to its locked state first and
// again on the way out.
func Run(ctx context.Context, cfg *Config, opts Options) (err error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	opts.ShutdownTimeout = cmp.Or(opts.ShutdownTimeout, 10*time.Second)
	if opts.Notify == nil {
		n, err := sdnotify.FromEnv()
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		opts.Notify = n
	}
	log := opts.Logger
	if log == nil {
		log = newLogger(os.Stderr, cfg.Gateway.LogLevel, cfg.Gateway.LogFormat)
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w.Error())
	}
	g := &Gateway{cfg: cfg, opts: opts, log: log, started: time.Now(),
		inputs: make(chan input, 64), ready: make(chan struct{}), modeKick: make(chan struct{}, 1),
		healthKick: make(chan struct{}, 1)}
	g.clock = newClockTrust(time.Time{}, g.saveClock)

	// Safe state first: no other work happens before the strikes are
	// driven locked.
	g.hw, err = openHardware(cfg, opts.Sim, g.log)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gateway: panic: %v\n%s", r, debug.Stack())
		}
		g.hw.secureAll()
		if err != nil {
			_ = g.opts.Notify.Status("failed: " + err.Error())
		}
	}()
	if cfg.Gateway.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.Gateway.MemoryLimit) << 20)
	}
	if err := g.open(); err != nil {
		return err
	}
	defer g.closeStore()
	return g.run(ctx)
}

// open builds every component; nothing runs yet.
func (g *Gateway) open() error {
	cfg := g.cfg
	data := cfg.Gateway.DataDir
	if err := os.MkdirAll(data, 0o750); err != nil {
		return fmt.Errorf("gateway: data dir: %w", err)
	}
	storeLog := g.log.With("component", "store")
	key, err := prepareDeviceKey(cfg, storeLog)
	if err != nil {
		return err
	}
	st, err := store.Open(store.Options{
		Dir:            filepath.Join(data, dbDir),
		KeyFile:        key,
		GatewayID:      cfg.Gateway.ID,
		Logger:         storeLog,
		CommitInterval: cfg.Journal.CommitInterval,
		MaxEvents:      cfg.Journal.MaxEvents,
		MaxAge:         cfg.Journal.MaxAge,
		ClockTrusted:   g.clock.Trusted,
		Site:           cfg.site(),
		Duress:         cfg.Access.Duress == access.DuressLastDigitPlusOne,
		MinFree:        cfg.MinFree(),
		CheckCard:      g.hw.checkCard(),
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.store = st
	g.hw.onDoorEvent = g.onDoorEvent
	g.hw.onDoorChange = g.onDoorChange
	g.hw.onReader = g.onReaderEvent
	g.metrics = newMetrics(g)
	if err := g.openAccess(); err != nil {
		return err
	}
	keys, err := cfg.Sync.Keyring()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	syncLog := g.log.With("component", "sync")
	if g.sync, err = changeset.NewApplier(st, changeset.Config{Now: time.Now, Log: syncLog,
		GatewayID: cfg.Gateway.ID, Keys: keys}); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if g.inbox, err = changeset.NewInbox(g.sync, changeset.InboxConfig{OnApplied: g.onSyncApplied, Log: syncLog}); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}

	var adminPlain string
	if !hasAdmin(cfg) {
		tok, created, err := adminToken(data)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		adminPlain = tok
		if created {
			printAdminToken(g.opts.Out, tok, filepath.Join(data, AdminTokenFile))
		}
	}
	var sim api.Sim
	if g.opts.Sim {
		sim = g.hw.sim
	}
	acfg := apiConfig(cfg)
	acfg.Tokens = apiTokens(cfg, adminPlain)
	acfg.Metrics = g.metrics.reg
	acfg.Logger = g.log.With("component", "api")
	acfg.Version = Version
	g.api, err = api.New(acfg, (*backend)(g), sim)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if !cfg.Broker.Disabled {
		if g.broker, err = broker.New(brokerConfig(cfg), g.log); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		if cfg.HomeAssistant.Enabled {
			if g.ha, err = homeassistant.New(cfg.HomeAssistant, g.haSite(), g.broker, haDoors{g}, g.log.With("component", "homeassistant")); err != nil {
				return fmt.Errorf("gateway: %w", err)
			}
		}
	}
	if cfg.Uplink.URL != "" {
		g.uplink, err = uplink.New(cfg.Uplink, cfg.Gateway.ID, uplinkJournal{st}, uplinkCursor{st}, changeset.Transport{Inbox: g.inbox, Actor: actorPortal},
			g.log.With("component", "uplink"))
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	return nil
}

func (g *Gateway) closeStore() {
	if err := g.store.Close(); err != nil {
		g.log.Error("closing the store", "err", err)
	}
}

// run starts the components and waits for the end.
func (g *Gateway) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	grp, gctx := errgroup.WithContext(runCtx)
	// goComponent runs a component under the group, securing every door
	// if it panics; prefix names it in its error when its errors do not
	// name it themselves.
	goComponent := func(name string, prefix bool, fn func(context.Context) error) {
		grp.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					g.hw.secureAll()
					err = fmt.Errorf("%s: panic: %v\n%s", name, r, debug.Stack())
				}
			}()
			switch err := fn(gctx); {
			case err == nil || errors.Is(err, context.Canceled):
				return nil
			case prefix:
				return fmt.Errorf("%s: %w", name, err)
			default:
				return err
			}
		})
	}
	goSafe := func(name string, fn func(context.Context) error) { goComponent(name, true, fn) }

	// The doors' modes before anything decides: a restart in the middle
	// of a scheduled unlock stands the door open again, a lockdown holds.
	g.refreshClock()
	g.updateModes(time.Now())
	g.beat.Store(time.Now().UnixNano())
	goSafe("decision loop", g.decisionLoop)
	for _, r := range g.hw.readers {
		goSafe("reader "+r.name, func(ctx context.Context) error { return g.runReader(ctx, r) })
	}
	for _, d := range g.hw.doors {
		// A door's errors name the door.
		goComponent("door "+d.name, false, func(ctx context.Context) error { return g.runDoor(ctx, d) })
	}
	goSafe("sync inbox", g.inbox.Run)
	if g.broker != nil {
		if err := g.startBroker(); err != nil {
			cancel()
			_ = grp.Wait()
			return err
		}
		goSafe("broker fan-out", g.brokerFanOut)
	}
	if g.uplink != nil {
		goSafe("uplink", g.uplink.Run)
	}
	goSafe("api", g.api.Run)
	goSafe("store gc", g.store.RunGC)
	goSafe("watchdog", g.watchdog)
	goSafe("status", g.healthLoop)
	if g.opts.component != nil {
		goSafe("test component", g.opts.component)
	}

	// The doors are operational once every reader listens: a frame sent
	// before that would arrive cut.
	for _, r := range g.hw.readers {
		select {
		case <-r.reader.Ready():
		case <-gctx.Done():
		}
	}
	if gctx.Err() == nil {
		close(g.ready)
		if g.opts.onReady != nil {
			g.opts.onReady(g)
		}
		g.log.Info("lintel is up", "gateway", g.cfg.Gateway.ID, "version", Version,
			"readers", len(g.hw.readers), "doors", len(g.hw.doors), "sim", g.opts.Sim,
			"api", g.cfg.API.Listen, "mqtt", g.brokerAddr(), "uplink", g.cfg.Uplink.URL != "")
		_ = g.opts.Notify.Ready()
		g.appendEvent(access.Event{Type: "gateway.started", Name: "Gateway Started", Detail: "version " + Version})
	}

	<-gctx.Done()
	_ = g.opts.Notify.Stopping()
	cause := context.Cause(gctx)
	g.log.Info("lintel is stopping", "cause", cause)
	err := grp.Wait()

	// Drain: the doors are locked first, then the broker says offline and
	// the journal is made durable. The drain has its own deadline (the run
	// context is already gone) so a stuck client cannot hold the process.
	g.hw.secureAll()
	g.appendEvent(access.Event{Type: "gateway.stopped", Name: "Gateway Stopped"})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if g.broker != nil {
			g.stopBroker()
		}
		if ferr := g.store.Flush(); ferr != nil {
			g.log.Error("flushing the journal", "err", ferr)
		}
	}()
	select {
	case <-drained:
	case <-time.After(g.opts.ShutdownTimeout):
		g.log.Error("shutdown drain did not finish in time; stopping anyway", "timeout", g.opts.ShutdownTimeout)
	}
	return err
}

// Healthy reports whether the doors are operational: every reader listens
// and the decision loop has beaten recently.
func (g *Gateway) Healthy() bool {
	select {
	case <-g.ready:
	default:
		return false
	}
	return time.Since(time.Unix(0, g.beat.Load())) < healthyWithin
}

// watchdog feeds systemd's watchdog while, and only while, the decision
// loop is healthy: a hung loop gets the process restarted.
func (g *Gateway) watchdog(ctx context.Context) error {
	every := g.opts.Notify.WatchdogInterval()
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if g.Healthy() {
				_ = g.opts.Notify.Watchdog()
			} else {
				g.log.Error("decision loop missed its heartbeat; withholding the watchdog ping")
			}
		}
	}
}

// appendEvent journals an event. The journal never blocks: a full backlog
// is logged (and counted by the store), never waited on.
func (g *Gateway) appendEvent(ev access.Event) {
	if _, err := g.store.Append(ev); err != nil {
		g.log.Error("journal append", "type", ev.Type, "err", err)
		return
	}
	g.metrics.events.Inc()
}

// newLogger logs to w at level, as text or, with format "json", one JSON
// object a line.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
