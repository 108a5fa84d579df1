package changeset

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/store"
)

// testKey is a key made from a fixed seed, so failures are reproducible.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("lintel test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// newSignedApplier returns an applier for gateway gw1 that accepts only
// changesets signed by the "portal" key.
func newSignedApplier(t *testing.T) (*Applier, *store.Store) {
	t.Helper()
	s := openStore(t, t.TempDir())
	keys, err := NewKeyring(map[string]ed25519.PublicKey{"portal": testKey("portal").Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewApplier(s, Config{Now: fixedNow, GatewayID: "gw1", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return a, s
}

// TestPoisonMaxRevisionRefused is the poisoning finding: a changeset at
// revision 2^64-1 made every later changeset, snapshots included, a
// duplicate. A revision may now jump at most MaxRevisionJump past the
// gateway's, so it is refused and the portal's next snapshot applies.
func TestPoisonMaxRevisionRefused(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"delta at 2^64-1", encode(t, Changeset{Revision: math.MaxUint64, Base: 1, Ops: []Op{{Kind: OpPINClear, User: "u1"}}})},
		{"snapshot at 2^64-1", []byte(`{"revision":18446744073709551615,"snapshot":true,"users":[]}`)},
		{"one past the jump", encode(t, Changeset{Revision: 1 + MaxRevisionJump + 1, Base: 1})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := a.Apply(tc.payload)
			if ack.Status != StatusRefused || ack.Error == nil || ack.Error.Code != CodeRevisionJump || ack.Error.Path != "revision" {
				t.Fatalf("got %s %+v, want refused revision_jump at revision", ack.Status, ack.Error)
			}
			if got := s.Revision(); got != 1 {
				t.Errorf("revision after the refusal: got %d, want 1", got)
			}
		})
	}
	if ack := a.Apply(encode(t, Changeset{Revision: 1 + MaxRevisionJump, Base: 1})); ack.Status != StatusApplied {
		t.Errorf("a jump of exactly MaxRevisionJump: got %s %+v, want applied", ack.Status, ack.Error)
	}
	if ack := a.Apply([]byte(`{"revision":4294967300,"snapshot":true,"users":[]}`)); ack.Status != StatusApplied {
		t.Errorf("the next snapshot: got %s %+v, want applied", ack.Status, ack.Error)
	}
}

// TestPoisonUnsignedRefused is the other half of the poisoning finding:
// anyone who may publish on sync/changes could change the table. With
// keys configured, only changesets signed by one of them, for this
// gateway, are applied; the rest are refused before they are decoded.
func TestPoisonUnsignedRefused(t *testing.T) {
	a, s := newSignedApplier(t)
	good := encode(t, Changeset{Revision: 1, Ops: seedOps})
	portal, other := testKey("portal"), testKey("other")
	flip := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)-3] ^= 1
		return b
	}
	tests := []struct {
		name    string
		payload []byte
		code    Code
		path    string
	}{
		{"unsigned", good, CodeUnsigned, ""},
		{"unsigned poison", []byte(`{"revision":18446744073709551615,"snapshot":true,"users":[]}`), CodeUnsigned, ""},
		{"signed by an unknown key", Sign(other, "other", "gw1", good), CodeBadSignature, "key"},
		{"another key under the portal's name", Sign(other, "portal", "gw1", good), CodeBadSignature, "sig"},
		{"signed for another gateway", Sign(portal, "portal", "gw2", good), CodeBadSignature, "sig"},
		{"changed after signing", flip(Sign(portal, "portal", "gw1", good)), CodeBadSignature, "sig"},
		{"signature cut short", []byte(`{"signed":"ed25519","key":"portal","sig":"AAAA"}` + "\n" + string(good)), CodeBadSignature, "sig"},
		{"another algorithm", []byte(`{"signed":"rsa","key":"portal","sig":"AAAA"}` + "\n" + string(good)), CodeBadSignature, "signed"},
		{"no newline after the envelope", []byte(`{"signed":"ed25519","key":"portal","sig":"AAAA"}` + string(good)), CodeMalformed, "signed"},
		{"an unknown envelope field", []byte(`{"signed":"ed25519","key":"portal","sig":"AAAA","x":1}` + "\n" + string(good)), CodeMalformed, "signed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := a.Apply(tc.payload)
			if ack.Status != StatusRefused || ack.Error == nil || ack.Error.Code != tc.code || ack.Error.Path != tc.path {
				t.Fatalf("got %s %+v, want refused %s at %q", ack.Status, ack.Error, tc.code, tc.path)
			}
			if ack.Received != 0 || s.Revision() != 0 {
				t.Errorf("received %d, revision %d: a refused signature must leave the changeset unread", ack.Received, s.Revision())
			}
		})
	}
	ack := a.Apply(Sign(portal, "portal", "gw1", good))
	if ack.Status != StatusApplied || ack.Revision != 1 {
		t.Fatalf("signed by the portal: got %s %+v, want applied at 1", ack.Status, ack.Error)
	}
	// Error paths point into the changeset, after the envelope.
	ack = a.Apply(Sign(portal, "portal", "gw1", []byte(`{"revision":2,"base":1,"ops":[{"op":"pin.set","user":"u2","pin":"12"}]}`)))
	if ack.Error == nil || ack.Error.Code != CodeInvalid || ack.Error.Path != "ops[0].pin" {
		t.Errorf("a bad op in a signed changeset: got %+v, want invalid at ops[0].pin", ack.Error)
	}
}

