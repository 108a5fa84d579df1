package api

import (
	"context"
	"errors"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// Backend is what the API serves: the appliance's user table, journal,
// sync apply and doors. Implementations must be safe for concurrent use; the
// server calls them from one goroutine per request.
//
// Errors the API acts on: access.ErrNotFound (404), access.ErrCredentialInUse,
// access.ErrPINInUse and access.ErrInUse (409), access.ErrPINLength,
// access.ErrPINNotDigits, access.ErrPINTrivial and access.ErrPINSpaceExhausted
// (422), access.ErrInvalid and access.ErrBuiltIn (422, with the field of an
// access.FieldError), access.ErrUnknownReader (404) and [ErrInvalid] (422),
// all matched with errors.Is or errors.As. Any other
// error is a 500 whose text is logged but not returned. No error may contain
// a PIN or a key press.
type Backend interface {
	// Status is a snapshot of the appliance for the status page and
	// GET /api/v1/status. The server fills in Version and Uptime when
	// they are zero.
	Status() Status
	// Healthy reports whether the decision loop is alive (GET /healthz).
	Healthy() bool

	// Every change names its actor (the token's name): the gateway
	// journals an audit event naming them for it, never a PIN.

	// PutUser creates or updates a user and reports whether it was new:
	// the name and validity, and the fields set names (access.UserFields;
	// the others keep their values, or take their defaults on a new
	// user). The user's PIN and credentials are kept.
	PutUser(actor string, u access.User, set access.UserFields) (created bool, err error)
	// User returns a user with its credentials; never the PIN.
	User(id string) (UserView, error)
	// DeleteUser removes a user with its PIN and credentials.
	DeleteUser(actor, id string) error
	// SetPIN gives a user a custom PIN (R1-R3).
	SetPIN(actor, userID, pin string) error
	// GeneratePIN gives a user a fresh random PIN of length digits (R4)
	// and returns it; this is the only time the PIN leaves the backend.
	GeneratePIN(actor, userID string, length int) (string, error)
	// ClearPIN removes a user's PIN; clearing an absent PIN is not an error.
	ClearPIN(actor, userID string) error
	// AddCredential enrols a card for a user. An empty c.ID asks the
	// backend to choose one; the stored credential is returned. A card
	// no reader of the gateway can present is refused with an
	// *access.FieldError naming "card.format", "card.facility" or
	// "card.number" (the rule is gpio/wiegand's).
	AddCredential(actor, userID string, c access.Credential) (access.Credential, error)
	// ListUsers calls fn with the users whose ids sort after after ("":
	// from the first), in id order, with their credentials, until fn
	// returns false or the users run out. It must not hold the table in
	// memory to do so: the API pages through it.
	ListUsers(after string, fn func(UserView) bool) error
	// RemoveCredential removes one credential by its id and journals
	// who did. An unknown id wraps access.ErrNotFound.
	RemoveCredential(actor, id string) error
	// EnrolCard waits for the next card a reader reads (a frame that
	// decoded, parity and all) and enrols it for userID, as AddCredential
	// does; that frame is not decided as an access attempt. It returns
	// ctx's error when ctx ends first, access.ErrNotFound (at once) for an
	// unknown user, access.ErrUnknownReader for an unknown reader and an
	// error wrapping access.ErrInUse when the reader already waits for
	// another enrolment.
	EnrolCard(ctx context.Context, actor, userID, reader string) (access.Credential, error)
	// Export returns the whole table (users with their cards, and the
	// policy) as a snapshot changeset (docs/sync.md) without a single
	// PIN, and the ids of the users who hold one.
	Export() (snapshot []byte, withPIN []string, err error)
	// Import replaces the whole table with a snapshot changeset (an
	// export's), keeping the sync revision, and journals who did. A user
	// the snapshot gives no PIN keeps the PIN this gateway holds under
	// the same id, if any. A snapshot that is not acceptable wraps
	// [ErrInvalid] with a message naming where.
	Import(actor string, snapshot []byte) (ImportResult, error)

	PolicyBackend

	// Events returns up to limit journal entries with Seq > after, in
	// order.
	Events(after uint64, limit int) ([]access.Event, error)
	// WaitEvents blocks until an entry with Seq > after exists or ctx is
	// done, and returns ctx.Err() in the second case.
	WaitEvents(ctx context.Context, after uint64) error

	// HandleChanges applies a changeset posted by actor ("portal", or an
	// admin token's name: who the gateway's audit names) and returns its
	// ack, once it is made, with the ack's status and code; the API
	// chooses the HTTP status from those ([SyncHTTPStatus]). It owns the
	// payload's validation; the API passes the bytes through unread. When
	// ctx ends first it returns ctx's error, and the changeset may still
	// be applied.
	HandleChanges(ctx context.Context, actor string, payload []byte) (SyncResult, error)
	// CurrentAck is the apply result of the current revision.
	CurrentAck() []byte
	// ResetSync sets the sync revision to revision, keeping the table, and
	// journals who did (actor, an admin token's name); it returns the
	// current ack after the reset. A revision above the current one wraps
	// [ErrInvalid].
	ResetSync(ctx context.Context, actor string, revision uint64) (ack []byte, err error)

	// PulseDoor opens a door's strike for its configured pulse, as a
	// technician's test, and journals who did. Unknown doors wrap
	// access.ErrNotFound.
	PulseDoor(actor, door string) error
}

// Sim feeds simulated hardware. It is nil when the simulator is off, and
// then the /api/v1/sim routes do not exist. Implementations must be safe for
// concurrent use. Input goes through the same path as hardware: the
// simulator turns it into Wiegand pulses and door contact edges. Unknown
// readers and doors wrap access.ErrNotFound (or are access.ErrUnknownReader);
// input the reader's format cannot carry wraps [ErrInvalid].
type Sim interface {
	// Card presents a card of a format (e.g. "H10301") at a reader.
	Card(reader, format string, facility uint32, number uint64) error
	// Bits sends a raw frame, one '0' or '1' per bit.
	Bits(reader, bits string) error
	// Keys presses keys '0'-'9', '*' and '#' on a reader's keypad.
	Keys(reader, keys string) error
	// DoorContact opens or closes a door's contact.
	DoorContact(door string, open bool) error
}

// ImportResult says what an import restored.
type ImportResult struct {
	Users       int `json:"users"`
	Credentials int `json:"credentials"`
	// PINs is how many users hold a PIN after the import: those this
	// gateway already knew, under the same id, with one.
	PINs int `json:"pins"`
	// Schedules, Holidays, Levels, DoorPolicies and Overrides count the
	// policy's objects.
	Schedules    int `json:"schedules"`
	Holidays     int `json:"holidays"`
	Levels       int `json:"levels"`
	DoorPolicies int `json:"door_policies"`
	Overrides    int `json:"overrides"`
}

// ErrInvalid marks input the API could not check itself, such as a card
// number too large for its format. The API answers 422 with the error's
// text, so the text must say what was wrong and where.
var ErrInvalid = errors.New("invalid")

// UserView is a user as the API shows it: never the PIN, only whether there
// is one.
type UserView struct {
	User        access.User
	HasPIN      bool
	Credentials []access.Credential
}

// Status is a snapshot of the appliance.
type Status struct {
	GatewayID string `json:"gateway_id"`
	Version   string `json:"version"`
	// Started is when the appliance started; Uptime is filled in by the
	// server from its clock when zero.
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	// ClockTrusted is false until the clock has been synchronised since
	// boot, and while it reads earlier than the latest time known to be
	// right (a Pi without an RTC boots at an old time or in 1970); what the
	// time rules do meanwhile is UntrustedClock (docs/access.md).
	ClockTrusted   bool   `json:"clock_trusted"`
	UntrustedClock string `json:"untrusted_clock,omitempty"`
	// Timezone is the IANA zone schedules are read in; LocalTime the
	// gateway's time in it, RFC 3339 with the offset.
	Timezone  string `json:"timezone"`
	LocalTime string `json:"local_time"`
	// PolicyWarnings lists parts of the stored policy that do not fit the
	// configuration (a level naming a door since removed): left out.
	PolicyWarnings []string `json:"policy_warnings,omitempty"`
	// PINGuessing is how likely a day of PIN guessing at the keypads is to
	// find some user's PIN (docs/access.md, "Keypad guessing").
	PINGuessing access.GuessRisk `json:"pin_guessing"`
	// PINGuessingWarn is set when that is 1% or more.
	PINGuessingWarn bool           `json:"pin_guessing_warn"`
	Doors           []DoorStatus   `json:"doors"`
	Readers         []ReaderStatus `json:"readers"`
	Uplink          UplinkStatus   `json:"uplink"`
	Journal         JournalStatus  `json:"journal"`
	Storage         StorageStatus  `json:"storage"`
	Sync            SyncStatus     `json:"sync"`
	Broker          BrokerStatus   `json:"broker"`
}

// DoorStatus is one door.
type DoorStatus struct {
	Name   string `json:"name"`
	Locked bool   `json:"locked"`
	Open   bool   `json:"open"`
	// Alarms are short names of active alarms, e.g. "held_open",
	// "forced_open".
	Alarms []string `json:"alarms"`
	// RelayEnergised says whether the strike relay is driven now (unlocked
	// for a fail-secure strike, locked for a fail-safe maglock).
	RelayEnergised bool `json:"relay_energised"`
	// Indicator is the pattern on the reader's LEDs and beeper: "idle",
	// "grant", "deny", "pin_wait" or "lockout".
	Indicator string `json:"indicator,omitempty"`
	// UnlockedUntil is when a timed unlock in progress (a grant, a test
	// pulse, request-to-exit) ends; zero when there is none.
	UnlockedUntil time.Time `json:"unlocked_until,omitzero"`
	// Mode is the door's effective mode (a reader mode, "unlocked",
	// "locked" or "lockdown"); ModeSource says from where ("override",
	// "schedule", "reader"), ModeReason says it in words. Override and
	// Schedule name the object in force, OverrideUntil the override's end
	// (zero: until cleared); AwaitingFirstIn the level whose holder must
	// come first; ClockHeld says the untrusted clock left out a schedule or
	// an override's end (access.DoorState). NextChange is when the mode
	// next changes by itself, to NextMode.
	Mode            access.DoorMode `json:"mode"`
	ModeSource      string          `json:"mode_source"`
	ModeReason      string          `json:"mode_reason"`
	Override        string          `json:"override,omitempty"`
	OverrideUntil   time.Time       `json:"override_until,omitzero"`
	Schedule        string          `json:"schedule,omitempty"`
	AwaitingFirstIn string          `json:"awaiting_first_in,omitempty"`
	ClockHeld       bool            `json:"clock_held,omitempty"`
	NextChange      time.Time       `json:"next_change,omitzero"`
	NextMode        access.DoorMode `json:"next_mode,omitempty"`
}

// ReaderStatus is one reader with the installer's frame inspector.
type ReaderStatus struct {
	Name  string       `json:"name"`
	Door  string       `json:"door"`
	Model access.Model `json:"model"`
	Mode  access.Mode  `json:"mode"`
	// LastFrame is the last Wiegand frame the reader sent, nil before
	// the first.
	LastFrame *Frame `json:"last_frame,omitempty"`
	// Rejects counts frames rejected, by cause (e.g. "parity",
	// "length", "timing").
	Rejects map[string]uint64 `json:"rejects"`
	// Fault is the reader's current fault, empty when healthy.
	Fault string `json:"fault,omitempty"`
	// Enrolling names the user an enrolment waits at this reader for
	// (POST /api/v1/users/{id}/credentials/enrol): the next card read
	// here is theirs, and is not decided.
	Enrolling string `json:"enrolling,omitempty"`
}

// Frame is one Wiegand frame as the framer saw it.
type Frame struct {
	Time time.Time `json:"time"`
	// Bits is the frame, one '0' or '1' per bit. The server blanks it
	// for keypad frames (Keypad set, or 4 and 8 bits long), whose bits
	// are key presses.
	Bits     string `json:"bits"`
	Length   int    `json:"length"`
	ParityOK bool   `json:"parity_ok"`
	// Keypad marks a key-press frame.
	Keypad bool `json:"keypad,omitempty"`
	// Format is the decoded format ("H10301"), empty when none matched.
	Format   string `json:"format,omitempty"`
	Facility uint32 `json:"facility,omitempty"`
	Number   uint64 `json:"number,omitempty"`
	// Error says why the frame was rejected, empty when it was not.
	Error string `json:"error,omitempty"`
}

// redact blanks the bits of key-press frames: a key press must never leave
// the gateway.
func (f *Frame) redact() {
	if f.Keypad || f.Length == 4 || f.Length == 8 {
		f.Keypad = true
		f.Bits = ""
		f.Format, f.Facility, f.Number = "", 0, 0
	}
}

// UplinkStatus is the cloud link.
type UplinkStatus struct {
	Configured bool      `json:"configured"`
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since,omitzero"`
	// Cursor is the last journal seq the cloud broker acknowledged.
	Cursor    uint64 `json:"cursor"`
	LastError string `json:"last_error,omitempty"`
}

// JournalStatus is the event journal.
type JournalStatus struct {
	First       uint64 `json:"first"`
	Last        uint64 `json:"last"`
	Count       uint64 `json:"count"`
	Undelivered uint64 `json:"undelivered"`
	// Pending events wait in memory for the disk; Lost were dropped from
	// memory, never written, since the gateway started (a full disk).
	Pending int    `json:"pending"`
	Lost    uint64 `json:"lost"`
}

// StorageStatus is the disk under the data directory.
type StorageStatus struct {
	// Full is true while the gateway refuses writes for lack of space:
	// doors decide from memory and events wait in memory. Fault says
	// why, for people.
	Full  bool      `json:"full"`
	Since time.Time `json:"since,omitzero"`
	Fault string    `json:"fault,omitempty"`
	// FreeBytes is the free space as last measured; writes stop below
	// MinFreeBytes and resume at twice it.
	FreeBytes    uint64 `json:"free_bytes"`
	MinFreeBytes uint64 `json:"min_free_bytes"`
}

// SyncStatus is the portal sync state.
type SyncStatus struct {
	Revision uint64 `json:"revision"`
	Digest   string `json:"digest,omitempty"`
}

// BrokerStatus is the embedded MQTT broker.
type BrokerStatus struct {
	Clients int `json:"clients"`
}
