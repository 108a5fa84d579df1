package wiegand

import (
	"fmt"
	"slices"
	"strings"
)

// FormatInfo describes one frame format.
type FormatInfo struct {
	// Name is the canonical name: "H10301", "C1k35", "KEY4", ...
	Name string
	// Length is the frame length in bits.
	Length int
	// Kind is what an accepted frame of this format carries.
	Kind Kind
	// FacilityBits and NumberBits are the widths of the fields; 0 when the
	// format has no such field.
	FacilityBits, NumberBits int
	// Parity reports whether the format can detect a single flipped bit.
	Parity bool
}

// format is one frame layout: how to check and split a frame, and how to
// build one.
type format struct {
	FormatInfo
	// decode reads a frame of exactly Length bits.
	decode func(b string) (facility uint32, number uint64, key byte, cause Cause)
	// encode builds a frame; facility and number are already range checked.
	encode func(facility uint32, number uint64) string
}

// formats lists every format the package knows, keyed by canonical name.
var formats = map[string]*format{}

func register(f *format) { formats[f.Name] = f }

func init() {
	register(twoParity("H10301", 26, 8, 16, 13, 13))
	register(twoParity("H10306", 34, 16, 16, 17, 17))
	register(twoParity("H10302", 37, 0, 35, 19, 18))
	register(twoParity("H10304", 37, 16, 19, 19, 18))
	register(corporate1000("C1k35", 35, 12, 20))
	register(corporate1000("C1k48", 48, 22, 23))
	register(p10001())
	register(rawSerial("CSN32", 32))
	register(csn34())
	register(rawSerial("CSN40", 40))
	register(key4())
	register(key8())
	register(pin26())
}

// Formats lists every known format, sorted by length then name.
func Formats() []FormatInfo {
	out := make([]FormatInfo, 0, len(formats))
	for _, f := range formats {
		out = append(out, f.FormatInfo)
	}
	slices.SortFunc(out, func(a, b FormatInfo) int {
		if a.Length != b.Length {
			return a.Length - b.Length
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// CanonicalFormat returns the canonical spelling of a format name, matched
// without regard to case ("h10301" → "H10301", "C1K35" → "C1k35").
func CanonicalFormat(name string) (string, error) {
	for canon := range formats {
		if strings.EqualFold(canon, name) {
			return canon, nil
		}
	}
	return "", fmt.Errorf("wiegand: unknown format %q (known: %s)", name, strings.Join(formatNames(), ", "))
}

// Lookup returns the description of a format by name (any case).
func Lookup(name string) (FormatInfo, error) {
	canon, err := CanonicalFormat(name)
	if err != nil {
		return FormatInfo{}, err
	}
	return formats[canon].FormatInfo, nil
}

func formatNames() []string {
	var names []string
	for _, f := range Formats() {
		names = append(names, f.Name)
	}
	return names
}

// field reads bits [from, from+n) as a big-endian unsigned number.
func field(b string, from, n int) uint64 {
	var v uint64
	for i := from; i < from+n; i++ {
		v = v<<1 | uint64(b[i]-'0')
	}
	return v
}

// putField writes v into bits [from, from+n), most significant bit first.
func putField(b []byte, from, n int, v uint64) {
	for i := from + n - 1; i >= from; i-- {
		b[i] = '0' + byte(v&1)
		v >>= 1
	}
}

// ones counts the '1' bits among b[i] for i in [from, to) where keep(i).
func ones(b string, from, to int, keep func(int) bool) int {
	n := 0
	for i := from; i < to; i++ {
		if b[i] == '1' && (keep == nil || keep(i)) {
			n++
		}
	}
	return n
}

func zeros(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return b
}

// bit returns '1' when set is true.
func bit(set bool) byte {
	if set {
		return '1'
	}
	return '0'
}

// twoParity is the HID layout of H10301, H10306, H10302 and H10304: a
// leading even parity bit over bits [1, evenEnd), the facility and number
// fields, and a trailing odd parity bit over bits [oddStart, n-1).
func twoParity(name string, n, facBits, numBits, evenEnd, oddStart int) *format {
	return &format{
		FormatInfo: FormatInfo{Name: name, Length: n, Kind: KindCard, FacilityBits: facBits, NumberBits: numBits, Parity: true},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			if (ones(b, 0, evenEnd, nil)%2 != 0) || (ones(b, oddStart, n, nil)%2 != 1) {
				return 0, 0, 0, CauseParity
			}
			return uint32(field(b, 1, facBits)), field(b, 1+facBits, numBits), 0, ""
		},
		encode: func(fac uint32, num uint64) string {
			b := zeros(n)
			putField(b, 1, facBits, uint64(fac))
			putField(b, 1+facBits, numBits, num)
			b[0] = bit(ones(string(b), 1, evenEnd, nil)%2 == 1)
			b[n-1] = bit(ones(string(b), oddStart, n-1, nil)%2 == 0)
			return string(b)
		},
	}
}

// corporate1000 is HID Corporate 1000 (35 and 48 bit): bit 0 is odd parity
// over the whole frame, bit 1 even parity over bits i in [2, n-1) with
// i%3 != 1, and bit n-1 odd parity over bits i in [1, n-1) with i%3 != 0.
// The facility starts at bit 2 and the number follows it.
func corporate1000(name string, n, facBits, numBits int) *format {
	evenSet := func(i int) bool { return i%3 != 1 }
	oddSet := func(i int) bool { return i%3 != 0 }
	return &format{
		FormatInfo: FormatInfo{Name: name, Length: n, Kind: KindCard, FacilityBits: facBits, NumberBits: numBits, Parity: true},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			if b[1] != bit(ones(b, 2, n-1, evenSet)%2 == 1) ||
				b[n-1] != bit(ones(b, 1, n-1, oddSet)%2 == 0) ||
				ones(b, 0, n, nil)%2 != 1 {
				return 0, 0, 0, CauseParity
			}
			return uint32(field(b, 2, facBits)), field(b, 2+facBits, numBits), 0, ""
		},
		encode: func(fac uint32, num uint64) string {
			b := zeros(n)
			putField(b, 2, facBits, uint64(fac))
			putField(b, 2+facBits, numBits, num)
			b[1] = bit(ones(string(b), 2, n-1, evenSet)%2 == 1)
			b[n-1] = bit(ones(string(b), 1, n-1, oddSet)%2 == 0)
			b[0] = bit(ones(string(b), 1, n, nil)%2 == 0)
			return string(b)
		},
	}
}

// p10001 is the 40-bit P10001 layout: a fixed 1111 preamble, a 12-bit
// facility, a 16-bit number and a checksum byte that is the XOR of the four
// bytes before it.
func p10001() *format {
	xor := func(b string) uint64 {
		return field(b, 0, 8) ^ field(b, 8, 8) ^ field(b, 16, 8) ^ field(b, 24, 8)
	}
	return &format{
		FormatInfo: FormatInfo{Name: "P10001", Length: 40, Kind: KindCard, FacilityBits: 12, NumberBits: 16, Parity: true},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			if xor(b) != field(b, 32, 8) {
				return 0, 0, 0, CauseParity
			}
			if b[:4] != "1111" {
				return 0, 0, 0, CauseInvalid
			}
			return uint32(field(b, 4, 12)), field(b, 16, 16), 0, ""
		},
		encode: func(fac uint32, num uint64) string {
			b := zeros(40)
			putField(b, 0, 4, 0xF)
			putField(b, 4, 12, uint64(fac))
			putField(b, 16, 16, num)
			putField(b, 32, 8, xor(string(b)))
			return string(b)
		},
	}
}

// rawSerial is a card serial number sent as n bare bits.
func rawSerial(name string, n int) *format {
	return &format{
		FormatInfo: FormatInfo{Name: name, Length: n, Kind: KindRaw, NumberBits: n},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			return 0, field(b, 0, n), 0, ""
		},
		encode: func(_ uint32, num uint64) string {
			b := zeros(n)
			putField(b, 0, n, num)
			return string(b)
		},
	}
}

