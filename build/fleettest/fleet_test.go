package fleettest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

var (
	flagN       = flag.Int("fleet.n", 0, "how many gateways to run; 0 skips the test (build/fleet sets it)")
	flagLintel  = flag.String("fleet.lintel", "", "the lintel binary; empty builds one")
	flagEvents  = flag.Int("fleet.events", 20, "card swipes per gateway in each events phase")
	flagUsers   = flag.Int("fleet.users", 1000, "users in the snapshot")
	flagOutage  = flag.Duration("fleet.outage", 30*time.Second, "how long the broker stays down")
	flagWorkers = flag.Int("fleet.workers", 4, "ingestion workers in each group")
	flagOut     = flag.String("fleet.out", "", "also write the table to this file")
)

// Deadlines. Reaching one is a failure, never a measurement.
const (
	startDeadline  = 5 * time.Minute // every gateway healthy and connected
	ingestDeadline = 3 * time.Minute // every journaled event ingested
	ackDeadline    = 3 * time.Minute // every gateway acknowledging a changeset
	// backDeadline is the most a gateway may take to reconnect after the
	// broker returns: its backoff tops out at 60 s by default.
	backDeadline = 3 * time.Minute
	stopDeadline = 30 * time.Second
	poll         = 50 * time.Millisecond
)

// gapTimeout is how long the ingestion groups' sequencers wait for a
// missing event before reporting it lost: the kit's default.
const gapTimeout = portal.DefaultGapTimeout

func TestFleet(t *testing.T) {
	n := *flagN
	if n <= 0 {
		t.Skip("the fleet test runs from build/fleet (go test ./build/fleettest -args -fleet.n N)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &fleet{t: t, ctx: ctx, n: n, dir: t.TempDir(), started: time.Now()}
	f.binary()
	f.ids = make([]string, n)
	for i := range n {
		f.ids[i] = fmt.Sprintf("gw-%04d", i+1)
	}
	f.startBroker()
	f.startPortal()
	f.run()
}

// fleet is one run: the broker, the portal and the gateways.
type fleet struct {
	t       *testing.T
	ctx     context.Context
	n       int
	dir     string
	started time.Time
	lintel  string
	ids     []string
	broker  *mosquittotest.Server

	token          string // the admin API token every gateway accepts
	portalPassword string
	gws            map[string]*gateway

	// tableMu guards table, the portal's users as of its latest revision.
	tableMu sync.Mutex
	table   []portal.User

	portal    *portalSide
	portalLog tail        // the portal's log, shown when the test fails
	rows      [][2]string // the table, in order
	journaled uint64      // events in all journals, as of the last ingested
	notes     []string    // lines printed under the table
}

func (f *fleet) row(what, measured string) {
	f.rows = append(f.rows, [2]string{what, measured})
	f.t.Logf("%s: %s", what, measured)
}

// check fails the test (and keeps going) when cond is false.
func (f *fleet) check(cond bool, format string, args ...any) {
	f.t.Helper()
	if !cond {
		f.t.Errorf(format, args...)
	}
}

// binary finds or builds the lintel binary.
func (f *fleet) binary() {
	if *flagLintel != "" {
		// Absolute: each gateway runs in its own directory.
		abs, err := filepath.Abs(*flagLintel)
		if err != nil {
			f.t.Fatal(err)
		}
		f.lintel = abs
		return
	}
	f.lintel = filepath.Join(f.dir, "lintel")
	cmd := exec.Command("go", "build", "-o", f.lintel, "./cmd/lintel")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("building lintel: %v\n%s", err, out)
	}
}

// docsACL returns the mosquitto ACL of docs/fleet.md, the one the fleet
// runs under.
func docsACL(t *testing.T) string {
	doc, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```acl\n(.*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/fleet.md has no ```acl block")
	}
	return m[1]
}

// tail keeps the last tailSize bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 1 << 20

func (l *tail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - tailSize; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

func (f *fleet) portalLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&f.portalLog, nil))
}

func secret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const portalUser = "portal"

func (f *fleet) startBroker() {
	f.gws = make(map[string]*gateway, f.n)
	accounts := map[string]string{portalUser: secret()}
	for _, id := range f.ids {
		g := &gateway{id: id, dir: filepath.Join(f.dir, id), password: secret()}
		f.gws[id] = g
		accounts[id] = g.password
	}
	f.portalPassword = accounts[portalUser]
	f.broker = mosquittotest.StartWith(f.t, mosquittotest.Config{
		Accounts:   accounts,
		ACL:        docsACL(f.t),
		Persist:    true,
		TCPNoDelay: true,
	})
}

// ---- the portal ----

// portalSide is the portal: a Syncer over a Client, and two ingestion
// groups taking the same events by the two strategies.
type portalSide struct {
	syncer *portal.Syncer
	client *portal.Client
	groups []*group

	// mu guards acks.
	mu   sync.Mutex
	acks map[string][]ackSeen
}

type ackSeen struct {
	at       time.Time
	status   changeset.Status
	revision uint64
}

