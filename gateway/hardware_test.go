package gateway

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/pins/pinstest"
)

// TestHardwareWiringIsOnePath is the finding that openDoor and openReader
// branched on host == nil, so the wiring that runs on a box (which lines,
// at which level, with which pull) was not what the simulator tested.
// Both now open their lines through one pins.Provider: this runs the
// wiring on a recorder in front of the simulated board and checks every
// line the config names is opened as the real host would be asked to.
func TestHardwareWiringIsOnePath(t *testing.T) {
	tests := []struct {
		name       string
		active     Level
		fail       FailMode
		lockedHigh bool
	}{
		{"strike energised by high", High, FailSecure, false},
		{"strike energised by low", Low, FailSecure, true},
		{"maglock energised by high", High, FailSafe, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("lintel.toml", ExampleConfig())
			if err != nil {
				t.Fatal(err)
			}
			d := cfg.Doors["front"]
			d.StrikeActive, d.Fail = tt.active, tt.fail
			cfg.Doors["front"] = d
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := newSimulator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &pinstest.Recorder{P: s.board}
			hw := &hardware{sim: s}
			if err := hw.wire(cfg, rec, quietLogger()); err != nil {
				t.Fatal(err)
			}
			defer hw.secureAll()
			want := []pinstest.Open{
				{What: "output", Names: []string{"GPIO5"}, High: tt.lockedHigh},
				{What: "input", Names: []string{"GPIO6"}, Pull: pins.PullUp},
				{What: "input", Names: []string{"GPIO13"}, Pull: pins.PullUp},
				// HID indicator inputs are active low: off is high.
				{What: "output", Names: []string{"GPIO22"}, High: true},
				{What: "output", Names: []string{"GPIO23"}, High: true},
				{What: "output", Names: []string{"GPIO24"}, High: true},
				{What: "reader", Names: []string{"GPIO17", "GPIO27"}},
			}
			if diff := cmp.Diff(want, rec.Opens()); diff != "" {
				t.Errorf("lines opened (-want +got):\n%s", diff)
			}
			// The simulated devices sit on the lines the config names.
			relay, ok := s.relay("front")
			if !ok || relay.Name() != "GPIO5" || relay.High() != tt.lockedHigh {
				t.Errorf("relay of front = %v, %v; want GPIO5 at high=%v", relay, ok, tt.lockedHigh)
			}
		})
	}
}

// TestHardwareSimOpensConfiguredNames runs openHardware's simulated path
// on a config with real line names, as `lintel run --sim --config` does,
// and checks a reader's simulated lines are the ones the reader reads.
func TestHardwareSimOpensConfiguredNames(t *testing.T) {
	cfg, err := ParseConfig("lintel.toml", ExampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	hw, err := openHardware(cfg, true, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer hw.secureAll()
	if _, err := hw.sim.board.Output("GPIO5", false); err == nil {
		t.Errorf("the strike line GPIO5 could be opened again; the wiring did not open it")
	}
	if _, ok := hw.sim.relay("front"); !ok {
		t.Errorf("no simulated relay on doors.front.strike")
	}
	if _, err := hw.sim.readerSim("front"); err != nil {
		t.Errorf("no simulated reader on readers.front: %v", err)
	}
}
