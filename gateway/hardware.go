package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/reader"
	"github.com/lintel-access/lintel/gpio/sim"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// hardware is the gateway's readers and doors, on real GPIO lines or on the
// simulator's. The rest of the gateway does not know which, and neither
// does the wiring below: both are opened through one pins.Provider.
type hardware struct {
	readers []*readerUnit
	doors   []*doorUnit
	// sim is the simulated site; nil on real hardware.
	sim *simulator
	// onDoorEvent receives door events once the gateway is wired; until
	// then they are dropped (none can happen before the inputs are read).
	onDoorEvent func(door.Event)
	// onDoorChange is told a door's name when its state changes.
	onDoorChange func(string)
	onReader     func(reader.Event)
}

// readerUnit is one reader: its frame source and the door whose LEDs and
// beeper it carries.
type readerUnit struct {
	name   string
	reader *reader.Reader
	door   *doorUnit
}

// doorUnit is one door with its strike, inputs and reader indicators.
type doorUnit struct {
	name   string
	reader string // the reader that opens it, for event topics
	door   *door.Door
	// relayActiveLow: the relay is energised by a low level.
	relayActiveLow bool
}

// openHardware opens the machine's GPIO or, with simulate, a simulated
// site wired as cfg says, and wires the readers and doors on it. The only
// difference between the two is the pins.Provider.
func openHardware(cfg *Config, simulate bool, log *slog.Logger) (*hardware, error) {
	hw := &hardware{}
	var prov pins.Provider
	if simulate {
		s, err := newSimulator(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.file, err)
		}
		hw.sim, prov = s, s.board
	} else {
		host, err := pins.Open()
		if err != nil {
			return nil, fmt.Errorf("gpio: %w", err)
		}
		prov = host
	}
	if err := hw.wire(cfg, prov, log); err != nil {
		return nil, err
	}
	return hw, nil
}

// wire opens every door first and drives its strike locked, then the
// readers, all through prov. On error everything opened so far is secured.
func (hw *hardware) wire(cfg *Config, prov pins.Provider, log *slog.Logger) (err error) {
	defer func() {
		if err != nil {
			hw.secureAll()
		}
	}()
	readerOf := map[string]string{}
	for _, name := range cfg.ReaderNames() {
		readerOf[cfg.Readers[name].Door] = name
	}
	for _, name := range cfg.DoorNames() {
		du, err := openDoor(cfg, name, readerOf[name], prov, hw, log)
		if err != nil {
			return fmt.Errorf("%s: doors.%s: %w", cfg.file, name, err)
		}
		hw.doors = append(hw.doors, du)
	}
	for _, name := range cfg.ReaderNames() {
		ru, err := openReader(cfg, name, prov, hw, log)
		if err != nil {
			return fmt.Errorf("%s: readers.%s: %w", cfg.file, name, err)
		}
		hw.readers = append(hw.readers, ru)
	}
	return nil
}

