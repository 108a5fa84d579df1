package wiegand

import (
	"strings"
	"time"
)

// Kind says what a frame carries.
type Kind uint8

const (
	// KindNone is a rejected frame.
	KindNone Kind = iota
	// KindCard is a card with a facility and number layout.
	KindCard
	// KindKey is one key press from a keypad (4- or 8-bit burst).
	KindKey
	// KindPINBuffer is a whole PIN sent by a keypad in buffered 26-bit mode;
	// Number holds the digits.
	KindPINBuffer
	// KindRaw is a card serial number read without a facility layout
	// (CSN32, CSN34, CSN40). It is a card credential with facility 0.
	KindRaw
)

var kindNames = [...]string{"none", "card", "key", "pin-buffer", "raw"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Cause is why a frame was rejected. The empty Cause means accepted.
type Cause string

// Reject causes, as counted in Counters.
const (
	CauseLength  Cause = "length"   // no enabled format has this many bits
	CauseParity  Cause = "parity"   // a parity bit, checksum or complement nibble is wrong
	CauseInvalid Cause = "invalid"  // the bits are well formed but not a valid value (e.g. key code 13)
	CauseBothLow Cause = "both_low" // D0 and D1 were low together during the frame
	CausePartial Cause = "partial"  // the first frame after start may have begun before the framer
)

// PINBufferError is the number a buffered-PIN keypad sends when the user
// made a keypad error (for example pressed too many keys).
const PINBufferError = 65535

// Frame is one Wiegand transmission, decoded or rejected.
type Frame struct {
	// Bits are the bits in the order sent, as '0' and '1'.
	Bits string
	// Len is the number of bits.
	Len int
	// ParityOK reports whether the format's parity, checksum or complement
	// check passed. It is false for frames of a length no format decodes.
	ParityOK bool
	// Format is the name of the decoding format, empty when none matched.
	Format string
	// Kind says what the frame carries; KindNone when rejected.
	Kind Kind
	// Facility is the facility (site) code of a card; 0 when the format has
	// none.
	Facility uint32
	// Number is the card number, the raw serial of a KindRaw frame or the
	// digits of a KindPINBuffer frame.
	Number uint64
	// Key is the key of a KindKey frame: '0'–'9', '*' or '#'.
	Key byte
	// Reject is why the frame was rejected; empty when accepted.
	Reject Cause
	// Start and End are the arrival times of the first and last bit.
	Start, End time.Time
}

// OK reports whether the frame was accepted.
func (f Frame) OK() bool { return f.Reject == "" && f.Kind != KindNone }

// Card returns the normalised key of a card or raw-serial frame: the
// canonical format name, the facility code and the card number. It returns
// ok false for key presses, PIN buffers and rejected frames.
func (f Frame) Card() (format string, facility uint32, number uint64, ok bool) {
	if !f.OK() || (f.Kind != KindCard && f.Kind != KindRaw) {
		return "", 0, 0, false
	}
	return f.Format, f.Facility, f.Number, true
}

// KeypadError reports whether the frame is a buffered-PIN keypad's error
// frame (facility 0, number 65535).
func (f Frame) KeypadError() bool {
	return f.Kind == KindPINBuffer && f.Number == PINBufferError
}

// Redacted returns a copy safe to show or log: for key presses and PIN
// buffers the bits, key and number are hidden (the bits spell the digits);
// cards are returned unchanged.
func (f Frame) Redacted() Frame {
	if f.Kind != KindKey && f.Kind != KindPINBuffer && !isKeypadFormat(f.Format) {
		return f
	}
	f.Bits = strings.Repeat("x", len(f.Bits))
	f.Key = 0
	if !f.KeypadError() {
		f.Number = 0
	}
	return f
}

func isKeypadFormat(name string) bool {
	return name == "KEY4" || name == "KEY8" || name == "PIN26"
}

// Counters counts frames by outcome. The zero value is ready to use.
type Counters struct {
	Accepted uint64 `json:"accepted"`
	Length   uint64 `json:"length"`
	Parity   uint64 `json:"parity"`
	Invalid  uint64 `json:"invalid"`
	BothLow  uint64 `json:"both_low"`
	Partial  uint64 `json:"partial"`
}

// Count adds one frame with the given cause (empty for accepted).
func (c *Counters) Count(cause Cause) {
	switch cause {
	case "":
		c.Accepted++
	case CauseLength:
		c.Length++
	case CauseParity:
		c.Parity++
	case CauseInvalid:
		c.Invalid++
	case CauseBothLow:
		c.BothLow++
	case CausePartial:
		c.Partial++
	}
}

// Rejected is the number of frames rejected for any cause.
func (c Counters) Rejected() uint64 {
	return c.Length + c.Parity + c.Invalid + c.BothLow + c.Partial
}
