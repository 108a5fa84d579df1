package wiegand

import (
	"fmt"
	"strings"
)

// DefaultFormats are the formats a reader decodes when its DecoderConfig
// names none: one per length, with H10304 for 37-bit frames, H10306 for 34
// and P10001 for 40.
var DefaultFormats = []string{"KEY4", "KEY8", "H10301", "CSN32", "H10306", "C1k35", "H10304", "P10001", "C1k48"}

// MaxBits is the longest frame the package handles; longer bursts are
// rejected on length.
const MaxBits = 64

// DecoderConfig selects the formats one reader's frames are decoded with.
type DecoderConfig struct {
	// Formats names the formats to accept, in any case. At most one format
	// per frame length, since the bits alone cannot tell, say, H10302 from
	// H10304. Nil or empty means DefaultFormats.
	Formats []string
	// PINBuffer, when true, decodes a 26-bit frame with facility 0 as a
	// keypad's buffered PIN (PIN26) instead of an H10301 card. Zero (false)
	// means a 26-bit frame is always a card.
	PINBuffer bool
}

// Decoder decodes frames with one reader's formats. It is immutable after
// NewDecoder and safe for concurrent use.
type Decoder struct {
	byLen     map[int]*format
	pinBuffer bool
}

// NewDecoder checks cfg and returns its Decoder.
func NewDecoder(cfg DecoderConfig) (*Decoder, error) {
	names := cfg.Formats
	if len(names) == 0 {
		names = DefaultFormats
	}
	d := &Decoder{byLen: map[int]*format{}, pinBuffer: cfg.PINBuffer}
	for _, name := range names {
		canon, err := CanonicalFormat(name)
		if err != nil {
			return nil, fmt.Errorf("wiegand: formats: %w", err)
		}
		if canon == "PIN26" {
			return nil, fmt.Errorf("wiegand: formats: PIN26 is not a card format; set PINBuffer to decode buffered PINs")
		}
		f := formats[canon]
		if prev, ok := d.byLen[f.Length]; ok {
			return nil, fmt.Errorf("wiegand: formats: %s and %s both decode %d-bit frames; choose one", prev.Name, f.Name, f.Length)
		}
		d.byLen[f.Length] = f
	}
	if cfg.PINBuffer {
		if f, ok := d.byLen[26]; ok && f.Name != "H10301" {
			return nil, fmt.Errorf("wiegand: PINBuffer needs H10301 for 26-bit frames, got %s", f.Name)
		}
	}
	return d, nil
}

// Formats returns the canonical names of the decoder's formats, shortest
// first.
func (d *Decoder) Formats() []string {
	var names []string
	for _, f := range Formats() {
		if g, ok := d.byLen[f.Length]; ok && g.Name == f.Name {
			names = append(names, f.Name)
		}
	}
	return names
}

// Decode decodes bits ('0' and '1', first sent first). The returned frame
// has Reject set when no enabled format accepts it; it never panics on any
// input, and bits that are not '0' or '1' are rejected as invalid.
func (d *Decoder) Decode(bits string) Frame {
	fr := Frame{Bits: bits, Len: len(bits)}
	if strings.Trim(bits, "01") != "" {
		fr.Reject = CauseInvalid
		return fr
	}
	f, ok := d.byLen[len(bits)]
	if !ok {
		fr.Reject = CauseLength
		return fr
	}
	if d.pinBuffer && f.Name == "H10301" && field(bits, 1, 8) == 0 {
		f = formats["PIN26"]
	}
	fr.Format = f.Name
	fac, num, key, cause := f.decode(bits)
	fr.ParityOK = cause != CauseParity
	if cause != "" {
		fr.Reject = cause
		return fr
	}
	fr.Kind, fr.Facility, fr.Number, fr.Key = f.Kind, fac, num, key
	return fr
}

// ParseBits checks a bit string from outside (an API body, a CLI flag): it
// must be 1 to MaxBits characters of '0' and '1'.
func ParseBits(s string) (string, error) {
	if len(s) == 0 || len(s) > MaxBits {
		return "", fmt.Errorf("wiegand: bits: need 1 to %d bits, got %d", MaxBits, len(s))
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r != '0' && r != '1' }); i >= 0 {
		return "", fmt.Errorf("wiegand: bits: character %d is %q, want '0' or '1'", i+1, s[i])
	}
	return s, nil
}
