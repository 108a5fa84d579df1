package gateway

import (
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/lintel-access/lintel/sync/changeset"
)

// SyncConfig is the [sync] table: whose changesets the gateway applies.
type SyncConfig struct {
	// PublicKeys are the portal's Ed25519 public keys, each "NAME:KEY":
	// the name a signed changeset gives in its envelope, and the key in
	// standard base64, of its 32 bytes or of its SubjectPublicKeyInfo
	// (the body of `openssl pkey -pubout`). With at least one key, every
	// changeset must be signed by one of them, whatever transport brings
	// it (docs/sync.md, "Signed changesets"). Zero: changesets need no
	// signature, and anyone who may publish on sync/changes or hold a
	// portal token can change the table.
	PublicKeys []string `toml:"public_keys"`
}

// Validate checks the [sync] table; errors name the key.
func (s SyncConfig) Validate() error {
	_, err := s.keys()
	return err
}

// Keyring returns the keys as the changeset applier takes them; nil when
// there are none.
func (s SyncConfig) Keyring() (*changeset.Keyring, error) {
	keys, err := s.keys()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return changeset.NewKeyring(keys)
}

func (s SyncConfig) keys() (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(s.PublicKeys))
	for i, entry := range s.PublicKeys {
		key := fmt.Sprintf("sync.public_keys[%d]", i)
		name, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf(`%s: want "NAME:KEY", e.g. "portal-2026:t+zC…mFI=", got no ':'`, key)
		}
		if err := changeset.CheckKeyName(name); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := keys[name]; dup {
			return nil, fmt.Errorf("%s: key name %q is used twice", key, name)
		}
		pk, err := changeset.ParsePublicKey(b64)
		if err != nil {
			return nil, fmt.Errorf("%s (%q): %w", key, name, err)
		}
		keys[name] = pk
	}
	return keys, nil
}