func openDoor(cfg *Config, name, readerName string, prov pins.Provider, hw *hardware, log *slog.Logger) (*doorUnit, error) {
	dc := cfg.Doors[name]
	rc := cfg.Readers[readerName]
	du := &doorUnit{name: name, reader: readerName, relayActiveLow: dc.StrikeActive == Low}
	dcfg := door.Config{
		Name:           name,
		RelayActiveLow: dc.StrikeActive == Low,
		FailSafe:       dc.Fail == FailSafe,
		UnlockTime:     dc.Unlock,
		ContactOpenLow: dc.ContactOpen == Low,
		HeldOpen:       dc.HeldOpen,
		HeldPreAlarm:   dc.HeldOpen - dc.PreAlarm,
		OnEvent: func(ev door.Event) {
			if f := hw.onDoorEvent; f != nil {
				f(ev)
			}
		},
		OnChange: func() {
			if f := hw.onDoorChange; f != nil {
				f(name)
			}
		},
		Logger: log.With("door", name),
	}
	// The level that holds the door locked, requested before anything else.
	var err error
	if dcfg.Relay, err = prov.Output(dc.Strike, dcfg.LockedRelayLevel()); err != nil {
		return nil, fmt.Errorf("strike: %w", err)
	}
	closeOnErr := []interface{ Close() error }{dcfg.Relay}
	fail := func(key string, err error) (*doorUnit, error) {
		for _, c := range closeOnErr {
			c.Close()
		}
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	for _, in := range []struct {
		key, pin string
		dst      *pins.Input
	}{{"contact", dc.Contact, &dcfg.Contact}, {"rex", dc.REX, &dcfg.REX}} {
		if in.pin == "" {
			continue
		}
		if *in.dst, err = prov.Input(in.pin, pins.PullUp); err != nil {
			return fail(in.key, err)
		}
		closeOnErr = append(closeOnErr, *in.dst)
	}
	// Indicator lines are requested at their "off" level.
	for _, o := range []struct {
		key, pin string
		dst      *pins.Output
	}{{"green_led", rc.GreenLED, &dcfg.Green}, {"red_led", rc.RedLED, &dcfg.Red}, {"beeper", rc.Beeper, &dcfg.Beeper}} {
		if o.pin == "" {
			continue
		}
		if *o.dst, err = prov.Output(o.pin, dcfg.IndicatorOffLevel()); err != nil {
			return fail("readers."+readerName+"."+o.key, err)
		}
		closeOnErr = append(closeOnErr, *o.dst)
	}
	d, err := door.New(dcfg)
	if err != nil {
		for _, c := range closeOnErr {
			c.Close()
		}
		return nil, err
	}
	du.door = d
	return du, nil
}

func openReader(cfg *Config, name string, prov pins.Provider, hw *hardware, log *slog.Logger) (*readerUnit, error) {
	rc := cfg.Readers[name]
	ru := &readerUnit{name: name}
	for _, d := range hw.doors {
		if d.name == rc.Door {
			ru.door = d
		}
	}
	formats := make([]string, 0, len(wiegand.DefaultFormats))
	for _, f := range wiegand.DefaultFormats {
		if f == "H10304" {
			f = rc.Format37
		}
		formats = append(formats, f)
	}
	src, err := prov.Reader(rc.D0, rc.D1)
	if err != nil {
		return nil, fmt.Errorf("d0/d1: %w", err)
	}
	r, err := reader.New(reader.Config{
		Name:    name,
		Decoder: wiegand.DecoderConfig{Formats: formats, PINBuffer: rc.KeypadBuffered},
		Framer:  wiegand.FramerConfig{MinGap: rc.GapMin, MaxGap: rc.GapMax},
		OnEvent: func(ev reader.Event) {
			if f := hw.onReader; f != nil {
				f(ev)
			}
		},
		Logger: log.With("reader", name),
	}, src)
	if err != nil {
		src.Close()
		return nil, err
	}
	ru.reader = r
	return ru, nil
}

// secureAll drives every strike locked. It is safe to call at any time and
// more than once.
func (hw *hardware) secureAll() {
	for _, d := range hw.doors {
		if d.door != nil {
			_ = d.door.Secure()
		}
	}
}

func (hw *hardware) door(name string) (*doorUnit, bool) {
	for _, d := range hw.doors {
		if d.name == name {
			return d, true
		}
	}
	return nil, false
}

func (hw *hardware) reader(name string) (*readerUnit, bool) {
	for _, r := range hw.readers {
		if r.name == name {
			return r, true
		}
	}
	return nil, false
}

// grant unlocks the door for its configured time.
func (d *doorUnit) grant() error { return d.door.Grant() }

// indicate shows a decision on the reader's LEDs and beeper.
func (r *readerUnit) indicate(a access.Action) {
	if r.door == nil {
		return
	}
	switch a {
	case access.ActionDeny:
		r.door.door.Indicate(door.PatternDeny, 0)
	case access.ActionAwaitPIN:
		r.door.door.Indicate(door.PatternPINWait, 0)
	case access.ActionLockout:
		r.door.door.Indicate(door.PatternLockout, 0)
	case access.ActionIdle:
		r.door.door.Indicate(door.PatternIdle, 0)
	}
	// A grant's pattern is played by the door's Grant itself.
}

// simulator is the simulated site of `lintel run --sim`: a sim.Board with
// a simulated reader and door wired to the lines the config names, before
// the gateway opens them, as devices are wired on a real site. It
// implements the API's simulator routes.
type simulator struct {
	cfg     *Config
	board   *sim.Board
	readers map[string]simReader
	doors   map[string]*sim.DoorSim
}

type simReader struct {
	sim *sim.ReaderSim
	// quiet is how long the simulated lines stay idle after a frame, so
	// that back-to-back simulated inputs reach the framer as separate
	// frames, as two real swipes always do.
	quiet time.Duration
}

var _ api.Sim = (*simulator)(nil)

// newSimulator wires a simulated reader and door to the lines of each of
// cfg's readers and doors.
func newSimulator(cfg *Config) (*simulator, error) {
	s := &simulator{cfg: cfg, board: sim.NewBoard(),
		readers: map[string]simReader{}, doors: map[string]*sim.DoorSim{}}
	for _, name := range cfg.ReaderNames() {
		rc := cfg.Readers[name]
		keyFormat := ""
		if rc.KeypadBuffered {
			keyFormat = "PIN26"
		}
		rs, err := s.board.WireReader(rc.D0, rc.D1, sim.ReaderConfig{
			Timing:    sim.Timing{PulseWidth: cfg.Sim.PulseWidth, Interval: cfg.Sim.Interval},
			KeyFormat: keyFormat,
		})
		if err != nil {
			return nil, fmt.Errorf("readers.%s: %w", name, err)
		}
		s.readers[name] = simReader{sim: rs, quiet: rc.GapMax + cfg.Sim.Interval}
	}
	for _, name := range cfg.DoorNames() {
		dc := cfg.Doors[name]
		ds, err := s.board.WireDoor(dc.Contact, dc.REX)
		if err != nil {
			return nil, fmt.Errorf("doors.%s: %w", name, err)
		}
		s.doors[name] = ds
	}
	return s, nil
}

// relay returns a door's simulated strike relay.
func (s *simulator) relay(door string) (*sim.Output, bool) {
	dc, ok := s.cfg.Doors[door]
	if !ok {
		return nil, false
	}
	return s.board.OutputLine(dc.Strike)
}

// simTimeout bounds one simulated input; a keypad sequence of 17 keys at
// the default pace takes about 3 s.
const simTimeout = 30 * time.Second

func (s *simulator) readerSim(name string) (simReader, error) {
	r, ok := s.readers[name]
	if !ok {
		return simReader{}, access.ErrUnknownReader(name)
	}
	return r, nil
}

// send runs one simulated transmission and then keeps the lines quiet for
// the end-of-frame gap, so the next input is a new frame.
func (s *simulator) send(r simReader, fn func(ctx context.Context, rs *sim.ReaderSim) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), simTimeout)
	defer cancel()
	if err := fn(ctx, r.sim); err != nil {
		return err
	}
	time.Sleep(r.quiet)
	return nil
}

