package wiegand

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vector is one row of testdata/wiegand-vectors.tsv.
type vector struct {
	format   string
	facility uint32
	number   uint64
	key      byte
	bits     string
	note     string
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/wiegand-vectors.tsv")
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	header := true
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || text == "" {
			continue
		}
		if header {
			header = false
			continue
		}
		cols := strings.Split(text, "\t")
		if len(cols) != 5 {
			t.Fatalf("vectors line %d: got %d columns, want 5", line, len(cols))
		}
		v := vector{format: cols[0], bits: cols[3], note: cols[4]}
		if cols[1] != "-" {
			n, err := strconv.ParseUint(cols[1], 10, 32)
			if err != nil {
				t.Fatalf("vectors line %d: facility: %v", line, err)
			}
			v.facility = uint32(n)
		}
		if strings.HasPrefix(v.format, "KEY") {
			v.key = cols[2][0]
		} else {
			n, err := strconv.ParseUint(cols[2], 10, 64)
			if err != nil {
				t.Fatalf("vectors line %d: number: %v", line, err)
			}
			v.number = n
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	if len(out) < 30 {
		t.Fatalf("got %d vectors, want at least 30", len(out))
	}
	return out
}

// decoderFor returns a decoder that reads v's format.
func decoderFor(t testing.TB, v vector) *Decoder {
	t.Helper()
	cfg := DecoderConfig{Formats: []string{v.format}}
	if v.format == "PIN26" {
		cfg = DecoderConfig{Formats: []string{"H10301"}, PINBuffer: true}
	}
	d, err := NewDecoder(cfg)
	if err != nil {
		t.Fatalf("NewDecoder(%+v): %v", cfg, err)
	}
	return d
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.format+"/"+v.bits, func(t *testing.T) {
			got := decoderFor(t, v).Decode(v.bits)
			info, err := Lookup(v.format)
			if err != nil {
				t.Fatal(err)
			}
			want := Frame{Bits: v.bits, Len: len(v.bits), ParityOK: true, Format: info.Name, Kind: info.Kind, Facility: v.facility, Number: v.number, Key: v.key}
			if v.key != 0 {
				want.Number = uint64(strings.IndexByte(keyCodes, v.key))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Decode(%s) mismatch (-want +got):\n%s", v.bits, diff)
			}
		})
	}
}

func TestVectorsEncode(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.format+"/"+v.bits, func(t *testing.T) {
			var got string
			if v.key != 0 {
				bursts, err := EncodeKeys(v.format, string(v.key))
				if err != nil {
					t.Fatal(err)
				}
				got = strings.Join(bursts, "")
			} else {
				var err error
				got, err = EncodeCard(v.format, v.facility, v.number)
				if err != nil {
					t.Fatal(err)
				}
			}
			if got != v.bits {
				t.Errorf("encode %s %d/%d = %s, want %s", v.format, v.facility, v.number, got, v.bits)
			}
		})
	}
}

// TestVectorsSingleBitFlips flips every bit of every vector: a format with
// parity must reject each flip; one without must never accept it as the
// same credential.
func TestVectorsSingleBitFlips(t *testing.T) {
	for _, v := range loadVectors(t) {
		info, err := Lookup(v.format)
		if err != nil {
			t.Fatal(err)
		}
		d := decoderFor(t, v)
		orig := d.Decode(v.bits)
		for i := range v.bits {
			b := []byte(v.bits)
			b[i] ^= 1
			got := d.Decode(string(b))
			if info.Parity && got.OK() {
				t.Errorf("%s %s with bit %d flipped: accepted as %+v, want a parity reject", v.format, v.bits, i, got)
			}
			if got.OK() && got.Facility == orig.Facility && got.Number == orig.Number && got.Key == orig.Key {
				t.Errorf("%s %s with bit %d flipped decoded to the same credential", v.format, v.bits, i)
			}
		}
	}
}

func TestVectorsWrongLength(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range loadVectors(t) {
		if v.format != "H10301" {
			continue
		}
		for _, bits := range []string{v.bits[:25], v.bits + "0", v.bits + "1", v.bits[1:]} {
			got := d.Decode(bits)
			if got.Reject != CauseLength {
				t.Errorf("Decode(%d bits %s) reject = %q, want %q", len(bits), bits, got.Reject, CauseLength)
			}
		}
	}
}
