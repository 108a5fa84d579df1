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
// # Quiet waits
//
// EdgeSource.NextEdge's ok false means nothing was queued when it gave up,
// so a reader can end a frame on one quiet call past its deadline. On Host
// a wait is periph's WaitForEdge, a read of the line request under a Go
// read deadline, and a deadline can pass with an event queued (the poller
// had not yet seen the line request readable, or the goroutine was
// descheduled past it). So a wait that timed out reads once more under a
// fresh deadline of confirmWait (250 µs): that read takes an event the
// kernel has queued at once, and times out only if there is none. A poll
// (timeout ≤ 0) is that confirming read alone; a zero or past deadline
// would not do, since periph then waits forever or never reads. The
// contract's one gap: a goroutine descheduled for the whole 250 µs between
// setting the deadline and reading never reads.
//
// The confirming read costs time only when nothing is queued, but then Go's
// poller, which sleeps in whole milliseconds, makes its 250 µs up to 1 ms.
// Package reader calls NextEdge quietly twice at the end of each frame, the
// wait up to a millisecond before the deadline and the poll after it, so a
// box may decide a card up to about 1 ms later than the simulator, whose
// lines answer a poll from their queue without waiting. A precise sleep
// (as package reader uses for the deadline) does not help here: the wait is
// parked in Go's poller either way. Doing better needs a non-blocking read
// of the line request, which periph v3.8.5's LineSet does not offer (its
// file descriptor is unexported).
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