func (s *simulator) Card(reader, format string, facility uint32, number uint64) error {
	rs, err := s.readerSim(reader)
	if err != nil {
		return err
	}
	if _, err := wiegand.ValidateCard(format, facility, number); err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return s.send(rs, func(ctx context.Context, sr *sim.ReaderSim) error {
		return sr.SendCard(ctx, format, facility, number)
	})
}

func (s *simulator) Bits(reader, bits string) error {
	rs, err := s.readerSim(reader)
	if err != nil {
		return err
	}
	if _, err := wiegand.ParseBits(bits); err != nil {
		return fmt.Errorf("%w: bits: %v", api.ErrInvalid, err)
	}
	return s.send(rs, func(ctx context.Context, sr *sim.ReaderSim) error { return sr.SendBits(ctx, bits) })
}

func (s *simulator) Keys(reader, keys string) error {
	rs, err := s.readerSim(reader)
	if err != nil {
		return err
	}
	if keys == "" || strings.Trim(keys, "0123456789*#") != "" {
		return fmt.Errorf("%w: keys: only 0-9, * and # can be pressed", api.ErrInvalid)
	}
	return s.send(rs, func(ctx context.Context, sr *sim.ReaderSim) error { return sr.SendKeys(ctx, keys) })
}

func (s *simulator) DoorContact(name string, open bool) error {
	d, ok := s.doors[name]
	if !ok {
		return fmt.Errorf("door %q: %w", name, access.ErrNotFound)
	}
	d.SetOpen(open)
	return nil
}