// group is one ingestion group: an Ingester, its Sequencer and what its
// Handle saw. It can be stopped and started again, as a portal process
// restarts: a new Ingester and Sequencer on the same broker sessions,
// resuming each gateway from the last seq it handled.
type group struct {
	name     string
	strategy portal.Strategy
	mqtt     portal.MQTTConfig
	gateways []string
	log      *slog.Logger

	// runMu guards in, seq, stop and done.
	runMu sync.Mutex
	in    *portal.Ingester
	seq   *portal.Sequencer
	stop  context.CancelFunc
	done  chan struct{}

	// mu guards everything below.
	mu         sync.Mutex
	last       map[string]uint64 // last seq handled, or given up, per gateway
	handled    uint64
	lost       uint64
	late       uint64 // given up as lost, then arrived
	outOfOrder uint64 // a Handle or Lost that did not follow on from the last
	lastAt     time.Time
	past       portal.SequencerStats // of the sequencers of earlier runs
}

// start runs a new Ingester and Sequencer for the group.
func (g *group) start() error {
	seq, err := portal.NewSequencer(portal.SequencerConfig{Handle: g.handle, Lost: g.lostEvents, Late: g.lateEvent,
		Start: g.start1, GapTimeout: gapTimeout})
	if err != nil {
		return err
	}
	cfg := portal.IngestConfig{MQTT: g.mqtt, Workers: *flagWorkers, Strategy: g.strategy, Group: "portal", Sequencer: seq, Log: g.log}
	if g.strategy == portal.Partitioned {
		cfg.Gateways = g.gateways
	}
	in, err := portal.NewIngester(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { seq.Run(ctx) })
		wg.Go(func() { in.Run(ctx) })
		wg.Wait()
		close(done)
	}()
	g.runMu.Lock()
	defer g.runMu.Unlock()
	g.in, g.seq, g.stop, g.done = in, seq, cancel, done
	return nil
}

// halt stops the group's Ingester and Sequencer and keeps their counts.
func (g *group) halt() {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	if g.stop == nil {
		return
	}
	g.stop()
	<-g.done
	st := g.seq.Stats()
	g.mu.Lock()
	g.past.Early += st.Early
	g.past.Duplicates += st.Duplicates
	g.mu.Unlock()
	g.stop = nil
}

func (g *group) ready() bool {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	return g.stop != nil && g.in.Ready()
}

// start1 is the Sequencer's Start: where a restarted portal resumes.
func (g *group) start1(gw string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last[gw]
}

func (g *group) handle(ev portal.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.Seq != g.last[ev.Gateway]+1 {
		g.outOfOrder++
	}
	g.last[ev.Gateway] = ev.Seq
	g.handled++
	g.lastAt = time.Now()
}

func (g *group) lostEvents(gw string, from, to uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if from != g.last[gw]+1 {
		g.outOfOrder++
	}
	g.last[gw] = to
	g.lost += to - from + 1
}

func (g *group) lateEvent(portal.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.late++
}

// counts is a group's counters at one moment.
type counts struct {
	handled, lost, late, outOfOrder uint64
	early, duplicates               uint64
	lastAt                          time.Time
}

func (g *group) counts() counts {
	var st portal.SequencerStats
	g.runMu.Lock()
	if g.stop != nil {
		st = g.seq.Stats()
	}
	g.runMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return counts{handled: g.handled, lost: g.lost, late: g.late, outOfOrder: g.outOfOrder,
		early: g.past.Early + st.Early, duplicates: g.past.Duplicates + st.Duplicates, lastAt: g.lastAt}
}

func (c counts) minus(o counts) counts {
	return counts{handled: c.handled - o.handled, lost: c.lost - o.lost, late: c.late - o.late, outOfOrder: c.outOfOrder - o.outOfOrder,
		early: c.early - o.early, duplicates: c.duplicates - o.duplicates, lastAt: c.lastAt}
}

// behind returns how many journaled events the group has neither handled
// nor given up, over all gateways.
func (g *group) behind(journal map[string]uint64) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n uint64
	for gw, last := range journal {
		if l := g.last[gw]; l < last {
			n += last - l
		}
	}
	return n
}