// TestSignedAcceptedWithoutKeys: a gateway without keys takes signed
// changesets too, so a portal can sign before its gateways check.
func TestSignedAcceptedWithoutKeys(t *testing.T) {
	a, _, _ := newApplier(t)
	p := Sign(testKey("portal"), "portal", "gw1", encode(t, Changeset{Revision: 1, Ops: seedOps}))
	if ack := a.Apply(p); ack.Status != StatusApplied {
		t.Fatalf("got %s %+v, want applied", ack.Status, ack.Error)
	}
}

func TestNewApplierNeedsTheGatewayForKeys(t *testing.T) {
	keys, _ := NewKeyring(map[string]ed25519.PublicKey{"portal": testKey("portal").Public().(ed25519.PublicKey)})
	if _, err := NewApplier(nil, Config{Keys: keys}); err == nil {
		t.Error("NewApplier with keys and no gateway id: got no error")
	}
}

func TestParsePublicKey(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"raw 32 bytes", "t+zClrK+MjHrAUr0p3OEZL0ye8KGmiKV3LuoXi37mFI=", true},
		{"SubjectPublicKeyInfo", "MCowBQYDK2VwAyEAt+zClrK+MjHrAUr0p3OEZL0ye8KGmiKV3LuoXi37mFI=", true},
		{"not base64", "not a key!", false},
		{"too short", "AAAA", false},
		{"an RSA key", "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMyD1pBK4FPj2xKsxnDAWjjvhRZLXBnWsMzo3wkl2pw6Xi9i3oMbLx3gXKPSg1VY0uh4ixUnb9rJRD7hn6RHbxsCAwEAAQ==", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if tc.ok && !bytes.Equal(k, testDocsKey()) {
				t.Errorf("got key %x", k)
			}
		})
	}
}

// testDocsKey is the example key of docs/sync.md.
func testDocsKey() ed25519.PublicKey {
	seed := sha256.Sum256([]byte("lintel docs example key"))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// TestResetRecoversFromPoison is the recovery path: a table whose revision
// no changeset can follow (put there before signatures were required) is
// reset, keeping the table, and the portal's snapshot applies again.
func TestResetRecoversFromPoison(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	if err := s.Update(func(tx *store.Tx) error { tx.SetRevision(math.MaxUint64); return nil }); err != nil {
		t.Fatal(err)
	}
	snap := []byte(`{"revision":5,"snapshot":true,"users":[]}`)
	if ack := a.Apply(snap); ack.Status != StatusDuplicate {
		t.Fatalf("before the reset: got %s, want duplicate (the poisoned state)", ack.Status)
	}
	if _, _, err := a.Reset(math.MaxUint64); err != nil {
		t.Errorf("a reset to the current revision: %v", err)
	}
	from, ack, err := a.Reset(3)
	if err != nil || from != math.MaxUint64 || ack.Revision != 3 || ack.Status != StatusCurrent || ack.Counts.Users != 2 {
		t.Fatalf("Reset(3) = %d, %+v, %v; want from 2^64-1, current at 3 with the 2 users kept", from, ack, err)
	}
	if _, _, err := a.Reset(4); !errors.Is(err, ErrResetAhead) {
		t.Errorf("Reset(4) at 3: got %v, want ErrResetAhead", err)
	}
	if ack := a.Apply(encode(t, Changeset{Revision: 3, Base: 2})); ack.Status != StatusDuplicate {
		t.Errorf("a changeset at the reset revision: got %s, want duplicate", ack.Status)
	}
	if ack := a.Apply(snap); ack.Status != StatusApplied || ack.Counts.Users != 0 || s.Revision() != 5 {
		t.Errorf("the portal's snapshot after the reset: got %s %+v at %d, want applied at 5", ack.Status, ack.Error, s.Revision())
	}
}

// FuzzOpenSigned: the envelope parser, fed any bytes, returns the
// changeset or a coded error, never panics, and never accepts what the
// key did not sign.
func FuzzOpenSigned(f *testing.F) {
	key := testKey("portal")
	keys, _ := NewKeyring(map[string]ed25519.PublicKey{"portal": key.Public().(ed25519.PublicKey)})
	good := []byte(`{"revision":1,"base":0,"ops":[]}`)
	f.Add(Sign(key, "portal", "gw1", good))
	f.Add(good)
	f.Add([]byte(`{"signed":"ed25519","key":"portal","sig":"AAAA"}` + "\n" + string(good)))
	f.Add([]byte(`{"signed":`))
	f.Add([]byte(`{"signed":"ed25519","key":"portal","sig":"` + strings.Repeat("A", 600)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		body, e := keys.open("gw1", payload)
		if e != nil {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %+v", e)
			}
			return
		}
		// Only good was ever signed, and Ed25519 cannot be forged.
		if !bytes.Equal(body, good) || !bytes.HasSuffix(payload, good) {
			t.Fatalf("accepted a payload the key did not sign: %q", payload)
		}
	})
}
