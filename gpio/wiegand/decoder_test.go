package wiegand

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewDecoderErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  DecoderConfig
		want string
	}{
		{"unknown format", DecoderConfig{Formats: []string{"H99999"}}, `unknown format "H99999"`},
		{"two 37-bit formats", DecoderConfig{Formats: []string{"H10302", "h10304"}}, "H10302 and H10304 both decode 37-bit frames"},
		{"PIN26 listed", DecoderConfig{Formats: []string{"PIN26"}}, "PIN26 is not a card format"},
		{"PIN buffer without H10301", DecoderConfig{Formats: []string{"KEY4"}, PINBuffer: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewDecoder: %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewDecoder error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDecoderFormats(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{Formats: []string{"c1k48", "H10302", "h10301"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"H10301", "H10302", "C1k48"}, d.Formats()); diff != "" {
		t.Errorf("Formats mismatch (-want +got):\n%s", diff)
	}
}

func TestDecode(t *testing.T) {
	def, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pin, err := NewDecoder(DecoderConfig{PINBuffer: true})
	if err != nil {
		t.Fatal(err)
	}
	csn, err := NewDecoder(DecoderConfig{Formats: []string{"CSN34", "CSN40", "CSN32"}})
	if err != nil {
		t.Fatal(err)
	}
	mustEncode := func(format string, fac uint32, num uint64) string {
		b, err := EncodeCard(format, fac, num)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		dec  *Decoder
		bits string
		want Frame
	}{
		{"H10301 FC 0 is a card without PIN buffer", def, "00000000000000100110100100",
			Frame{Format: "H10301", Kind: KindCard, Number: 1234, ParityOK: true}},
		{"H10301 FC 0 is a PIN with PIN buffer", pin, "00000000000000100110100100",
			Frame{Format: "PIN26", Kind: KindPINBuffer, Number: 1234, ParityOK: true}},
		{"PIN buffer keeps cards with a facility", pin, mustEncode("H10301", 1, 100),
			Frame{Format: "H10301", Kind: KindCard, Facility: 1, Number: 100, ParityOK: true}},
		{"keypad error frame", pin, "00000000011111111111111111",
			Frame{Format: "PIN26", Kind: KindPINBuffer, Number: PINBufferError, ParityOK: true}},
		{"KEY4 code 12 is invalid", def, "1100", Frame{Format: "KEY4", ParityOK: true, Reject: CauseInvalid}},
		{"KEY8 bad complement", def, "11110001", Frame{Format: "KEY8", Reject: CauseParity}},
		{"KEY8 code 14 with good complement", def, "00011110", Frame{Format: "KEY8", ParityOK: true, Reject: CauseInvalid}},
		{"P10001 without preamble", def, "0111000001110110000001100100001101000011",
			Frame{Format: "P10001", ParityOK: true, Reject: CauseInvalid}},
		{"unknown length", def, "101", Frame{Reject: CauseLength}},
		{"empty", def, "", Frame{Reject: CauseLength}},
		{"not bits", def, "10x1", Frame{Reject: CauseInvalid}},
		{"CSN32", csn, "10000000000000000000000000000001", Frame{Format: "CSN32", Kind: KindRaw, Number: 1<<31 | 1, ParityOK: true}},
		{"CSN34", csn, mustEncode("CSN34", 0, 0xDEADBEEF), Frame{Format: "CSN34", Kind: KindRaw, Number: 0xDEADBEEF, ParityOK: true}},
		{"CSN40", csn, mustEncode("CSN40", 0, 1<<39), Frame{Format: "CSN40", Kind: KindRaw, Number: 1 << 39, ParityOK: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.dec.Decode(tt.bits)
			tt.want.Bits, tt.want.Len = tt.bits, len(tt.bits)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%s) mismatch (-want +got):\n%s", tt.bits, diff)
			}
		})
	}
}

func TestFrameCardAndRedacted(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{PINBuffer: true})
	if err != nil {
		t.Fatal(err)
	}
	card := d.Decode("10000000100000000000000010")
	format, fac, num, ok := card.Card()
	if !ok || format != "H10301" || fac != 1 || num != 1 {
		t.Errorf("Card() = %q, %d, %d, %v; want H10301, 1, 1, true", format, fac, num, ok)
	}
	if got := card.Redacted(); got != card {
		t.Errorf("Redacted card = %+v, want it unchanged", got)
	}
	key := d.Decode("10100101")
	if _, _, _, ok := key.Card(); ok {
		t.Errorf("Card() of a key press: ok true, want false")
	}
	got := key.Redacted()
	if got.Bits != "xxxxxxxx" || got.Key != 0 || got.Number != 0 || got.Kind != KindKey {
		t.Errorf("Redacted key = %+v, want bits, key and number hidden", got)
	}
	pin := d.Decode("00000000000000100110100100").Redacted()
	if pin.Number != 0 || strings.ContainsAny(pin.Bits, "01") {
		t.Errorf("Redacted PIN = %+v, want number and bits hidden", pin)
	}
	badKey := d.Decode("11110001").Redacted()
	if strings.ContainsAny(badKey.Bits, "01") {
		t.Errorf("Redacted rejected KEY8 = %+v, want bits hidden", badKey)
	}
	if errFrame := d.Decode("00000000011111111111111111"); !errFrame.KeypadError() {
		t.Errorf("KeypadError() = false for the keypad error frame")
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		format string
		fac    uint32
		num    uint64
		want   string
	}{
		{"facility too big", "H10301", 256, 1, "H10301 facility must be 0 to 255, got 256"},
		{"number too big", "H10301", 1, 65536, "H10301 number must be 0 to 65535, got 65536"},
		{"facility on a format without one", "H10302", 1, 1, "H10302 has no facility code"},
		{"keypad format", "KEY4", 0, 1, "keypad burst format"},
		{"unknown", "nope", 0, 1, `unknown format "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeCard(tt.format, tt.fac, tt.num)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("EncodeCard error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := EncodeKeys("KEY4", "12a"); err == nil || !strings.Contains(err.Error(), "key 3 is not") {
		t.Errorf("EncodeKeys bad key error = %v", err)
	}
	if _, err := EncodeKeys("H10301", "1"); err == nil {
		t.Errorf("EncodeKeys(H10301) succeeded, want an error")
	}
	if got, err := ValidateCard("c1k35", 4095, 1048575); err != nil || got != "C1k35" {
		t.Errorf("ValidateCard = %q, %v; want C1k35, nil", got, err)
	}
	if _, err := ValidateCard("KEY8", 0, 1); err == nil {
		t.Errorf("ValidateCard(KEY8) succeeded, want an error")
	}
}

func TestParseBits(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"1011", ""},
		{"", "need 1 to 64 bits, got 0"},
		{strings.Repeat("1", 65), "need 1 to 64 bits, got 65"},
		{"10 1", `character 3 is ' '`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseBits(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseBits: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseBits error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestRoundTripAllFormats encodes edge values of every card format and
// decodes them back.
func TestRoundTripAllFormats(t *testing.T) {
	for _, info := range Formats() {
		if info.Kind == KindKey {
			continue
		}
		t.Run(info.Name, func(t *testing.T) {
			cfg := DecoderConfig{Formats: []string{info.Name}}
			if info.Name == "PIN26" {
				cfg = DecoderConfig{PINBuffer: true}
			}
			d, err := NewDecoder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			maxFac := uint32(0)
			if info.FacilityBits > 0 {
				maxFac = uint32(1)<<info.FacilityBits - 1
			}
			maxNum := uint64(1)<<info.NumberBits - 1
			facilities := []uint32{0}
			if maxFac > 0 {
				facilities = append(facilities, 1, maxFac/3, maxFac)
			}
			for _, fac := range facilities {
				for _, num := range []uint64{0, 1, maxNum / 7, maxNum} {
					bits, err := EncodeCard(info.Name, fac, num)
					if err != nil {
						t.Fatalf("EncodeCard(%d, %d): %v", fac, num, err)
					}
					got := d.Decode(bits)
					if !got.OK() || got.Facility != fac || got.Number != num || got.Format != info.Name {
						t.Errorf("Decode(EncodeCard(%d, %d)) = %+v", fac, num, got)
					}
				}
			}
		})
	}
}
