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
// simulator's. The rest of the gateway does not know which.
type hardware struct {
	readers []*readerUnit
	doors   []*doorUnit
	// sim feeds the simulated pins; nil on real hardware.
	sim *simulator
	// onDoorEvent receives door events once the gateway is wired; until
	// then they are dropped (none can happen before the inputs are read).
	onDoorEvent func(door.Event)
	onReader    func(reader.Event)
}

// readerUnit is one reader: its frame source and the door whose LEDs and
// beeper it carries.
type readerUnit struct {
	name   string
	reader *reader.Reader
	door   *doorUnit
	sim    *sim.ReaderSim
	// quiet is how long the simulated lines stay idle after a frame, so
	// that back-to-back simulated inputs reach the framer as separate
	// frames, as two real swipes always do.
	quiet time.Duration
}

// doorUnit is one door with its strike, inputs and reader indicators.
type doorUnit struct {
	name   string
	reader string // the reader that opens it, for event topics
	door   *door.Door
	sim    *sim.DoorSim
	relay  *sim.Output // the simulated strike relay, nil on hardware
	// relayActiveLow: the relay is energised by a low level.
	relayActiveLow bool
}

// openHardware opens every door first and drives its strike locked, then
// the readers. On error everything opened so far is secured and closed.
func openHardware(cfg *Config, simulate bool, log *slog.Logger) (hw *hardware, err error) {
	hw = &hardware{}
	var host *pins.Host
	if simulate {
		hw.sim = &simulator{hw: hw}
	} else {
		if host, err = pins.Open(); err != nil {
			return nil, fmt.Errorf("gpio: %w", err)
		}
	}
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
		du, err := openDoor(cfg, name, readerOf[name], host, hw, log)
		if err != nil {
			return nil, fmt.Errorf("%s: doors.%s: %w", cfg.file, name, err)
		}
		hw.doors = append(hw.doors, du)
	}
	for _, name := range cfg.ReaderNames() {
		ru, err := openReader(cfg, name, host, hw, log)
		if err != nil {
			return nil, fmt.Errorf("%s: readers.%s: %w", cfg.file, name, err)
		}
		hw.readers = append(hw.readers, ru)
	}
	return hw, nil
}

func openDoor(cfg *Config, name, readerName string, host *pins.Host, hw *hardware, log *slog.Logger) (*doorUnit, error) {
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
		Logger: log.With("door", name),
	}
	// The level that holds the door locked, requested before anything else.
	lockedHigh := dcfg.LockedRelayLevel()
	if host == nil {
		relay := sim.NewOutput(name + " strike")
		if err := relay.Out(lockedHigh); err != nil {
			return nil, err
		}
		du.relay = relay
		dcfg.Relay = relay
		du.sim = sim.NewDoor()
		if dc.Contact != "" {
			dcfg.Contact = du.sim.Contact
		}
		if dc.REX != "" {
			dcfg.REX = du.sim.REX
		}
		if rc.GreenLED != "" {
			dcfg.Green = sim.NewOutput(readerName + " green")
		}
		if rc.RedLED != "" {
			dcfg.Red = sim.NewOutput(readerName + " red")
		}
		if rc.Beeper != "" {
			dcfg.Beeper = sim.NewOutput(readerName + " beeper")
		}
	} else {
		var err error
		if dcfg.Relay, err = host.Output(dc.Strike, lockedHigh); err != nil {
			return nil, fmt.Errorf("strike: %w", err)
		}
		closeOnErr := []interface{ Close() error }{dcfg.Relay}
		fail := func(key string, err error) (*doorUnit, error) {
			for _, c := range closeOnErr {
				c.Close()
			}
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if dc.Contact != "" {
			if dcfg.Contact, err = host.Input(dc.Contact, pins.PullUp); err != nil {
				return fail("contact", err)
			}
			closeOnErr = append(closeOnErr, dcfg.Contact)
		}
		if dc.REX != "" {
			if dcfg.REX, err = host.Input(dc.REX, pins.PullUp); err != nil {
				return fail("rex", err)
			}
			closeOnErr = append(closeOnErr, dcfg.REX)
		}
		// Indicator lines are requested at their "off" level.
		for _, o := range []struct {
			key, pin string
			dst      *pins.Output
		}{{"green_led", rc.GreenLED, &dcfg.Green}, {"red_led", rc.RedLED, &dcfg.Red}, {"beeper", rc.Beeper, &dcfg.Beeper}} {
			if o.pin == "" {
				continue
			}
			out, err := host.Output(o.pin, dcfg.IndicatorOffLevel())
			if err != nil {
				return fail("readers."+readerName+"."+o.key, err)
			}
			*o.dst = out
			closeOnErr = append(closeOnErr, out)
		}
	}
	d, err := door.New(dcfg)
	if err != nil {
		return nil, err
	}
	du.door = d
	return du, nil
}

func openReader(cfg *Config, name string, host *pins.Host, hw *hardware, log *slog.Logger) (*readerUnit, error) {
	rc := cfg.Readers[name]
	ru := &readerUnit{name: name, quiet: rc.GapMax + cfg.Sim.Interval}
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
	var src pins.EdgeSource
	if host == nil {
		keyFormat := ""
		if rc.KeypadBuffered {
			keyFormat = "PIN26"
		}
		s, err := sim.NewReader(sim.ReaderConfig{
			Timing:    sim.Timing{PulseWidth: cfg.Sim.PulseWidth, Interval: cfg.Sim.Interval},
			KeyFormat: keyFormat,
		})
		if err != nil {
			return nil, err
		}
		ru.sim = s
		src = s.Lines()
	} else {
		var err error
		if src, err = host.Reader(rc.D0, rc.D1); err != nil {
			return nil, fmt.Errorf("d0/d1: %w", err)
		}
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

// simulator implements the API's simulator routes over the simulated pins.
type simulator struct{ hw *hardware }

var _ api.Sim = (*simulator)(nil)

// simTimeout bounds one simulated input; a keypad sequence of 17 keys at
// the default pace takes about 3 s.
const simTimeout = 30 * time.Second

func (s *simulator) readerSim(name string) (*readerUnit, error) {
	r, ok := s.hw.reader(name)
	if !ok || r.sim == nil {
		return nil, access.ErrUnknownReader(name)
	}
	return r, nil
}

// send runs one simulated transmission and then keeps the lines quiet for
// the end-of-frame gap, so the next input is a new frame.
func (s *simulator) send(r *readerUnit, fn func(ctx context.Context, rs *sim.ReaderSim) error) error {
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
	d, ok := s.hw.door(name)
	if !ok || d.sim == nil {
		return fmt.Errorf("door %q: %w", name, access.ErrNotFound)
	}
	d.sim.SetOpen(open)
	return nil
}
