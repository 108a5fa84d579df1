package gateway

import (
	"strings"
	"testing"
)

const docsPublicKey = "t+zClrK+MjHrAUr0p3OEZL0ye8KGmiKV3LuoXi37mFI="

func TestSyncConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		err  string // empty: valid
	}{
		{"none", nil, ""},
		{"raw key", []string{"portal-2026:" + docsPublicKey}, ""},
		{"SubjectPublicKeyInfo", []string{"portal:MCowBQYDK2VwAyEA" + docsPublicKey}, ""},
		{"two keys", []string{"old:" + docsPublicKey, "new:MCowBQYDK2VwAyEA" + docsPublicKey}, ""},
		{"no name", []string{docsPublicKey}, `sync.public_keys[0]: want "NAME:KEY"`},
		{"bad name", []string{"portal 2026:" + docsPublicKey}, `sync.public_keys[0]: key name "portal 2026" must be`},
		{"name twice", []string{"p:" + docsPublicKey, "p:" + docsPublicKey}, `sync.public_keys[1]: key name "p" is used twice`},
		{"not base64", []string{"p:not-a-key"}, `sync.public_keys[0]: "p": public key: not base64`},
		{"too short", []string{"p:AAAA"}, `sync.public_keys[0]: "p": public key: 3 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p problems
			SyncConfig{PublicKeys: tc.keys}.validate(&p)
			err := p.err("lintel.toml", nil)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
			if tc.err != "" {
				return
			}
			k, err := SyncConfig{PublicKeys: tc.keys}.Keyring()
			if err != nil || k.Len() != len(tc.keys) {
				t.Errorf("Keyring: %d keys, %v; want %d", k.Len(), err, len(tc.keys))
			}
		})
	}
}

// TestSyncConfigInTheFile: the [sync] table is read and checked with the
// rest of lintel.toml, its errors naming the file.
func TestSyncConfigInTheFile(t *testing.T) {
	base := string(ExampleConfig())
	good := strings.Replace(base, "public_keys = []", `public_keys = ["portal-2026:`+docsPublicKey+`"]`, 1)
	c, err := ParseConfig("lintel.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sync.PublicKeys) != 1 {
		t.Errorf("public_keys: got %q", c.Sync.PublicKeys)
	}
	bad := strings.Replace(base, "public_keys = []", `public_keys = ["portal-2026"]`, 1)
	if _, err := ParseConfig("lintel.toml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "lintel.toml") || !strings.Contains(err.Error(), "sync.public_keys[0]: ") {
		t.Errorf("a bad key: got %v, want an error naming lintel.toml and sync.public_keys[0]", err)
	}
}
