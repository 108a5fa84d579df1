package store

import (
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
)

var recordCases = []userState{
	{user: access.User{ID: "u1", Levels: access.DefaultLevels()}},
	{user: access.User{ID: "u2", Name: "Ada Lovelace", Enabled: true, Levels: []string{}}, hasPIN: true, pin: pinKey{1, 2, 3}, pinLen: 6},
	{user: access.User{ID: "u4", Name: "Grace", Enabled: true, Override: true, Levels: []string{"cleaners", "staff"}},
		hasPIN: true, pin: pinKey{4, 5, 6}, pinLen: 8, nbr: pinKey{7, 8, 9}, hasNbr: true},
	{
		user: access.User{ID: "u3", Name: "Zoë", Enabled: true, Levels: access.DefaultLevels(),
			ValidFrom: time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC), ValidTo: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)},
		creds: []access.Credential{
			{ID: "a", UserID: "u3", Type: "card", Card: access.CardKey{Format: "H10301", Facility: 255, Number: 65535}},
			{ID: "b", UserID: "u3", Type: "card", Card: access.CardKey{Format: "C1000-35", Facility: 4095, Number: 1 << 40}},
		},
	},
}

func TestRecordRoundTrip(t *testing.T) {
	for _, want := range recordCases {
		t.Run(want.user.ID, func(t *testing.T) {
			b := encodeUser(nil, &want)
			got, err := decodeUser(want.user.ID, b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(userState{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeUserVersion1 reads a record written before access levels: its
// user holds the default levels, has no override, and a PIN of unknown
// length without a duress neighbour.
func TestDecodeUserVersion1(t *testing.T) {
	// version 1, enabled and has PIN, name "Ann", the PIN key, no credentials.
	v1 := append([]byte{1, recEnabled | recHasPIN, 3, 'A', 'n', 'n'}, make([]byte, 16)...)
	v1 = append(v1, 0)
	got, err := decodeUser("ann", v1)
	if err != nil {
		t.Fatal(err)
	}
	want := userState{user: access.User{ID: "ann", Name: "Ann", Enabled: true, Levels: access.DefaultLevels()}, hasPIN: true}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(userState{})); diff != "" {
		t.Errorf("version 1 record (-want +got):\n%s", diff)
	}
}

func TestDecodeUserRejects(t *testing.T) {
	good := encodeUser(nil, &recordCases[3])
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{9}, good[1:]...)},
		{"flags", append([]byte{2, 0x80}, good[2:]...)},
		{"v2 flags in a v1 record", append([]byte{1, recOverride}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(good[:len(good):len(good)], 0)},
		{"name too long", append([]byte{1, 0}, 0xff, 0x0f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, err := decodeUser("u3", tt.b); err == nil {
				t.Errorf("decodeUser accepted %x as %+v", tt.b, st)
			}
		})
	}
}

// FuzzDecodeUser feeds damaged records to the decoder: it must fail
// cleanly, and what it accepts must survive a round trip.
func FuzzDecodeUser(f *testing.F) {
	for _, c := range recordCases {
		f.Add(c.user.ID, encodeUser(nil, &c))
	}
	f.Fuzz(func(t *testing.T, id string, b []byte) {
		st, err := decodeUser(id, b)
		if err != nil {
			return
		}
		again, err := decodeUser(id, encodeUser(nil, &st))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if diff := cmp.Diff(st, again, cmp.AllowUnexported(userState{})); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func TestDigestArithmetic(t *testing.T) {
	var d digest
	var sum big.Int
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	for i := range 50 {
		h := sha256.Sum256([]byte{byte(i)})
		d.add(digestOf(h))
		sum.Add(&sum, new(big.Int).SetBytes(h[:]))
	}
	for i := range 20 {
		h := sha256.Sum256([]byte{byte(i)})
		d.sub(digestOf(h))
		sum.Sub(&sum, new(big.Int).SetBytes(h[:]))
	}
	sum.Mod(&sum, mod)
	var want [32]byte
	sum.FillBytes(want[:])
	if got := d.bytes(); got != want {
		t.Errorf("digest = %x, want %x", got, want)
	}
}