func (f *fleet) startPortal() {
	p := &portalSide{acks: make(map[string][]ackSeen)}
	f.portal = p
	mqttCfg := func(id string) portal.MQTTConfig {
		return portal.MQTTConfig{URL: f.broker.URL(), ClientID: id, Username: portalUser, Password: f.portalPassword}
	}
	var err error
	p.client, err = portal.NewClient(mqttCfg("portal-sync"), func(ctx context.Context, gw string, payload []byte) error {
		return p.syncer.HandleAck(ctx, gw, payload)
	}, f.portalLogger())
	if err != nil {
		f.t.Fatal(err)
	}
	p.syncer, err = portal.NewSyncer(portal.SyncConfig{
		Publisher:  p.client,
		Snapshot:   f.snapshotFor,
		RetryAfter: 20 * time.Second,
		Log:        f.portalLogger(),
		OnAck: func(gw string, ack changeset.Ack) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.acks[gw] = append(p.acks[gw], ackSeen{time.Now(), ack.Status, ack.Revision})
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, strategy := range []portal.Strategy{portal.Shared, portal.Partitioned} {
		g := &group{name: strategy.String(), strategy: strategy, mqtt: mqttCfg("portal-" + strategy.String()),
			gateways: f.ids, last: make(map[string]uint64), log: f.portalLogger()}
		if err := g.start(); err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(g.halt)
		p.groups = append(p.groups, g)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.client.Run(ctx) })
	wg.Go(func() { // the portal's retry ticker
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.syncer.Retry(ctx)
			}
		}
	})
	f.t.Cleanup(func() { cancel(); wg.Wait() })
	f.waitFor("the portal connected and subscribed", time.Minute, func() (bool, string) {
		ok := p.client.Connected()
		for _, g := range p.groups {
			ok = ok && g.ready()
		}
		return ok, ""
	})
}

// ackedAt returns when gw first acknowledged holding at least rev, in an
// ack taken at or after since, with the given statuses (any when none).
func (p *portalSide) ackedAt(gw string, rev uint64, since time.Time, statuses ...changeset.Status) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.acks[gw] {
		if a.at.Before(since) || a.revision < rev || a.status == changeset.StatusRefused {
			continue
		}
		if len(statuses) == 0 || slices.Contains(statuses, a.status) {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// ---- the gateways ----

// gateway is one `lintel run --sim` process.
type gateway struct {
	id, dir, password string
	api               string
	client            *client.Client
	cmd               *exec.Cmd
	exited            chan struct{} // closed when the process has exited
	waitErr           error         // its exit, once exited is closed
	startedAt         time.Time
	healthyAt         time.Time
}

// apiAddrs returns n loopback addresses free now, on ports below the
// kernel's ephemeral range: a port the kernel hands out for outgoing
// connections (hundreds of them here, to mosquitto and the APIs) could be
// taken between this check and the gateway's bind.
func apiAddrs(n int) ([]string, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	var out []string
	start := 10000 + int(time.Now().UnixNano()%5000) // so that two runs rarely meet
	for port := start; port < low && len(out) < n; port++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		out = append(out, addr)
	}
	if len(out) < n {
		return nil, fmt.Errorf("found %d free ports between %d and %d, want %d", len(out), start, low, n)
	}
	return out, nil
}

// config writes the gateway's lintel.toml and password file.
func (f *fleet) config(g *gateway, tokenHash string) (string, error) {
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return "", err
	}
	secretFile := filepath.Join(g.dir, "uplink.secret")
	if err := os.WriteFile(secretFile, []byte(g.password+"\n"), 0o600); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`[gateway]
id = %q
data_dir = %q
log_level = "warn"

[api]
listen = %q
[[api.tokens]]
name = "fleet"
role = "admin"
sha256 = %q

[broker]
disabled = true

[uplink]
url = %q
username = %q
password_file = %q

[readers.front]
model = "RPK40"
mode = "card_or_pin"
door = "front"
d0 = "SIM0"
d1 = "SIM1"
green_led = "SIM2"
red_led = "SIM3"
beeper = "SIM4"

[doors.front]
strike = "SIM5"
contact = "SIM6"
rex = "SIM7"

[readers.garage]
model = "RP40"
mode = "card_only"
door = "garage"
d0 = "SIM20"
d1 = "SIM21"
green_led = "SIM22"
red_led = "SIM23"
beeper = "SIM24"

[doors.garage]
strike = "SIM25"
contact = "SIM26"
rex = "SIM27"
`, g.id, filepath.Join(g.dir, "data"), g.api, tokenHash, f.broker.URL(), g.id, secretFile)
	path := filepath.Join(g.dir, "lintel.toml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// start runs the gateway's process.
func (f *fleet) start(g *gateway, config string) error {
	logFile, err := os.Create(filepath.Join(g.dir, "lintel.log"))
	if err != nil {
		return err
	}
	g.cmd = exec.Command(f.lintel, "run", "--sim", "--config", config)
	g.cmd.Dir = g.dir
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	g.startedAt = time.Now()
	if err := g.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("%s: %w", g.id, err)
	}
	g.exited = make(chan struct{})
	go func() {
		g.waitErr = g.cmd.Wait()
		logFile.Close()
		close(g.exited)
	}()
	return nil
}

