package changeset

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
)

// Signed changesets. The portal may sign each changeset with an Ed25519
// key; a gateway configured with the portal's public keys applies only
// changesets that one of them signed. The envelope is a line of its own in
// front of the changeset's bytes, so it travels unchanged over MQTT 3.1.1
// (which has no message properties) and HTTP alike, and the changeset is
// read exactly as it was signed, with no JSON canonicalisation:
//
//	{"signed":"ed25519","key":"portal-2026","sig":"<base64 of 64 bytes>"}\n
//	{"revision":12,"base":11,"ops":[...]}
//
// The signature is over [SignedMessage]: a context string, the gateway's
// id and the SHA-256 of the changeset's bytes, so a changeset signed for
// one gateway is refused by every other, and nothing but the changeset
// bytes after the newline can be changed without breaking it.

// SignedPrefix starts every signed payload; a changeset itself never
// starts with it, since "signed" is not a changeset field.
const SignedPrefix = `{"signed":`

// SignatureContext opens every signed message; it names what the
// signature is for and the version of the scheme.
const SignatureContext = "lintel.changeset.v1"

// MaxSignatureLine bounds the envelope line, newline included. A
// payload may be this much larger than [MaxPayload] when it is signed.
const MaxSignatureLine = 512

// keyNameRe is the rule for a key's name: what the envelope's "key" and
// the config name it by.
var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckKeyName reports whether name may name a public key: 1-64 letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func CheckKeyName(name string) error {
	if !keyNameRe.MatchString(name) {
		return fmt.Errorf("key name %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ParsePublicKey reads an Ed25519 public key written in standard base64:
// either its 32 bytes, or the DER of its SubjectPublicKeyInfo (what
// `openssl pkey -pubout` writes between the PEM lines, "MCowBQYDK2VwAyEA...").
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("public key: not base64: %v", err)
	}
	switch {
	case len(b) == ed25519.PublicKeySize:
		return ed25519.PublicKey(b), nil
	case len(b) > ed25519.PublicKeySize:
		k, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("public key: neither 32 bytes nor a SubjectPublicKeyInfo: %v", err)
		}
		pk, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: a %T, want Ed25519", k)
		}
		return pk, nil
	}
	return nil, fmt.Errorf("public key: %d bytes, want the 32 bytes of an Ed25519 key", len(b))
}

// Keyring is the set of public keys a gateway accepts signatures of, by
// name. It is immutable and safe for concurrent use. The zero Keyring, or
// nil, holds no key: changesets need no signature.
type Keyring struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyring returns a keyring of the given keys, by name.
func NewKeyring(keys map[string]ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		if err := CheckKeyName(name); err != nil {
			return nil, err
		}
		if len(keys[name]) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: %d bytes, want %d", name, len(keys[name]), ed25519.PublicKeySize)
		}
		k.keys[name] = slices.Clone(keys[name])
	}
	return k, nil
}

// Len is the number of keys; zero means changesets need no signature.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// Names lists the keys' names in order.
func (k *Keyring) Names() []string {
	if k == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(k.keys))
}

// SignedMessage is what a signature covers:
//
//	lintel.changeset.v1 \n <gateway id> \n <SHA-256 of the changeset, lower-case hex>
//
// with single newlines ("\n") between the three and none after the last.
func SignedMessage(gatewayID string, changeset []byte) []byte {
	sum := sha256.Sum256(changeset)
	return []byte(SignatureContext + "\n" + gatewayID + "\n" + hex.EncodeToString(sum[:]))
}

// Sign returns changeset signed with priv, under the key name key, for
// gateway gatewayID: the envelope line and the changeset's bytes. Portals
// written in Go and tests use it.
func Sign(priv ed25519.PrivateKey, key, gatewayID string, changeset []byte) []byte {
	sig := ed25519.Sign(priv, SignedMessage(gatewayID, changeset))
	h, _ := json.Marshal(signedHeader{Signed: "ed25519", Key: key, Sig: base64.StdEncoding.EncodeToString(sig)})
	out := make([]byte, 0, len(h)+1+len(changeset))
	out = append(append(append(out, h...), '\n'), changeset...)
	return out
}

// signedHeader is the envelope line.
type signedHeader struct {
	Signed string `json:"signed"`
	Key    string `json:"key"`
	Sig    string `json:"sig"`
}

// IsSigned reports whether payload is in the signed envelope.
func IsSigned(payload []byte) bool { return bytes.HasPrefix(payload, []byte(SignedPrefix)) }

// open returns the changeset inside payload. With keys, payload must be
// signed by one of them for gatewayID; without, a signed payload's
// envelope is checked for its shape and removed, and an unsigned one is
// the changeset itself.
func (k *Keyring) open(gatewayID string, payload []byte) ([]byte, *Error) {
	if !IsSigned(payload) {
		if k.Len() > 0 {
			return nil, &Error{Code: CodeUnsigned, Message: fmt.Sprintf(
				"the gateway accepts only changesets signed by one of its keys (%s); this one is not signed", strings.Join(k.Names(), ", "))}
		}
		return payload, nil
	}
	nl := bytes.IndexByte(payload[:min(len(payload), MaxSignatureLine)], '\n')
	if nl < 0 {
		return nil, &Error{Code: CodeMalformed, Path: "signed", Message: fmt.Sprintf(
			"the signature line does not end with a newline within %d bytes", MaxSignatureLine)}
	}
	var h signedHeader
	if err := json.Unmarshal(payload[:nl], &h, json.RejectUnknownMembers(true)); err != nil {
		return nil, &Error{Code: CodeMalformed, Path: "signed", Message: "the signature line is not " +
			`{"signed":"ed25519","key":"...","sig":"..."}: ` + err.Error()}
	}
	body := payload[nl+1:]
	if h.Signed != "ed25519" {
		return nil, &Error{Code: CodeBadSignature, Path: "signed", Message: fmt.Sprintf("signature algorithm %q: only \"ed25519\" is known", h.Signed)}
	}
	sig, err := base64.StdEncoding.DecodeString(h.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, &Error{Code: CodeBadSignature, Path: "sig", Message: fmt.Sprintf(
			"the signature must be the standard base64 of %d bytes", ed25519.SignatureSize)}
	}
	if k.Len() == 0 {
		return body, nil
	}
	pub, ok := k.keys[h.Key]
	if !ok {
		return nil, &Error{Code: CodeBadSignature, Path: "key", Message: fmt.Sprintf(
			"key %q is not one of the gateway's keys (%s)", truncate(h.Key, 64), strings.Join(k.Names(), ", "))}
	}
	if !ed25519.Verify(pub, SignedMessage(gatewayID, body), sig) {
		return nil, &Error{Code: CodeBadSignature, Path: "sig", Message: fmt.Sprintf(
			"the signature does not verify with key %q for gateway %q: the changeset was changed, signed for another gateway, or by another key", h.Key, gatewayID)}
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
