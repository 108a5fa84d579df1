package sim

import (
	"context"
	"time"
)

// DoorSim is a simulated door's inputs, wired as usual: a reed contact to
// ground with a pull-up (door closed reads low, open reads high) and a
// request-to-exit button to ground (pressed reads low).
type DoorSim struct {
	// Contact is the door contact input; give it to the door as its
	// contact with the default polarity (open is high).
	Contact *Input
	// REX is the request-to-exit input (pressed is low).
	REX *Input
}

// REXHold is how long PressREX holds the button, longer than any debounce.
const REXHold = 200 * time.Millisecond

// NewDoor returns a closed door with the button released.
func NewDoor() *DoorSim {
	return &DoorSim{Contact: NewInput(false), REX: NewInput(true)}
}

// SetOpen opens or closes the door.
func (d *DoorSim) SetOpen(open bool) { d.Contact.Set(open) }

// Open reports whether the simulated door is open.
func (d *DoorSim) Open() bool {
	high, _ := d.Contact.Read()
	return high
}

// PressREX presses the request-to-exit button for REXHold, or until ctx
// ends, then releases it.
func (d *DoorSim) PressREX(ctx context.Context) error {
	d.REX.Set(false)
	defer d.REX.Set(true)
	return sleepUntil(ctx, time.Now().Add(REXHold))
}
