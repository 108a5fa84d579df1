// Package sim is Lintel's simulated hardware: data lines, inputs and outputs
// that satisfy the pins interfaces, simulators that drive them the way real
// readers and doors do, and a Board that hands them out as a pins.Provider.
//
// A Board is the simulator's GPIO. Simulated readers and doors are wired to
// its lines by name first (WireReader, WireDoor), as devices are wired on a
// site; the gateway then opens the lines through the Board exactly as it
// opens a real chip's through pins.Host, so the wiring code that runs on a
// box is the code the simulator runs. The ReaderSims and DoorSims the Board
// returned stay the simulator's controls (send a card, open a door), and
// OutputLine shows what was driven on a line.
//
// A ReaderSim turns a card (format, facility, number), key presses ("1234#")
// or raw bits into Wiegand pulses on its Lines with real timing: a pulse of
// PulseWidth (50 µs by default) every Interval (2 ms by default), with
// optional jitter (at most MaxJitter, a quarter interval for a standard
// reader, so that the framer's end-of-frame gap never cuts a frame), and can
// add noise pulses. The Lines are a pins.EdgeSource, so the simulated pulses
// go through the same reader, framer and decoder as pulses from a real
// reader; nothing is decoded here. Their NextEdge always hands out an edge
// already queued before it reports quiet, and answers a poll from the queue
// without waiting. Each edge is stamped with the time it was scheduled
// for; LastBitSent says when the last bit's falling edge was actually
// queued, which is later when the simulator's goroutine woke late on a
// loaded machine.
//
// A DoorSim holds a door contact and a request-to-exit button as Inputs,
// with the electrical polarity of the usual wiring (a reed contact and a
// button to ground with pull-ups: door open and button released read high).
//
// Output records the level a door drives on a simulated relay, LED or
// beeper, so the status page and tests can see it.
//
// Every type here is safe for concurrent use. A ReaderSim sends one
// transmission at a time; concurrent Send calls queue.
package sim
