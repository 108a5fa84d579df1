package wiegand

import (
	"fmt"
	"strings"
)

// CardError says which field of a card does not fit the formats a site's
// readers decode: "format", "facility" or "number". Its message says what
// was wrong and what would be right.
type CardError struct {
	Field string
	Msg   string
}

func (e *CardError) Error() string { return e.Field + ": " + e.Msg }

// CardFormats is the set of card formats a site's readers decode: the
// cards worth enrolling, since a card in any other format can never be
// read there. It is immutable and safe for concurrent use.
type CardFormats struct {
	byName map[string]*format
}

// CardFormatsOf returns the card formats (KindCard and KindRaw) that at
// least one of the decoders decodes. With no decoder it is the card
// formats of DefaultFormats, what a reader decodes when configured with
// none.
func CardFormatsOf(decoders ...*Decoder) *CardFormats {
	c := &CardFormats{byName: map[string]*format{}}
	if len(decoders) == 0 {
		d, err := NewDecoder(DecoderConfig{})
		if err != nil {
			panic(fmt.Sprintf("wiegand: the default formats do not make a decoder: %v", err))
		}
		decoders = []*Decoder{d}
	}
	for _, d := range decoders {
		for _, f := range d.byLen {
			if f.Kind == KindCard || f.Kind == KindRaw {
				c.byName[f.Name] = f
			}
		}
	}
	return c
}

// Names lists the formats, shortest first.
func (c *CardFormats) Names() []string {
	var names []string
	for _, f := range Formats() {
		if _, ok := c.byName[f.Name]; ok {
			names = append(names, f.Name)
		}
	}
	return names
}

// Check reports whether a card (format, facility, number) is one a reader
// of the site can present: the format is spelled as the readers report it
// (card keys are compared exactly, so "h10301" would never match a read
// "H10301"), it is among the formats decoded, and the facility and number
// fit its fields. The error is a *CardError naming the field.
func (c *CardFormats) Check(format string, facility uint32, number uint64) error {
	f, ok := c.byName[format]
	if !ok {
		return c.formatError(format)
	}
	if f.FacilityBits == 0 && facility != 0 {
		return &CardError{Field: "facility", Msg: fmt.Sprintf("%s cards have no facility code: give 0, got %d", f.Name, facility)}
	}
	if f.FacilityBits > 0 && f.FacilityBits < 32 && facility >= 1<<f.FacilityBits {
		return &CardError{Field: "facility", Msg: fmt.Sprintf("%s facility codes are 0 to %d, got %d", f.Name, uint64(1)<<f.FacilityBits-1, facility)}
	}
	if f.NumberBits < 64 && number >= 1<<f.NumberBits {
		return &CardError{Field: "number", Msg: fmt.Sprintf("%s card numbers are 0 to %d, got %d", f.Name, uint64(1)<<f.NumberBits-1, number)}
	}
	return nil
}

func (c *CardFormats) formatError(format string) error {
	decoded := strings.Join(c.Names(), ", ")
	canon, err := CanonicalFormat(format)
	switch {
	case err != nil:
		return &CardError{Field: "format", Msg: fmt.Sprintf("%q is not a card format; the readers decode %s", clip(format), decoded)}
	case canon != format && c.byName[canon] != nil:
		return &CardError{Field: "format", Msg: fmt.Sprintf("%q is spelled %q: card formats are matched as the readers report them", format, canon)}
	case formats[canon].Kind != KindCard && formats[canon].Kind != KindRaw:
		return &CardError{Field: "format", Msg: fmt.Sprintf("%s is not a card format; the readers decode %s", canon, decoded)}
	}
	return &CardError{Field: "format", Msg: fmt.Sprintf("no reader of this gateway decodes %s cards (they decode %s)", canon, decoded)}
}

// clip shortens a name from outside for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
