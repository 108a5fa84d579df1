package wiegand

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCardFormatsCheck: a card in a format no reader decodes, or that does
// not fit its format, was enrolled and could never open a door (issue 12,
// finding 9). The check names the field and says what would be right.
func TestCardFormatsCheck(t *testing.T) {
	h37, err := NewDecoder(DecoderConfig{Formats: []string{"H10301", "H10302"}})
	if err != nil {
		t.Fatal(err)
	}
	defaults := CardFormatsOf()
	site := CardFormatsOf(h37)
	tests := []struct {
		name     string
		formats  *CardFormats
		format   string
		facility uint32
		number   uint64
		field    string // "" when the card is good
		msg      string
	}{
		{"H10301", defaults, "H10301", 255, 65535, "", ""},
		{"CSN32", defaults, "CSN32", 0, 0xffffffff, "", ""},
		{"C1k48", defaults, "C1k48", 1<<22 - 1, 1<<23 - 1, "", ""},
		{"unknown format", defaults, "FOO", 1, 1, "format", `"FOO" is not a card format; the readers decode H10301, CSN32, H10306, C1k35, H10304, P10001, C1k48`},
		{"wrong case", defaults, "h10301", 1, 1, "format", `"h10301" is spelled "H10301": card formats are matched as the readers report them`},
		{"keypad format", defaults, "KEY8", 0, 1, "format", "KEY8 is not a card format; the readers decode H10301, CSN32, H10306, C1k35, H10304, P10001, C1k48"},
		{"buffered PIN", defaults, "PIN26", 0, 1, "format", "PIN26 is not a card format; the readers decode H10301, CSN32, H10306, C1k35, H10304, P10001, C1k48"},
		{"not decoded here", defaults, "H10302", 0, 1, "format", "no reader of this gateway decodes H10302 cards (they decode H10301, CSN32, H10306, C1k35, H10304, P10001, C1k48)"},
		{"not decoded here, the other 37", site, "H10304", 0, 1, "format", "no reader of this gateway decodes H10304 cards (they decode H10301, H10302)"},
		{"wrong case of one not decoded", site, "csn32", 0, 1, "format", "no reader of this gateway decodes CSN32 cards (they decode H10301, H10302)"},
		{"decoded here", site, "H10302", 0, 1<<35 - 1, "", ""},
		{"facility 300", defaults, "H10301", 300, 1, "facility", "H10301 facility codes are 0 to 255, got 300"},
		{"number 70000", defaults, "H10301", 1, 70000, "number", "H10301 card numbers are 0 to 65535, got 70000"},
		{"facility of a format without one", site, "H10302", 1, 1, "facility", "H10302 cards have no facility code: give 0, got 1"},
		{"a long name is clipped", defaults, "ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJXYZ", 1, 1, "format", `"ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJ..." is not a card format; the readers decode H10301, CSN32, H10306, C1k35, H10304, P10001, C1k48`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.formats.Check(tc.format, tc.facility, tc.number)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want the card accepted", err)
				}
				return
			}
			var ce *CardError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CardError", err)
			}
			if diff := cmp.Diff(CardError{Field: tc.field, Msg: tc.msg}, *ce); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCardFormatsAgreeWithEncode: every card Check accepts encodes, and
// decodes back, so Check refuses nothing a reader could read and accepts
// nothing it could not.
func TestCardFormatsAgreeWithEncode(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := CardFormatsOf(d)
	for _, name := range c.Names() {
		info, _ := Lookup(name)
		for _, fac := range []uint32{0, 1, 255, 256, 4095, 4096, 1<<22 - 1, 1 << 22, 1<<32 - 1} {
			for _, num := range []uint64{0, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<35 - 1, 1 << 40} {
				_, encErr := EncodeCard(name, fac, num)
				if checkErr := c.Check(name, fac, num); (checkErr == nil) != (encErr == nil) {
					t.Fatalf("%s %d/%d: Check says %v, EncodeCard says %v", name, fac, num, checkErr, encErr)
				}
				if encErr != nil {
					continue
				}
				bits, _ := EncodeCard(name, fac, num)
				if got := d.Decode(bits); !got.OK() || got.Format != info.Name || got.Facility != fac || got.Number != num {
					t.Fatalf("%s %d/%d: decoded as %+v", name, fac, num, got)
				}
			}
		}
	}
}
