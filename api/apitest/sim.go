package apitest

import (
	"fmt"
	"strings"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// Sim is an api.Sim over a [Backend]: input is decided by the real
// access.Engine and journalled. It is safe for concurrent use.
type Sim struct {
	B *Backend
}

var _ api.Sim = Sim{}

// H10301 is the only card format the fake knows: 26 bits, even parity over
// the first 12 data bits, an 8-bit facility, a 16-bit number, odd parity
// over the last 12.
const H10301 = "H10301"

// EncodeH10301 returns the 26 bits of an H10301 card.
func EncodeH10301(facility uint32, number uint64) (string, error) {
	if facility > 0xff {
		return "", fmt.Errorf("facility: %d does not fit H10301 (0-255): %w", facility, api.ErrInvalid)
	}
	if number > 0xffff {
		return "", fmt.Errorf("number: %d does not fit H10301 (0-65535): %w", number, api.ErrInvalid)
	}
	v := uint32(facility)<<16 | uint32(number)
	var data [24]byte
	for i := range data {
		data[i] = '0' + byte(v>>(23-i)&1)
	}
	even := strings.Count(string(data[:12]), "1")%2 == 1 // makes the first half even
	odd := strings.Count(string(data[12:]), "1")%2 == 0  // makes the second half odd
	return bit(even) + string(data[:]) + bit(odd), nil
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// decodeH10301 decodes 26 bits; ok is false when the parity fails.
func decodeH10301(bits string) (facility uint32, number uint64, ok bool) {
	var v uint32
	for _, c := range bits[1:25] {
		v = v<<1 | uint32(c-'0')
	}
	even := strings.Count(bits[:13], "1")%2 == 0
	odd := strings.Count(bits[13:], "1")%2 == 1
	return v >> 16, uint64(v & 0xffff), even && odd
}

// Card implements api.Sim.
func (s Sim) Card(reader, format string, facility uint32, number uint64) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	if format != H10301 {
		return fmt.Errorf("format: %q is not configured on reader %q (want H10301): %w", format, reader, api.ErrInvalid)
	}
	bits, err := EncodeH10301(facility, number)
	if err != nil {
		return err
	}
	return s.Bits(reader, bits)
}

// Bits implements api.Sim: a 26-bit frame is a card, a 4- or 8-bit frame a
// key press, anything else is rejected for its length.
func (s Sim) Bits(reader, bits string) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	b := s.B
	now := b.now()
	frame := &api.Frame{Time: now, Bits: bits, Length: len(bits)}
	switch len(bits) {
	case 26:
		fac, num, ok := decodeH10301(bits)
		frame.ParityOK = ok
		if !ok {
			frame.Error = "parity"
			b.reject(reader, frame, "parity")
			return nil
		}
		frame.Format, frame.Facility, frame.Number = H10301, fac, num
		b.setFrame(reader, frame)
		res, err := b.engine.Card(now, reader, access.CardKey{Format: H10301, Facility: fac, Number: num})
		if err != nil {
			return fmt.Errorf("apitest: card at %q: %w", reader, err)
		}
		b.Emit(res.Events...)
		return nil
	case 4, 8:
		return s.Keys(reader, string(keyOf(bits)))
	}
	frame.Error = fmt.Sprintf("length: %d bits is no known format", len(bits))
	b.reject(reader, frame, "length")
	return nil
}

// keyOf decodes a 4-bit key press, or the low nibble of an 8-bit one.
func keyOf(bits string) byte {
	var v byte
	for _, c := range bits[len(bits)-4:] {
		v = v<<1 | byte(c-'0')
	}
	switch {
	case v <= 9:
		return '0' + v
	case v == 10:
		return '*'
	}
	return '#'
}

// Keys implements api.Sim. The reader's last frame shows a key press without
// its bits.
func (s Sim) Keys(reader, keys string) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	b := s.B
	for i := 0; i < len(keys); i++ {
		now := b.now()
		b.setFrame(reader, &api.Frame{Time: now, Length: 4, ParityOK: true, Keypad: true})
		res, err := b.engine.Key(now, reader, keys[i])
		if err != nil {
			return fmt.Errorf("apitest: key %d at %q: %w: %w", i+1, reader, api.ErrInvalid, err)
		}
		b.Emit(res.Events...)
	}
	return nil
}

// DoorContact implements api.Sim.
func (s Sim) DoorContact(door string, open bool) error {
	b := s.B
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.doors[door]
	if !ok {
		return fmt.Errorf("apitest: door %q: %w", door, access.ErrNotFound)
	}
	d.Open = open
	name := NameDoorClosed
	if open {
		name = NameDoorOpened
	}
	b.emitLocked(access.Event{Type: TypeContact, Name: name, Door: door})
	return nil
}

func (b *Backend) setFrame(reader string, f *api.Frame) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers[reader].LastFrame = f
}

func (b *Backend) reject(reader string, f *api.Frame, cause string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.readers[reader]
	r.LastFrame = f
	r.Rejects[cause]++
}