// csn34 is a 32-bit card serial wrapped in H10306's parity bits.
func csn34() *format {
	h := twoParity("CSN34", 34, 0, 32, 17, 17)
	h.Kind = KindRaw
	return h
}

// keyCodes maps a keypad code (0–11) to its key.
const keyCodes = "0123456789*#"

func keyCode(k byte) (uint64, bool) {
	i := strings.IndexByte(keyCodes, k)
	return uint64(i), i >= 0
}

// key4 is a 4-bit keypad burst: 0–9, then 10 for '*' and 11 for '#'.
func key4() *format {
	return &format{
		FormatInfo: FormatInfo{Name: "KEY4", Length: 4, Kind: KindKey, NumberBits: 4},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			v := field(b, 0, 4)
			if v >= uint64(len(keyCodes)) {
				return 0, 0, 0, CauseInvalid
			}
			return 0, v, keyCodes[v], ""
		},
		encode: func(_ uint32, num uint64) string {
			b := zeros(4)
			putField(b, 0, 4, num)
			return string(b)
		},
	}
}

// key8 is an 8-bit keypad burst: the high nibble is the ones' complement of
// the low nibble, which holds the 4-bit code.
func key8() *format {
	return &format{
		FormatInfo: FormatInfo{Name: "KEY8", Length: 8, Kind: KindKey, NumberBits: 4, Parity: true},
		decode: func(b string) (uint32, uint64, byte, Cause) {
			hi, lo := field(b, 0, 4), field(b, 4, 4)
			if hi != ^lo&0xF {
				return 0, 0, 0, CauseParity
			}
			if lo >= uint64(len(keyCodes)) {
				return 0, 0, 0, CauseInvalid
			}
			return 0, lo, keyCodes[lo], ""
		},
		encode: func(_ uint32, num uint64) string {
			b := zeros(8)
			putField(b, 0, 4, ^num&0xF)
			putField(b, 4, 4, num)
			return string(b)
		},
	}
}

// pin26 is a keypad's buffered PIN sent in the H10301 layout with facility
// 0; the number is the PIN's digits, 65535 a keypad error.
func pin26() *format {
	h := twoParity("PIN26", 26, 8, 16, 13, 13)
	h.Kind = KindPINBuffer
	h.FacilityBits = 0
	decode := h.decode
	h.decode = func(b string) (uint32, uint64, byte, Cause) {
		fac, num, key, cause := decode(b)
		if cause == "" && fac != 0 {
			return 0, 0, 0, CauseInvalid
		}
		return fac, num, key, cause
	}
	return h
}
