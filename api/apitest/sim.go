package apitest

import (
	"fmt"
	"strings"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// Sim is an api.Sim over a [Backend]: input is decided by the real
// access.Engine and journalled. It is safe for concurrent use.
type Sim struct {
	B *Backend
}

var _ api.Sim = Sim{}

// decoder decodes the fake's frames as a reader of `lintel run --sim` does:
// with gpio/wiegand's default formats, the project's one owner of them.
var decoder = func() *wiegand.Decoder {
	d, err := wiegand.NewDecoder(wiegand.DecoderConfig{})
	if err != nil {
		panic(fmt.Sprintf("apitest: the default Wiegand formats do not make a decoder: %v", err))
	}
	return d
}()

// Card implements api.Sim: the card is encoded in its format and sent as
// bits, as the gateway's simulator does.
func (s Sim) Card(reader, format string, facility uint32, number uint64) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	if _, err := wiegand.ValidateCard(format, facility, number); err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	bits, err := wiegand.EncodeCard(format, facility, number)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return s.Bits(reader, bits)
}

// Bits implements api.Sim: the frame is decoded by gpio/wiegand; a card
// goes to the engine, a key press to Keys, and a rejected frame is counted
// by its cause.
func (s Sim) Bits(reader, bits string) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	if _, err := wiegand.ParseBits(bits); err != nil {
		return fmt.Errorf("%w: bits: %v", api.ErrInvalid, err)
	}
	b := s.B
	now := b.now()
	fr := decoder.Decode(bits)
	frame := &api.Frame{Time: now, Bits: bits, Length: len(bits), ParityOK: fr.ParityOK, Format: fr.Format}
	if fr.Reject != "" {
		frame.Error = string(fr.Reject)
		b.reject(reader, frame, string(fr.Reject))
		return nil
	}
	if fr.Kind == wiegand.KindKey {
		return s.Keys(reader, string(fr.Key))
	}
	format, fac, num, ok := fr.Card()
	if !ok {
		return fmt.Errorf("apitest: frame of kind %s at %q is neither a card nor a key", fr.Kind, reader)
	}
	frame.Facility, frame.Number = fac, num
	b.setFrame(reader, frame)
	key := access.CardKey{Format: format, Facility: fac, Number: num}
	if b.takeEnrolment(reader, key) {
		return nil // enrolled, not decided
	}
	res, err := b.engine.Card(now, reader, key)
	if err != nil {
		return fmt.Errorf("apitest: card at %q: %w", reader, err)
	}
	b.Emit(res.Events...)
	return nil
}

// Keys implements api.Sim. The reader's last frame shows a key press without
// its bits.
func (s Sim) Keys(reader, keys string) error {
	if _, ok := s.B.engine.Reader(reader); !ok {
		return access.ErrUnknownReader(reader)
	}
	if keys == "" || strings.Trim(keys, "0123456789*#") != "" {
		return fmt.Errorf("%w: keys: only 0-9, * and # can be pressed", api.ErrInvalid)
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
