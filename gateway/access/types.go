package access

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// User is a person who may be granted access.
type User struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// ValidFrom and ValidTo bound when the user's credentials work. A zero
	// time leaves that side open.
	ValidFrom time.Time `json:"valid_from,omitzero"`
	ValidTo   time.Time `json:"valid_to,omitzero"`
	// Levels are the user's access levels, unioned: the doors they may
	// open and when. Empty means no door at all; a user created without
	// levels gets DefaultLevels.
	Levels []string `json:"levels"`
	// Override lets the user in during a lockdown and through a locked
	// door (still within their levels).
	Override bool `json:"override,omitempty"`
}

// UserFields says which of a user's optional fields a change sets. On an
// existing user the fields not set keep their values; on a new one they
// take their defaults: enabled, DefaultLevels, no override.
type UserFields uint8

// The optional fields of a user.
const (
	FieldEnabled UserFields = 1 << iota
	FieldLevels
	FieldOverride
	// AllFields sets every field from the user given.
	AllFields = FieldEnabled | FieldLevels | FieldOverride
)

// Validity says whether the user may be granted access at now: "" when they
// may, or the reason they may not (one of the Deny names).
func (u User) Validity(now time.Time) string {
	switch {
	case !u.Enabled:
		return NameDenyDisabled
	case !u.ValidFrom.IsZero() && now.Before(u.ValidFrom):
		return NameDenyNotYetValid
	case !u.ValidTo.IsZero() && !now.Before(u.ValidTo):
		return NameDenyExpired
	}
	return ""
}

// CheckID reports whether id can name a user or a credential: 1 to 64
// characters from letters, digits, '-', '_', '.', '@' and ':'. Ids appear in
// events, URLs and MQTT payloads, so nothing else is allowed.
func CheckID(id string) error {
	if id == "" {
		return invalidf("id is empty")
	}
	if len(id) > 64 {
		return invalidf("id is %d characters long, at most 64 allowed", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '@', c == ':':
		default:
			return invalidf("id %q has a character that is not allowed at offset %d", id, i)
		}
	}
	return nil
}

// MaxFormatLength bounds a card format name, in bytes.
const MaxFormatLength = 32

// CheckCardFormat checks the shape of a card format name: 1 to
// MaxFormatLength letters, digits, '-', '_' or '.'. A ':' would break the
// FORMAT:FACILITY:NUMBER form cards are keyed by. Whether the gateway can
// decode the format is the reader's business, not the table's.
func CheckCardFormat(f string) error {
	if f == "" {
		return invalidf("card format is empty")
	}
	if len(f) > MaxFormatLength {
		return invalidf("card format is %d characters long, at most %d allowed", len(f), MaxFormatLength)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return invalidf("card format %q has a character that is not allowed at offset %d", f, i)
		}
	}
	return nil
}

// CardKey is the normalised identity of a card: its Wiegand format and the
// facility code and card number decoded from it. Two reads of the same card
// on any reader configured for that format give equal keys.
type CardKey struct {
	Format   string `json:"format"`
	Facility uint32 `json:"facility"`
	Number   uint64 `json:"number"`
}

// String renders the key as FORMAT:FACILITY:NUMBER, the form the store keys
// credentials by.
func (k CardKey) String() string {
	return k.Format + ":" + strconv.FormatUint(uint64(k.Facility), 10) + ":" + strconv.FormatUint(k.Number, 10)
}

// ParseCardKey is the inverse of [CardKey.String].
func ParseCardKey(s string) (CardKey, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 || f[0] == "" {
		return CardKey{}, fmt.Errorf("card key %q: want FORMAT:FACILITY:NUMBER", s)
	}
	fac, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return CardKey{}, fmt.Errorf("card key %q: facility: %w", s, err)
	}
	num, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return CardKey{}, fmt.Errorf("card key %q: number: %w", s, err)
	}
	return CardKey{Format: f[0], Facility: uint32(fac), Number: num}, nil
}

// Credential is something a user presents at a reader. Lintel's readers
// present cards; the PIN is not a credential but a secret attached to the
// user (R1, R5).
type Credential struct {
	ID     string  `json:"id"`
	UserID string  `json:"user"`
	Type   string  `json:"type"` // always "card" today
	Card   CardKey `json:"card"`
}

// CredentialCard is the only credential type readers present today.
const CredentialCard = "card"

// Model is a reader model.
type Model string

// The reader models Lintel supports. Only the RPK40 has a keypad (R6).
const (
	ModelRPK40 Model = "RPK40"
	ModelRP10  Model = "RP10"
	ModelRP15  Model = "RP15"
	ModelRP40  Model = "RP40"
)

