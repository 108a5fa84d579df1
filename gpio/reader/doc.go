// Package reader runs one Wiegand reader: it reads edges from a
// pins.EdgeSource, cuts them into frames with a wiegand.Framer, hands every
// accepted frame to a callback and supervises the reader.
//
// # Timing
//
// Run is one goroutine per reader. It waits for the next edge at most until
// the framer's end-of-frame deadline (adaptive: 3 ms after the last bit of a
// standard 2 ms reader; see package wiegand), so a frame is delivered within
// a few milliseconds of its last bit. Go's timers may wake an idle process
// up to a millisecond late, so Run asks the source for all but the last
// millisecond before the deadline and sleeps that on the kernel's
// high-resolution timer (Linux), then polls the source once: an edge
// queued meanwhile joins the frame, and a source with nothing queued ends
// it (pins.EdgeSource promises that ok false means nothing was queued, so
// no drain is needed). Between frames it wakes at
// least every 100 ms to notice a cancelled context and to supervise the
// lines.
//
// # Supervision
//
// A reader is at fault, and Run emits a "Reader Fault" event, when a data
// line has been held low for longer than any frame lasts (StuckLow, 500 ms
// by default; a cut or shorted cable, a jammed reader) or when frames are
// rejected in a burst (RejectBurst rejects within RejectWindow, 5 in 10 s by
// default; noise, a wrong format, a wiring swap). Each cause clears, with a
// "Reader Fault Cleared" event, when the line is released, or when a frame is
// accepted or the window passes without a reject.
//
// # Status
//
// Status returns a snapshot for the status page's frame inspector: the last
// frame seen, accepted or not (key and PIN frames redacted, since their bits
// spell the digits), the reject counters by cause and the active faults.
// Status is safe to call from any goroutine while Run runs.
package reader
