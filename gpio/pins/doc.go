// Package pins is Lintel's hardware edge: the narrow interfaces the reader
// and door logic see (EdgeSource, Input, Output), the Provider that opens
// them by line name, and its implementation on Linux GPIO character devices
// through periph.io's gpioioctl driver (Host). The simulator's Board (package
// sim) is the other Provider, so the gateway opens its lines the same way on
// a box and in the simulator.
//
// # Wiegand data lines
//
// A reader's D0 and D1 are requested together, as one gpioioctl LineSet with
// edge detection on both lines, and read by one goroutine. The kernel puts
// the events of a line request into a single queue, so bits keep their order
// across the two lines; sysfs GPIO, which polls each line's value file,
// merges and drops edges and is never used. Both edges are requested:
// falling edges are the bits, rising edges let the framer see both lines low
// together and a line stuck low, from the order of events alone (periph's
// LineSet.WaitForEdge does not return the kernel's timestamp, so times are
// taken when an event is read).
//
// Two traps in periph v3.8.5 shape the code: WaitForEdge with a negative
// timeout returns at once on gpioioctl (so every wait here has a positive
// timeout, and callers poll their context between waits), and Read on an
// output line turns it into an input (so an Output keeps its level in
// software and never reads the pin).
//
// # Names
//
// Pins are named in config by their kernel line name, as the Raspberry Pi
// kernel labels them ("GPIO17"), matched without regard to case, or by
// "chip:offset" ("gpiochip0:17"). This package owns that syntax: CheckName
// says whether a name is well formed without a chip (configuration calls
// it at load, off the box too), and Resolve, which calls it first, does the
// matching. Both are pure, so they are tested and fuzzed without a chip. A
// line whose kernel name is not 1 to 31 letters, digits, '_', '-' or '.' is
// named by chip:offset.
//
// # Concurrency
//
// A Provider's methods are safe for concurrent use. An EdgeSource or an
// Input is read by one goroutine at a time. Output.Out is safe for
// concurrent use.
package pins
