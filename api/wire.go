package api

import (
	"encoding/json"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// The JSON bodies of REST v1. They are the contract with the CLI, the portal
// and outside tests; the client package uses them as they are.

// ErrorDoc is every error answer: {"error":{"code":"...","message":"..."}}.
type ErrorDoc struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the code and message of an error answer. Code is stable and
// machine-readable (see the Code constants); Message says what was wrong and
// where, for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// UserBody is the body of PUT /api/v1/users/{id}. ValidFrom and ValidTo
// are optional RFC 3339 times. Enabled, Levels and Override are optional:
// a new user without them is enabled, on the level "all" and not an
// override user; an existing user keeps theirs. Levels [] means no door.
type UserBody struct {
	Name      string    `json:"name"`
	Enabled   *bool     `json:"enabled,omitempty"`
	ValidFrom string    `json:"valid_from,omitempty"`
	ValidTo   string    `json:"valid_to,omitempty"`
	Levels    *[]string `json:"levels,omitempty"`
	Override  *bool     `json:"override,omitempty"`
}

// UserDoc is a user as GET /api/v1/users/{id} and PUT answer it.
type UserDoc struct {
	access.User
	HasPIN      bool                `json:"has_pin"`
	Credentials []access.Credential `json:"credentials"`
}

// PINBody is the body of PUT /api/v1/users/{id}/pin: exactly one of Length
// (generate a PIN of that many digits) and PIN (a custom PIN).
type PINBody struct {
	Length *int    `json:"length,omitempty"`
	PIN    *string `json:"pin,omitempty"`
}

// PINDoc answers a PIN change: the PIN, this once.
type PINDoc struct {
	PIN string `json:"pin"`
}

// CredentialBody is the body of POST /api/v1/users/{id}/credentials. Type
// defaults to "card"; ID is chosen by the gateway when empty.
type CredentialBody struct {
	ID       string  `json:"id,omitempty"`
	Type     string  `json:"type,omitempty"`
	Format   string  `json:"format"`
	Facility *uint32 `json:"facility"`
	Number   *uint64 `json:"number"`
}

// EventPage answers GET /api/v1/events: the events and the seq to ask after
// next time (the last one returned, or the request's after when none was).
type EventPage struct {
	Events []access.Event `json:"events"`
	Next   uint64         `json:"next"`
}

// SimCardBody is the body of POST /api/v1/sim/readers/{reader}/card: either
// a card (Format defaults to "H10301") or raw Bits.
type SimCardBody struct {
	Format   string  `json:"format,omitempty"`
	Facility *uint32 `json:"facility,omitempty"`
	Number   *uint64 `json:"number,omitempty"`
	Bits     string  `json:"bits,omitempty"`
}

// SimKeysBody is the body of POST /api/v1/sim/readers/{reader}/keys.
type SimKeysBody struct {
	Keys string `json:"keys"`
}

// SimDoorBody is the body of POST /api/v1/sim/doors/{door}/contact.
type SimDoorBody struct {
	Open *bool `json:"open"`
}

// Error codes. They are a contract: clients branch on them.
const (
	CodeUnauthorized       = "unauthorized"         // 401: no credentials, or not valid ones
	CodeForbidden          = "forbidden"            // 403: the role may not do this
	CodeTooManyAttempts    = "too_many_attempts"    // 429: bad tokens or session cookies from this address; wait
	CodeNotFound           = "not_found"            // 404: no such route, user, reader or door
	CodeMethodNotAllowed   = "method_not_allowed"   // 405
	CodeInvalidBody        = "invalid_body"         // 400: not JSON, wrong types, unknown, duplicate or wrong-case fields, invalid UTF-8
	CodeInvalidRequest     = "invalid_request"      // 400: a bad path or query parameter
	CodeBodyTooLarge       = "body_too_large"       // 413
	CodeUnsupportedMedia   = "unsupported_media"    // 415: a body that is not application/json
	CodeInvalid            = "invalid"              // 422: well-formed but not acceptable
	CodeInvalidPIN         = "invalid_pin"          // 422: against the PIN rules (R2, R4)
	CodePINInUse           = "pin_in_use"           // 409: another user holds that PIN (R3)
	CodeCredentialInUse    = "credential_in_use"    // 409: the card is already enrolled
	CodeInUse              = "in_use"               // 409: a schedule or level that others still name
	CodeCSRF               = "csrf"                 // 403: a cookie request without its CSRF token
	CodeInternal           = "internal"             // 500: see the gateway's log
	CodeTooManyStreams     = "too_many_streams"     // 503: every event stream slot is taken; 429: every one of this token's
	CodeTooManyConnections = "too_many_connections" // 503: the gateway has as many connections open as it takes
	CodeUnhealthy          = "unhealthy"            // 503 from /healthz: the decision loop is not alive
	CodeUnknownHost        = "unknown_host"         // 421: the Host header does not name this gateway
	CodeNoCard             = "no_card"              // 408: no card was read at the reader while an enrolment waited
)

// UserPage answers GET /api/v1/users: up to limit users in id order, and
// the id to ask after for the next page ("" when there is none).
type UserPage struct {
	Users []UserDoc `json:"users"`
	Next  string    `json:"next"`
}

// EnrolBody is the body of POST /api/v1/users/{id}/credentials/enrol:
// the reader to take the next card from and how long to wait for it, in
// seconds (1 to MaxEnrolWait; absent or 0 means DefaultEnrolWait).
type EnrolBody struct {
	Reader      string `json:"reader"`
	WaitSeconds int    `json:"wait_seconds,omitempty"`
}

// EnrolDoc answers an enrolment: the credential made of the card read.
type EnrolDoc struct {
	access.Credential
	Reader string `json:"reader"`
}

// How long an enrolment waits for a card, in seconds.
const (
	DefaultEnrolWait = 30
	MaxEnrolWait     = 120
)

// ExportFormat names the export document's version.
const ExportFormat = "lintel-export/1"

// ExportDoc answers GET /api/v1/export and is the body of POST
// /api/v1/import: the whole table as a snapshot changeset (docs/sync.md),
// which carries no PIN, and the users who held one.
type ExportDoc struct {
	Format     string    `json:"format"`
	GatewayID  string    `json:"gateway_id"`
	ExportedAt time.Time `json:"exported_at"`
	// UsersWithPIN lists the users who held a PIN when the table was
	// exported; PINs themselves are never exported.
	UsersWithPIN []string `json:"users_with_pin"`
	// Table is the snapshot.
	Table json.RawMessage `json:"table"`
}

// ImportDoc answers POST /api/v1/import: what was restored, and the users
// who held a PIN where the export was made but hold none now (a user this
// gateway already had keeps the PIN it holds here).
type ImportDoc struct {
	ImportResult
	NeedPIN []string `json:"need_pin"`
}