// Models lists the supported models in a stable order.
var Models = []Model{ModelRPK40, ModelRP10, ModelRP15, ModelRP40}

// HasKeypad reports whether the model can take PINs.
func (m Model) HasKeypad() bool { return m == ModelRPK40 }

// Known reports whether m is a supported model.
func (m Model) Known() bool {
	for _, k := range Models {
		if m == k {
			return true
		}
	}
	return false
}

// Mode is how a reader decides.
type Mode string

// Reader modes.
const (
	ModeCardOnly   Mode = "card_only"   // a known card grants; keys are ignored
	ModePINOnly    Mode = "pin_only"    // a PIN alone grants its owner; cards are refused
	ModeCardOrPIN  Mode = "card_or_pin" // either a known card or a PIN grants
	ModeCardAndPIN Mode = "card_and_pin"
)

// Modes lists the modes in a stable order.
var Modes = []Mode{ModeCardOnly, ModePINOnly, ModeCardOrPIN, ModeCardAndPIN}

// NeedsKeypad reports whether the mode takes PINs.
func (m Mode) NeedsKeypad() bool { return m != ModeCardOnly }

// Known reports whether m is a supported mode.
func (m Mode) Known() bool {
	for _, k := range Modes {
		if m == k {
			return true
		}
	}
	return false
}

// Defaults of [ReaderConfig] and [Lockout] fields left zero.
const (
	DefaultPINWindow       = 15 * time.Second // R8
	DefaultKeyTimeout      = 5 * time.Second
	DefaultLockoutAttempts = 5
	DefaultLockoutWindow   = 60 * time.Second
	DefaultLockoutDuration = 60 * time.Second
)

// ReaderConfig describes one reader to the engine.
type ReaderConfig struct {
	Name  string // required; appears in events and topics
	Door  string // the door the reader opens; required
	Model Model
	Mode  Mode
	// PINWindow is how long after a card a card_and_pin reader waits for
	// the PIN. Zero means DefaultPINWindow.
	PINWindow time.Duration
	// KeyTimeout drops a partial keypad entry after this pause between
	// keys. Zero means DefaultKeyTimeout.
	KeyTimeout time.Duration
	// Lockout limits wrong PINs. Zero fields take their defaults.
	Lockout Lockout
}

// Lockout is the brute-force protection of a keypad. After Attempts wrong
// PINs within Window at one reader, that reader's keypad refuses PINs for
// Duration; the same count per user locks that user's PIN everywhere.
type Lockout struct {
	Attempts int
	Window   time.Duration
	Duration time.Duration
}

func (l Lockout) withDefaults() Lockout {
	l.Attempts = cmp.Or(l.Attempts, DefaultLockoutAttempts)
	l.Window = cmp.Or(l.Window, DefaultLockoutWindow)
	l.Duration = cmp.Or(l.Duration, DefaultLockoutDuration)
	return l
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c ReaderConfig) WithDefaults() ReaderConfig {
	c.PINWindow = cmp.Or(c.PINWindow, DefaultPINWindow)
	c.KeyTimeout = cmp.Or(c.KeyTimeout, DefaultKeyTimeout)
	c.Lockout = c.Lockout.withDefaults()
	return c
}

// Validate checks c. Errors name the offending field, without a prefix: the
// caller adds where the reader came from.
func (c ReaderConfig) Validate() error {
	if err := CheckID(c.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := CheckID(c.Door); err != nil {
		return fmt.Errorf("door: %w", err)
	}
	if !c.Model.Known() {
		return fmt.Errorf("model: %q is not a known reader model (want one of %s)", c.Model, joinModels())
	}
	if !c.Mode.Known() {
		return fmt.Errorf("mode: %q is not a known mode (want one of %s)", c.Mode, joinModes())
	}
	if c.Mode.NeedsKeypad() && !c.Model.HasKeypad() {
		return fmt.Errorf("mode: %q needs a keypad reader (RPK40), got %s", c.Mode, c.Model)
	}
	if c.PINWindow < 0 || c.KeyTimeout < 0 || c.Lockout.Window < 0 || c.Lockout.Duration < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if c.Lockout.Attempts < 0 {
		return fmt.Errorf("lockout attempts must not be negative")
	}
	return nil
}

func joinModels() string {
	s := make([]string, len(Models))
	for i, m := range Models {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func joinModes() string {
	s := make([]string, len(Modes))
	for i, m := range Modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
