package access

import "errors"

// Errors of the user table that callers act on, whichever store holds it.
// Stores wrap them with %w; the API maps them to 404 and 409.
var (
	// ErrNotFound: no such user or credential.
	ErrNotFound = errors.New("not found")
	// ErrCredentialInUse: the card is already enrolled, for this user or
	// another.
	ErrCredentialInUse = errors.New("credential is already enrolled")
)
