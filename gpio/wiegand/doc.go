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
//     they happened and cuts them into frames. It decides the end of a frame
//     by an adaptive gap: GapFactor times the longest interval between bits
//     seen in the frame, bounded by MinGap and MaxGap (3×, 4–25 ms by
//     default), so a standard 2 ms reader's card is decided about 6 ms after
//     its last bit instead of a fixed 25–100 ms. The Framer has no clock of
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