func (g *gateway) running() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// logTail is the end of the gateway's log, for a failure message.
func (g *gateway) logTail() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "lintel.log"))
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// stopAll sends SIGTERM to every running gateway and waits, killing those
// that do not exit in time. It returns how many exited cleanly.
func (f *fleet) stopAll() (clean int) {
	for _, g := range f.gws {
		if g.cmd != nil && g.running() {
			g.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(stopDeadline)
	for _, g := range f.gws {
		if g.cmd == nil {
			continue
		}
		select {
		case <-g.exited:
		case <-deadline:
		}
		if g.running() {
			g.cmd.Process.Kill()
			<-g.exited
			continue
		}
		if g.waitErr == nil {
			clean++
		}
	}
	return clean
}

// forEach runs fn for every gateway, 64 at a time, and returns the errors.
func (f *fleet) forEach(fn func(g *gateway) error) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, id := range f.ids {
		g := f.gws[id]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(g); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", g.id, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitFor polls cond until it holds, failing the test at the deadline with
// cond's description of what is missing.
func (f *fleet) waitFor(what string, deadline time.Duration, cond func() (bool, string)) time.Duration {
	f.t.Helper()
	return f.waitForEvery(what, deadline, poll, cond)
}

// waitForEvery is waitFor polling every interval.
func (f *fleet) waitForEvery(what string, deadline, interval time.Duration, cond func() (bool, string)) time.Duration {
	f.t.Helper()
	began := time.Now()
	end := began.Add(deadline)
	for {
		ok, missing := cond()
		if ok {
			return time.Since(began)
		}
		if time.Now().After(end) {
			f.t.Fatalf("waited %v for %s: %s", deadline, what, missing)
		}
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("interrupted while waiting for %s", what)
		case <-time.After(interval):
		}
	}
}

// journals returns every gateway's last journal seq.
func (f *fleet) journals() map[string]uint64 {
	f.t.Helper()
	var mu sync.Mutex
	out := make(map[string]uint64, f.n)
	err := f.forEach(func(g *gateway) error {
		ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
		defer cancel()
		st, err := g.client.Status(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		out[g.id] = st.Journal.Last
		mu.Unlock()
		return nil
	})
	if err != nil {
		f.t.Fatalf("reading the journals: %v", err)
	}
	return out
}

// readers are the simulated readers of every gateway.
var readers = []string{"front", "garage"}

// settledJournals reads the journals until two reads half a second apart
// agree: a swipe's event is journaled a moment after the simulator has
// sent the frame.
func (f *fleet) settledJournals() map[string]uint64 {
	f.t.Helper()
	sum := func(m map[string]uint64) (n uint64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	prev := f.journals()
	for range 60 {
		time.Sleep(500 * time.Millisecond)
		next := f.journals()
		if sum(next) == sum(prev) {
			return next
		}
		prev = next
	}
	f.t.Fatal("the journals did not stop growing within 30 s of the last swipe")
	return nil
}

// swipe presents k cards at each reader of every gateway: a reader's one
// after the other, as fast as the simulated Wiegand pulses go (a 26-bit
// frame takes about 80 ms), every reader of every gateway at once. The
// cards are of facility fac; each makes one journal event ("Card Not
// Found" for a facility the table does not hold).
func (f *fleet) swipe(k int, fac uint32) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, id := range f.ids {
		g := f.gws[id]
		for _, reader := range readers {
			wg.Go(func() {
				for i := range k {
					ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
					err := g.client.SimCard(ctx, reader, access.CardKey{Format: "H10301", Facility: fac, Number: uint64(i + 1)})
					cancel()
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s: swipe %d at %s: %w", g.id, i, reader, err))
						mu.Unlock()
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swiping cards: %w", err)
	}
	return nil
}

// delivered waits until every gateway's uplink has the broker's PUBACK for
// every event of journal.
func (f *fleet) delivered(journal map[string]uint64) {
	f.t.Helper()
	f.waitFor("every event taken by the broker", ingestDeadline, func() (bool, string) {
		var behind []string
		var mu sync.Mutex
		err := f.forEach(func(g *gateway) error {
			ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
			defer cancel()
			st, err := g.client.Status(ctx)
			if err != nil {
				return err
			}
			if st.Uplink.Cursor < journal[g.id] {
				mu.Lock()
				behind = append(behind, g.id)
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
		return len(behind) == 0, fmt.Sprintf("%d uplinks behind, e.g. %v", len(behind), first(behind, 5))
	})
}

// ---- the run ----

func (f *fleet) run() {
	t := f.t
	plain, hash := api.NewToken()
	f.token = plain
	defer f.print()

	// One transport for the whole fleet, allowed an idle connection to
	// every gateway (the default keeps 100 in all).
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}
	addrs, err := apiAddrs(f.n)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range f.ids {
		f.gws[id].api = addrs[i]
	}
	// Start-up: every process at once, as after a power cut of the site
	// that hosts them.
	began := time.Now()
	if err := f.forEach(func(g *gateway) error {
		g.client = client.New("http://"+g.api, plain)
		g.client.HTTP = httpc
		cfg, err := f.config(g, hash)
		if err != nil {
			return err
		}
		return f.start(g, cfg)
	}); err != nil {
		t.Fatalf("starting the gateways: %v", err)
	}
	t.Cleanup(func() { f.stopAll() })
	f.waitFor("every gateway healthy", startDeadline, func() (bool, string) {
		var down []string
		for _, id := range f.ids {
			g := f.gws[id]
			if !g.healthyAt.IsZero() {
				continue
			}
			if !g.running() {
				t.Fatalf("%s exited: %v\n%s", g.id, g.waitErr, g.logTail())
			}
			ctx, cancel := context.WithTimeout(f.ctx, time.Second)
			st, err := g.client.Status(ctx)
			cancel()
			if err == nil && st.GatewayID == g.id {
				g.healthyAt = time.Now()
				continue
			}
			down = append(down, g.id)
		}
		return len(down) == 0, fmt.Sprintf("%d not healthy, e.g. %v", len(down), first(down, 5))
	})
	var perProcess []time.Duration
	for _, g := range f.gws {
		perProcess = append(perProcess, g.healthyAt.Sub(g.startedAt))
	}
	f.row(fmt.Sprintf("start-up: %d processes at once, all healthy", f.n),
		fmt.Sprintf("%s (each, exec → healthy: %s)", secs(time.Since(began)), dist(perProcess)))
	f.waitFor("every gateway's current ack at the portal", startDeadline, func() (bool, string) {
		var missing []string
		for _, id := range f.ids {
			if _, ok := f.portal.ackedAt(id, 0, began, changeset.StatusCurrent); !ok {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d not connected, e.g. %v", len(missing), first(missing, 5))
	})
	f.row("start-up: all connected (current ack at the portal)", secs(time.Since(began)))

	// Every gateway journals "gateway.started" as it starts; the portal,
	// subscribed before they started, must have them all.
	var started map[string]uint64
	f.waitFor("every gateway's gateway.started in its journal", startDeadline, func() (bool, string) {
		started = f.journals()
		for id, last := range started {
			if last == 0 {
				return false, id + "'s journal is empty"
			}
		}
		return true, ""
	})
	f.ingested("events at start-up", started, time.Time{}, nil, true)

	// Events from the simulated readers.
	before := f.groupCounts()
	swipeStart := time.Now()
	if err := f.swipe(*flagEvents, 2); err != nil {
		t.Fatal(err)
	}
	journal := f.settledJournals()
	f.ingested(fmt.Sprintf("events, live: %s swipes", num(*flagEvents*len(readers)*f.n)), journal, swipeStart, before, true)

	f.rss("memory, idle")

	// The portal goes away (both ingestion groups stop; their persistent
	// sessions stay on the broker) while the fleet journals. When it is
	// back, mosquitto hands over what it queued as fast as the portal
	// takes it: the ingestion rate with nothing else in the way.
	for _, g := range f.portal.groups {
		g.halt()
	}
	before = f.groupCounts()
	if err := f.swipe(*flagEvents, 4); err != nil {
		t.Fatal(err)
	}
	journal = f.settledJournals()
	f.delivered(journal)
	restarted := time.Now()
	for _, g := range f.portal.groups {
		if err := g.start(); err != nil {
			t.Fatal(err)
		}
	}
	f.ingested(fmt.Sprintf("events, portal away for %s swipes, then back", num(*flagEvents*len(readers)*f.n)), journal, restarted, before, true)

	// One changeset to every gateway.
	var delta changeset.Changeset
	table := []portal.User{{User: access.User{ID: "fleet-admin", Name: "Fleet Admin", Enabled: true}, PIN: "80417263",
		Credentials: []access.Credential{{ID: "fleet-admin-card", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 1}}}}}
	delta, err = portal.Delta(0, 1, portal.Table{}, portal.Table{Users: table})
	if err != nil {
		t.Fatal(err)
	}
	f.fanOut(fmt.Sprintf("one changeset (%d ops) → applied ack, all %d", len(delta.Ops), f.n), delta, table)

	// A snapshot of 1,000 users to every gateway.
	users := snapshotUsers(*flagUsers)
	snap := portal.Snapshot(2, portal.Table{Users: users})
	size, _ := changeset.Encode(snap)
	f.fanOut(fmt.Sprintf("snapshot, %s users (%s) → applied ack, all %d", num(len(users)), kib(len(size)), f.n), snap, users)
	table = users
	f.setTable(table)

	f.rss("memory, after the snapshot")

	// The broker dies for a while. The gateways keep journaling and the
	// portal makes a change; when the broker is back, everything must
	// arrive: the gateways reconnect by their own backoff.
	f.quiesce()
	f.broker.Kill()
	down := time.Now()
	before = f.groupCounts()
	next := slices.Clone(table)
	next[0].User.Name = "Renamed During The Outage"
	outageDelta, err := portal.Delta(2, 3, portal.Table{Users: table}, portal.Table{Users: next})
	if err != nil {
		t.Fatal(err)
	}
	// The portal's publishes wait for a PUBACK until its client notices
	// the connection is gone; neither they nor the swipes may stretch the
	// outage.
	f.setTable(next)
	sent := make(chan error, 1)
	go func() { sent <- f.portal.syncer.Broadcast(f.ctx, f.ids, outageDelta) }()
	table = next
	swiped := make(chan error, 1)
	go func() { swiped <- f.swipe(*flagEvents, 3) }()
	select {
	case <-f.ctx.Done():
		t.Fatal("interrupted")
	case <-time.After(time.Until(down.Add(*flagOutage))):
	}
	restarting := time.Now()
	outageFor := restarting.Sub(down)
	f.broker.Restart()
	back := time.Now()
	if err := <-swiped; err != nil {
		t.Fatal(err)
	}
	f.check(<-sent != nil, "publishing to a dead broker succeeded")
	journal = f.settledJournals()

	// A gateway is back when its uplink says it is connected again: the
	// gateway's own account, not the portal's, which may be busy.
	backAfter := make(map[string]time.Duration)
	f.waitForEvery("every gateway back after the restart", backDeadline, 250*time.Millisecond, func() (bool, string) {
		var mu sync.Mutex
		var missing []string
		err := f.forEach(func(g *gateway) error {
			mu.Lock()
			_, done := backAfter[g.id]
			mu.Unlock()
			if done {
				return nil
			}
			ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
			defer cancel()
			st, err := g.client.Status(ctx)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if st.Uplink.Connected && st.Uplink.Since.After(restarting) {
				backAfter[g.id] = st.Uplink.Since.Sub(back)
			} else {
				missing = append(missing, g.id)
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
		return len(missing) == 0, fmt.Sprintf("%d not back, e.g. %v", len(missing), first(missing, 5))
	})
	f.row(fmt.Sprintf("mosquitto killed for %s, restarted: every uplink reconnected", secs(outageFor)),
		fmt.Sprintf("after the restart: %s (mosquitto listening after %s)", dist(slices.Collect(maps.Values(backAfter))), dur(back.Sub(restarting))))
	f.fanOutWait(fmt.Sprintf("… changeset sent during the outage → applied ack, all %d", f.n), 3, back, table, "after the restart")
	f.ingested(fmt.Sprintf("… %s swipes meanwhile", num(*flagEvents*len(readers)*f.n)), journal, back, before, false)

	// Stop.
	stopBegan := time.Now()
	clean := f.stopAll()
	f.row(fmt.Sprintf("stop: SIGTERM to all %d", f.n), fmt.Sprintf("%s, %d clean exits", secs(time.Since(stopBegan)), clean))
	f.check(clean == f.n, "%d of %d gateways exited cleanly", clean, f.n)
}

// setTable is the portal's table, for the snapshots the Syncer may need.
func (f *fleet) setTable(users []portal.User) {
	f.tableMu.Lock()
	defer f.tableMu.Unlock()
	f.table = users
}

func (f *fleet) snapshotFor(_ string, rev uint64) (changeset.Changeset, error) {
	f.tableMu.Lock()
	defer f.tableMu.Unlock()
	return portal.Snapshot(rev, portal.Table{Users: f.table}), nil
}

func (f *fleet) groupCounts() []counts {
	var out []counts
	for _, g := range f.portal.groups {
		out = append(out, g.counts())
	}
	return out
}

// ingested waits until every group has every event of journal, and adds a
// row per group. Losses and reorderings fail the test, except the shared
// group's losses when strict is false (across a broker restart).
func (f *fleet) ingested(what string, journal map[string]uint64, since time.Time, before []counts, strict bool) {
	f.t.Helper()
	var total uint64
	for _, last := range journal {
		total += last
	}
	journaled := total - f.journaled
	f.journaled = total
	var partitioned *group
	for _, g := range f.portal.groups {
		if g.name == portal.Partitioned.String() {
			partitioned = g
		}
	}
	f.waitFor(what+": ingested by the partitioned group", ingestDeadline, func() (bool, string) {
		n := partitioned.behind(journal)
		return n == 0, fmt.Sprintf("%d events not ingested", n)
	})
	// The shared group gets the same time again to catch up or report its
	// losses.
	shared := f.portal.groups[0]
	settle := time.Now().Add(gapTimeout + 2*time.Second)
	for shared.behind(journal) > 0 && time.Now().Before(settle) {
		time.Sleep(poll)
	}
	if before == nil {
		for _, g := range f.portal.groups {
			c := g.counts()
			f.check(c.lost == 0 && c.outOfOrder == 0 && g.behind(journal) == 0,
				"%s group, %s: lost %d, out of order %d, missing %d", g.name, what, c.lost, c.outOfOrder, g.behind(journal))
		}
		f.row(what, fmt.Sprintf("%d gateway.started, all ingested by both groups", total))
		return
	}
	for i, g := range f.portal.groups {
		c := g.counts().minus(before[i])
		missing := g.behind(journal)
		lost := c.lost + missing
		took := c.lastAt.Sub(since)
		when := "in " + dur(took)
		if took > 0 && strict {
			when += fmt.Sprintf(" (%.0f events/s)", float64(c.handled)/took.Seconds())
		} else if !strict {
			when = fmt.Sprintf("by %s after the restart", dur(took))
		}
		label := fmt.Sprintf("%s → %s journaled, %s", what, num(int(journaled)), g.name)
		measured := fmt.Sprintf("%d ingested %s; lost %d, out of order %d; arrived early %d (re-sequenced), duplicates %d",
			c.handled, when, lost, c.outOfOrder+c.late, c.early, c.duplicates)
		if c.late > 0 {
			measured += fmt.Sprintf("; %d of the lost arrived after %v, handled late", c.late, gapTimeout)
		}
		if !strict && g.name == portal.Shared.String() && lost > 0 {
			measured += " (mosquitto forgot the shared subscription; see docs/fleet.md)"
			f.notes = append(f.notes, fmt.Sprintf("%s group: %d events lost across the broker restart (%d given up as gaps, %d never followed by a later event)",
				g.name, lost, c.lost, missing))
		}
		f.row(label, measured)
		f.check(c.outOfOrder == 0 && c.late == 0, "%s group, %s: %d events out of order, %d late", g.name, what, c.outOfOrder, c.late)
		if strict || g.name == portal.Partitioned.String() {
			f.check(lost == 0, "%s group, %s: %d events lost", g.name, what, lost)
		}
	}
}

// quiesce waits until every event journaled so far is ingested by the
// partitioned group and every gateway is in sync, so that a broker crash
// finds nothing in flight.
func (f *fleet) quiesce() {
	f.t.Helper()
	journal := f.journals()
	f.waitFor("quiet before the outage", ingestDeadline, func() (bool, string) {
		for _, g := range f.portal.groups {
			if n := g.behind(journal); n > 0 {
				return false, fmt.Sprintf("%s group %d events behind", g.name, n)
			}
		}
		for _, st := range f.portal.syncer.States() {
			if !st.InSync() {
				return false, st.Gateway + " not in sync"
			}
		}
		return true, ""
	})
	// mosquitto saves its state every second (autosave_interval 1 in
	// mosquittotest); the sessions were made long ago, this is for the
	// last queued message states.
	time.Sleep(1100 * time.Millisecond)
}

// fanOut sends cs to every gateway and measures until each has
// acknowledged it as applied.
func (f *fleet) fanOut(what string, cs changeset.Changeset, table []portal.User) {
	f.t.Helper()
	f.setTable(table)
	began := time.Now()
	if err := f.portal.syncer.Broadcast(f.ctx, f.ids, cs); err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	f.fanOutWait(what, cs.Revision, began, table, "")
}

func (f *fleet) fanOutWait(what string, rev uint64, began time.Time, table []portal.User, suffix string) {
	f.t.Helper()
	var took []time.Duration
	f.waitFor(what, ackDeadline, func() (bool, string) {
		took = took[:0]
		var missing []string
		for _, id := range f.ids {
			at, ok := f.portal.ackedAt(id, rev, began, changeset.StatusApplied, changeset.StatusDuplicate)
			if !ok {
				missing = append(missing, id)
				continue
			}
			took = append(took, at.Sub(began))
		}
		return len(missing) == 0, fmt.Sprintf("%d have not acknowledged revision %d, e.g. %v", len(missing), rev, first(missing, 5))
	})
	want := portal.Digest(portal.Table{Users: table})
	match := 0
	for _, st := range f.portal.syncer.States() {
		if st.Applied == rev && st.Digest == want {
			match++
		} else {
			f.t.Errorf("%s after revision %d: applied %d, digest %s, want %s", st.Gateway, rev, st.Applied, st.Digest, want)
		}
	}
	measured := dist(took)
	if suffix != "" {
		measured = suffix + ": " + measured
	}
	f.row(what, fmt.Sprintf("%s; digests match %d/%d", measured, match, f.n))
}

// snapshotUsers makes n users, each with a distinct 6-digit PIN the
// gateway accepts (none of access.IsTrivial's) and a card of facility 1.
func snapshotUsers(n int) []portal.User {
	users := make([]portal.User, n)
	next := 300001
	for i := range n {
		for access.CheckCustomPIN(strconv.Itoa(next)) != nil {
			next += 37
		}
		pin := strconv.Itoa(next)
		next += 37
		id := fmt.Sprintf("u%05d", i+1)
		users[i] = portal.User{
			User: access.User{ID: id, Name: "User " + strconv.Itoa(i+1), Enabled: true},
			PIN:  pin,
			Credentials: []access.Credential{{ID: id + "-card",
				Card: access.CardKey{Format: "H10301", Facility: 1, Number: uint64(10000 + i)}}},
		}
	}
	return users
}

// rss adds a row of the gateways' memory: VmRSS (counts the shared binary
// text in every process), VmHWM (the peak) and PSS (shared pages divided
// among the processes that share them: the fair share of each).
func (f *fleet) rss(what string) {
	f.t.Helper()
	var rss, hwm, pss []float64
	for _, g := range f.gws {
		st, err := procKB(g.cmd.Process.Pid, "status", "VmRSS:", "VmHWM:")
		if err != nil {
			f.t.Fatalf("%s: %v", g.id, err)
		}
		roll, err := procKB(g.cmd.Process.Pid, "smaps_rollup", "Pss:")
		if err != nil {
			f.t.Fatalf("%s: %v", g.id, err)
		}
		rss, hwm, pss = append(rss, st[0]/1024), append(hwm, st[1]/1024), append(pss, roll[0]/1024)
	}
	var pssSum float64
	for _, p := range pss {
		pssSum += p
	}
	slices.Sort(rss)
	broker := "-"
	if m, err := procKB(f.broker.Pid(), "status", "VmRSS:"); err == nil {
		broker = fmt.Sprintf("%.0f MiB", m[0]/1024)
	}
	f.row(what, fmt.Sprintf("RSS per gateway p50 %.1f MiB, max %.1f MiB (peak %.1f MiB); PSS per gateway %.1f MiB, %.2f GiB for the fleet; mosquitto RSS %s",
		quantileF(rss, 0.5), rss[len(rss)-1], slices.Max(hwm), pssSum/float64(len(pss)), pssSum/1024, broker))
}

// procKB reads the kB values of the given keys from /proc/PID/file.
func procKB(pid int, file string, keys ...string) ([]float64, error) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := make([]float64, len(keys))
	found := 0
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if i := slices.Index(keys, fields[0]); i >= 0 {
			v, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/%s: %s: %w", pid, file, fields[0], err)
			}
			out[i] = v
			found++
		}
	}
	if found != len(keys) {
		return nil, fmt.Errorf("/proc/%d/%s: found %d of %v", pid, file, found, keys)
	}
	return out, sc.Err()
}

// ---- the table ----

func (f *fleet) print() {
	if f.t.Failed() {
		log := f.portalLog.String()
		f.t.Logf("the portal's log, its end:\n%s", log[max(0, len(log)-64<<10):])
	}
	var b strings.Builder
	mem, _ := procKB(os.Getpid(), "status", "VmRSS:")
	total, _ := meminfoGiB()
	fmt.Fprintf(&b, "\nLintel fleet: %d gateways on one mosquitto (%s), %d cores, %.0f GiB, %s/%s, %s\n\n",
		f.n, mosquittoVersion(), runtime.NumCPU(), total, runtime.GOOS, runtime.GOARCH, f.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Every event goes to two ingestion groups of %d workers at once: shared ($share/portal/lintel/v1/+/events/+,\n"+
		"put back in order by the kit's sequencer) and partitioned (each worker subscribed to the gateways hashed to it).\n"+
		"Swipes: %d cards at each of 2 simulated readers per gateway, back to back, all readers at once. Lost: in a journal,\n"+
		"never handled; out of order: handled other than right after the gateway's previous event.\n\n", *flagWorkers, *flagEvents)
	w := len("what")
	for _, r := range f.rows {
		w = max(w, len([]rune(r[0])))
	}
	fmt.Fprintf(&b, "| %-*s | %s |\n", w, "what", "measured")
	fmt.Fprintf(&b, "|%s|%s|\n", strings.Repeat("-", w+2), strings.Repeat("-", 10))
	for _, r := range f.rows {
		fmt.Fprintf(&b, "| %s%s | %s |\n", r[0], strings.Repeat(" ", w-len([]rune(r[0]))), r[1])
	}
	b.WriteString("\n")
	for _, n := range f.notes {
		b.WriteString(n + "\n")
	}
	if len(mem) == 1 {
		fmt.Fprintf(&b, "The portal (this test process: 1 sync client, 2 × %d ingestion workers) ran at %.0f MiB RSS at the end.\n", *flagWorkers, mem[0]/1024)
	}
	verdict := "PASS"
	if f.t.Failed() {
		verdict = "FAIL (see the test log)"
	}
	fmt.Fprintf(&b, "Result: %s, in %s.\n", verdict, secs(time.Since(f.started)))
	fmt.Print(b.String())
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(b.String()), 0o644); err != nil {
			f.t.Errorf("writing %s: %v", *flagOut, err)
		}
		log := filepath.Join(filepath.Dir(*flagOut), "portal.log")
		if err := os.WriteFile(log, []byte(f.portalLog.String()), 0o644); err != nil {
			f.t.Errorf("writing %s: %v", log, err)
		}
	}
}

func mosquittoVersion() string {
	bin, err := mosquittotest.Binary()
	if err != nil {
		return "mosquitto"
	}
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if m := regexp.MustCompile(`mosquitto version (\S+)`).FindSubmatch(out); m != nil {
		return "mosquitto " + string(m[1])
	}
	return "mosquitto"
}

func meminfoGiB() (float64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024 / 1024, err
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// dist renders durations as p50 / p99 / max.
func dist(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("p50 %s / p99 %s / max %s", dur(quantile(s, 0.5)), dur(quantile(s, 0.99)), dur(s[len(s)-1]))
}

// quantile is the nearest-rank quantile of sorted s.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func quantileF(s []float64, q float64) float64 {
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func dur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return secs(d)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// num writes n with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func kib(n int) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

func first(s []string, n int) []string { return s[:min(n, len(s))] }
