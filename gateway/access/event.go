package access

import "time"

// Event is one line of the activity log (R11). The engine fills in what
// happened; the journal assigns Seq and ID when it appends the event.
//
// An event never carries a PIN or the keys pressed.
type Event struct {
	Seq  uint64    `json:"seq"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// ClockUntrusted is set when the gateway's clock was not yet
	// synchronised when the event happened (a Pi without an RTC boots in
	// 1970 until NTP answers); Time is then only an order, not a date.
	ClockUntrusted bool `json:"clock_untrusted,omitempty"`
	// Type is a stable machine-readable kind, e.g. "access.denied".
	Type string `json:"type"`
	// Name is the activity-log text, e.g. "Deny Access - Wrong PIN".
	Name       string `json:"name"`
	Reader     string `json:"reader,omitempty"`
	Door       string `json:"door,omitempty"`
	User       string `json:"user,omitempty"`
	Credential string `json:"credential,omitempty"`
	// Actor is who made a change an event records (an audit event, a
	// test pulse, an override): an API token's name, "portal", or
	// "local-broker:<username>".
	Actor string `json:"actor,omitempty"`
	// Detail is a short, secret-free explanation for technicians.
	Detail string `json:"detail,omitempty"`
}

// Event types. They are a contract: the API, MQTT consumers and the portal
// filter on them.
const (
	TypeGranted   = "access.granted"
	TypeDenied    = "access.denied"
	TypeLockout   = "reader.lockout"
	TypeUnlocked  = "reader.unlocked"
	TypeUserLock  = "user.lockout"
	TypeAwaitPIN  = "access.awaiting_pin"
	TypeReaderErr = "reader.fault"
	TypeDuress    = "alarm.duress"
	TypeFirstIn   = "door.first_in"
	// TypeAudit is a change to the user table or the policy, naming who
	// made it (see the api and sync packages).
	TypeAudit = "audit.change"
)

// Activity-log names. R9 and R10 fix the wording of the two wrong-PIN denials;
// every grant starts with "Grant Access".
const (
	NameGrantCard       = "Grant Access - Card"
	NameGrantPIN        = "Grant Access - PIN"
	NameGrantCardAndPIN = "Grant Access - Card and PIN"

	NameDenyWrongPIN        = "Deny Access - Wrong PIN"          // R9
	NameDenyCardPINNotFound = "Deny Access - Card/PIN Not Found" // R10
	NameDenyCardNotFound    = "Deny Access - Card Not Found"
	NameDenyDisabled        = "Deny Access - User Disabled"
	NameDenyNotYetValid     = "Deny Access - User Not Yet Valid"
	NameDenyExpired         = "Deny Access - User Expired"
	NameDenyNoPIN           = "Deny Access - No PIN Assigned"
	NameDenyPINTimeout      = "Deny Access - PIN Timeout"
	NameDenyCardNotAllowed  = "Deny Access - Card Not Accepted At PIN-Only Reader"
	NameDenyPINNotAllowed   = "Deny Access - PIN Not Accepted At This Reader"
	NameDenyPINWithoutCard  = "Deny Access - PIN Without Card"
	NameDenyKeypadLocked    = "Deny Access - Keypad Locked"
	NameDenyUserLocked      = "Deny Access - User Locked Out"
	NameDenyKeypadError     = "Deny Access - Keypad Error"

	NameAwaitingPIN    = "Card Accepted - Waiting For PIN"
	NameKeypadLocked   = "Keypad Locked - Too Many Wrong PINs"
	NameKeypadUnlocked = "Keypad Unlocked"
	NameUserLocked     = "User Locked Out - Too Many Wrong PINs"
	// NameKeypadsLocked is the gateway-wide lockout of every keypad (see
	// GuessBudget).
	NameKeypadsLocked   = "Keypads Locked - Too Many Wrong PINs Across Readers"
	NameKeypadsUnlocked = "Keypads Unlocked"
)
