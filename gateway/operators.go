package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// checkCard is the rule of which cards may be enrolled, for the store: the
// card formats this gateway's readers decode, with their field ranges, as
// gpio/wiegand states them (CardFormats.Check). The field it names becomes
// an access.FieldError, the store's vocabulary.
func (hw *hardware) checkCard() func(access.CardKey) error {
	decoders := make([]*wiegand.Decoder, 0, len(hw.readers))
	for _, r := range hw.readers {
		decoders = append(decoders, r.reader.Decoder())
	}
	cards := wiegand.CardFormatsOf(decoders...)
	return func(k access.CardKey) error {
		err := cards.Check(k.Format, k.Facility, k.Number)
		var ce *wiegand.CardError
		if errors.As(err, &ce) {
			return &access.FieldError{Field: ce.Field, Err: access.Invalidf("%s", ce.Msg)}
		}
		return err
	}
}

// enrolments are the readers waiting for the next card to enrol
// (`lintel card enrol`). The reader's goroutine hands such a card over
// instead of sending it to the decision loop, so the presentation is not
// an access attempt. The zero value has none waiting.
type enrolments struct {
	mu       sync.Mutex // guards byReader
	byReader map[string]*enrolment
}

// enrolment is one wait: the user to enrol for and the first card read.
type enrolment struct {
	user  string
	cards chan access.CardKey // buffered, one
}

// enrolBusy is the error of a second enrolment at one reader.
type enrolBusy struct{ reader, user string }

func (e enrolBusy) Error() string {
	return fmt.Sprintf("reader %q is already waiting for a card to enrol for user %q; try again when it is done", e.reader, e.user)
}
func (e enrolBusy) Unwrap() error { return access.ErrInUse }

// wait registers an enrolment at reader and returns the card read there,
// or ctx's error.
func (es *enrolments) wait(ctx context.Context, reader, user string) (access.CardKey, error) {
	e := &enrolment{user: user, cards: make(chan access.CardKey, 1)}
	es.mu.Lock()
	if other, ok := es.byReader[reader]; ok {
		es.mu.Unlock()
		return access.CardKey{}, enrolBusy{reader, other.user}
	}
	if es.byReader == nil {
		es.byReader = make(map[string]*enrolment)
	}
	es.byReader[reader] = e
	es.mu.Unlock()
	defer func() {
		es.mu.Lock()
		delete(es.byReader, reader)
		es.mu.Unlock()
	}()
	select {
	case k := <-e.cards:
		return k, nil
	case <-ctx.Done():
		return access.CardKey{}, ctx.Err()
	}
}

// take hands a frame read at reader to an enrolment waiting there and
// reports whether it took it: only a card that decoded (the reader passes
// no frame that failed its parity) and only the first one.
func (es *enrolments) take(reader string, f wiegand.Frame) bool {
	if f.Kind != wiegand.KindCard && f.Kind != wiegand.KindRaw {
		return false
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	e, ok := es.byReader[reader]
	if !ok {
		return false
	}
	format, facility, number, ok := f.Card()
	if !ok {
		return false
	}
	select {
	case e.cards <- access.CardKey{Format: format, Facility: facility, Number: number}:
		return true
	default:
		return false // it has its card; this one is decided
	}
}

// waiting names the user an enrolment at reader waits for, "" for none.
func (es *enrolments) waiting(reader string) string {
	es.mu.Lock()
	defer es.mu.Unlock()
	if e, ok := es.byReader[reader]; ok {
		return e.user
	}
	return ""
}
