// Package wiegand turns Wiegand pulses into frames and frames into card
// numbers and key presses.
//
// A Wiegand reader has two open-collector data lines, D0 and D1, that idle
// high. It sends a 0 by pulling D0 low for a short pulse (typically 20–100 µs)
// and a 1 by pulling D1 low; pulses follow each other every 0.2–20 ms
// (typically 2 ms). There is no start or end marker: a frame ends when the
// lines stay quiet.
//
// The package has three layers, each usable on its own and none doing I/O:
//
//   - Framer takes edges (line, rising or falling, arrival time) in the order
//     they happened and cuts them into frames. The Framer has no clock of
//     its own: the caller asks Deadline when the current frame would end and
//     calls Expire once that time has passed. Falling edges are the bits;
//     rising edges let the Framer see both lines low at once (a wiring
//     fault or two readers on one bus) and lines stuck low.
//   - Decoder turns a frame's bits into a card, a key press or a buffered
//     PIN using the formats one reader is set up for, at most one format per
//     frame length. It rejects wrong lengths and bad parity.
//   - The formats themselves (H10301, H10306, H10302, H10304, C1k35, C1k48,
//     P10001, CSN32, CSN34, CSN40, KEY4, KEY8, PIN26), each with a decoder
//     and an encoder. EncodeCard and EncodeKeys build the bit strings a
//     simulated reader sends.
//
// # End of frame
//
// A reader clocks its bits out at a steady rate, so it sends its next bit
// within one interval of the last; a frame is over once the lines have been
// quiet for a little more than that. The rule: a frame ends when no bit has
// come for GapFactor (1.5) times the longest interval between two of its
// bits so far, but never sooner than MinGap (3 ms) nor later than MaxGap
// (25 ms); after a frame's first bit, while no interval is known, it waits
// MaxGap. A bit exactly at the deadline starts the next frame.
//
// What that means for readers at the ends of the range:
//
//   - A standard 2 ms reader's card is decided 3 ms after its last bit
//     (1.5 × 2 ms = MinGap), one bit slot and a half; a bit of such a
//     reader may come up to 1 ms late and still belong to its frame.
//   - A fast reader (0.2–2 ms) gets MinGap, far more than its interval: the
//     floor keeps a burst of closely spaced glitches from being cut into
//     frames the moment it pauses, and keeps the deadline well above the
//     resolution at which a busy machine wakes up.
//   - The slowest legal reader, 20 ms a bit, gets MaxGap (25 ms): its next
//     bit may come 5 ms late. Anything slower than MaxGap is not Wiegand.
//   - Between 2 ms and about 16 ms a bit, a reader may slow down by half
//     within a frame (an interval up to 1.5 × the longest before it) before
//     the frame is cut.
//
// Noise does not need a rule of its own: a glitch is a bit of a frame
// nobody sends on purpose. A lone glitch is a 1-bit frame, closed after
// MaxGap and rejected for its length; glitches close together make short
// frames rejected the same way; a glitch within the gap of a card's last
// bit joins the card, whose length or parity then rejects it. Two real
// swipes are hundreds of milliseconds apart, and a keypad's key bursts at
// least tens, so frames sent on purpose never come within a gap of each
// other.
//
// Every rejected frame is counted by its Cause (Counters), and every frame,
// accepted or not, comes out as a Frame so a status page can show what the
// reader last sent. Key and PIN frames carry the digit in their bits: use
// Frame.Redacted before showing or logging one.
//
// A card is identified by its normalised key (format, facility, number), as
// returned by Frame.Card and accepted by EncodeCard; format names are
// canonicalised by CanonicalFormat.
//
// Framer and Decoder are not safe for concurrent use: one reader's edges are
// framed by one goroutine.
package wiegand
