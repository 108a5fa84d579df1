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

// validate checks the [sync] table, each key on its own.
func (s SyncConfig) validate(p *problems) {
	seen := map[string]bool{}
	for i, entry := range s.PublicKeys {
		key := fmt.Sprintf("sync.public_keys[%d]", i)
		name, _, err := parsePublicKeyEntry(entry)
		switch {
		case err != nil:
			p.check(key, err)
		case seen[name]:
			p.add(key, "key name %q is used twice", name)
		}
		seen[name] = true
	}
}

// Keyring returns the keys as the changeset applier takes them; nil when
// there are none. The table has been validated.
func (s SyncConfig) Keyring() (*changeset.Keyring, error) {
	if len(s.PublicKeys) == 0 {
		return nil, nil
	}
	keys := make(map[string]ed25519.PublicKey, len(s.PublicKeys))
	for i, entry := range s.PublicKeys {
		name, pk, err := parsePublicKeyEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("sync.public_keys[%d]: %w", i, err)
		}
		keys[name] = pk
	}
	return changeset.NewKeyring(keys)
}

// parsePublicKeyEntry reads one "NAME:KEY" entry.
func parsePublicKeyEntry(entry string) (string, ed25519.PublicKey, error) {
	name, b64, ok := strings.Cut(entry, ":")
	if !ok {
		return "", nil, fmt.Errorf(`want "NAME:KEY", e.g. "portal-2026:t+zC…mFI=", got no ':'`)
	}
	if err := changeset.CheckKeyName(name); err != nil {
		return "", nil, err
	}
	pk, err := changeset.ParsePublicKey(b64)
	if err != nil {
		return "", nil, fmt.Errorf("%q: %w", name, err)
	}
	return name, pk, nil
}
