package api

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

//go:embed openapi.json
var openAPIDoc []byte

// Limits of the fields the API checks itself.
const (
	maxBitsLength = 256
	maxKeysLength = 64
	defaultLimit  = 100
	maxLimit      = 1000
)

func (s *Server) healthz(c echo.Context) error {
	if !s.backend.Healthy() {
		return errorf(http.StatusServiceUnavailable, CodeUnhealthy, "the decision loop is not running")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}

// snapshot is the backend's status with the server's part filled in and
// key-press frames blanked. It copies what it changes.
func (s *Server) snapshot() Status {
	st := s.backend.Status()
	if st.Version == "" {
		st.Version = s.cfg.Version
	}
	if st.UptimeSeconds == 0 && !st.Started.IsZero() {
		st.UptimeSeconds = int64(s.cfg.Now().Sub(st.Started) / time.Second)
	}
	readers := make([]ReaderStatus, len(st.Readers))
	for i, r := range st.Readers {
		if r.LastFrame != nil {
			f := *r.LastFrame
			f.redact()
			r.LastFrame = &f
		}
		readers[i] = r
	}
	st.Readers = readers
	return st
}

func (s *Server) status(c echo.Context) error {
	return c.JSON(http.StatusOK, s.snapshot())
}

// pathID reads and checks an id from the path.
func pathID(c echo.Context, name string) (string, *apiError) {
	v := c.Param(name)
	if err := access.CheckID(v); err != nil {
		return "", errorf(http.StatusBadRequest, CodeInvalidRequest, "path: %s: %v", name, err)
	}
	return v, nil
}

func (s *Server) decode(c echo.Context, v any) *apiError {
	r := c.Request()
	return decodeJSON(r.Body, r.Header.Get(echo.HeaderContentType), s.cfg.BodyLimit, v)
}

func (s *Server) putUser(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b UserBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	u, set, ae := b.user(id)
	if ae != nil {
		return ae
	}
	created, err := s.backend.PutUser(actorOf(c), u, set)
	if err != nil {
		return s.backendError(c, fmt.Sprintf("user %q", id), err)
	}
	v, err := s.backend.User(id)
	if err != nil {
		return s.backendError(c, fmt.Sprintf("user %q", id), err)
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return c.JSON(code, userDoc(v))
}

// user checks a UserBody and turns it into the user it describes and the
// optional fields it sets. The name's rule is access.CheckName's; the API
// only adds that a name is required.
func (b UserBody) user(id string) (access.User, access.UserFields, *apiError) {
	u := access.User{ID: id, Name: b.Name}
	var set access.UserFields
	if b.Enabled != nil {
		u.Enabled, set = *b.Enabled, set|access.FieldEnabled
	}
	if b.Levels != nil {
		u.Levels, set = *b.Levels, set|access.FieldLevels
		if u.Levels == nil {
			u.Levels = []string{}
		}
	}
	if b.Override != nil {
		u.Override, set = *b.Override, set|access.FieldOverride
	}
	invalid := func(format string, args ...any) (access.User, access.UserFields, *apiError) {
		return u, set, errorf(http.StatusUnprocessableEntity, CodeInvalid, format, args...)
	}
	if strings.TrimSpace(b.Name) == "" {
		return invalid("name: is empty")
	}
	if err := access.CheckName(b.Name); err != nil {
		return invalid("name: %v", err)
	}
	var err error
	if b.ValidFrom != "" {
		if u.ValidFrom, err = time.Parse(time.RFC3339, b.ValidFrom); err != nil {
			return invalid("valid_from: must be an RFC 3339 time such as 2026-01-31T08:00:00Z")
		}
	}
	if b.ValidTo != "" {
		if u.ValidTo, err = time.Parse(time.RFC3339, b.ValidTo); err != nil {
			return invalid("valid_to: must be an RFC 3339 time such as 2026-12-31T18:00:00Z")
		}
	}
	if !u.ValidFrom.IsZero() && !u.ValidTo.IsZero() && !u.ValidTo.After(u.ValidFrom) {
		return invalid("valid_to: must be after valid_from")
	}
	return u, set, nil
}

func userDoc(v UserView) UserDoc {
	creds := v.Credentials
	if creds == nil {
		creds = []access.Credential{}
	}
	return UserDoc{User: v.User, HasPIN: v.HasPIN, Credentials: creds}
}

func (s *Server) getUser(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	v, err := s.backend.User(id)
	if err != nil {
		return s.backendError(c, fmt.Sprintf("user %q", id), err)
	}
	return c.JSON(http.StatusOK, userDoc(v))
}

func (s *Server) deleteUser(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	if err := s.backend.DeleteUser(actorOf(c), id); err != nil {
		return s.backendError(c, fmt.Sprintf("user %q", id), err)
	}
	return c.NoContent(http.StatusNoContent)
}

// putPIN sets or generates a PIN. Its answer is the only one that ever
// carries a PIN.
func (s *Server) putPIN(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b PINBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	what := fmt.Sprintf("user %q", id)
	switch {
	case b.Length != nil && b.PIN != nil:
		return errorf(http.StatusUnprocessableEntity, CodeInvalidPIN, `body: give either "length" or "pin", not both`)
	case b.Length != nil:
		if err := access.ValidatePINLength(*b.Length); err != nil {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidPIN, "length: %v", err)
		}
		pin, err := s.backend.GeneratePIN(actorOf(c), id, *b.Length)
		if err != nil {
			return s.backendError(c, what, err)
		}
		return c.JSON(http.StatusCreated, PINDoc{PIN: pin})
	case b.PIN != nil:
		if err := access.CheckCustomPIN(*b.PIN); err != nil {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidPIN, "pin: %v", err)
		}
		if err := s.backend.SetPIN(actorOf(c), id, *b.PIN); err != nil {
			return s.backendError(c, what, err)
		}
		return c.JSON(http.StatusCreated, PINDoc{PIN: *b.PIN})
	}
	return errorf(http.StatusUnprocessableEntity, CodeInvalidPIN, `body: give "length" (4 to 8) to generate a PIN or "pin" to set one`)
}

func (s *Server) deletePIN(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	if err := s.backend.ClearPIN(actorOf(c), id); err != nil {
		return s.backendError(c, fmt.Sprintf("user %q", id), err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) postCredential(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b CredentialBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	cred, ae := b.credential(id)
	if ae != nil {
		return ae
	}
	got, err := s.backend.AddCredential(actorOf(c), id, cred)
	if err != nil {
		return s.cardError(c, fmt.Sprintf("user %q", id), err)
	}
	return c.JSON(http.StatusCreated, got)
}

// cardError is backendError for a card the backend refused: the body of
// POST /api/v1/users/{id}/credentials is flat, so a field of the
// credential's card ("card.facility") is named as the body's
// ("facility").
func (s *Server) cardError(c echo.Context, what string, err error) error {
	var fe *access.FieldError
	if errors.As(err, &fe) {
		if f, ok := strings.CutPrefix(fe.Field, "card."); ok {
			return errorf(http.StatusUnprocessableEntity, CodeInvalid, "%s: %v", f, fe.Err)
		}
	}
	return s.backendError(c, what, err)
}

// credential checks a CredentialBody and turns it into a credential.
func (b CredentialBody) credential(user string) (access.Credential, *apiError) {
	invalid := func(format string, args ...any) (access.Credential, *apiError) {
		return access.Credential{}, errorf(http.StatusUnprocessableEntity, CodeInvalid, format, args...)
	}
	if b.Type == "" {
		b.Type = access.CredentialCard
	}
	if b.Type != access.CredentialCard {
		return invalid(`type: %q is not a credential type (want "card")`, b.Type)
	}
	if b.ID != "" {
		if err := access.CheckID(b.ID); err != nil {
			return invalid("id: %v", err)
		}
	}
	if ae := checkFormat(b.Format); ae != nil {
		return access.Credential{}, ae
	}
	if b.Facility == nil {
		return invalid("facility: is missing")
	}
	if b.Number == nil {
		return invalid("number: is missing")
	}
	return access.Credential{ID: b.ID, UserID: user, Type: b.Type,
		Card: access.CardKey{Format: b.Format, Facility: *b.Facility, Number: *b.Number}}, nil
}

// checkFormat checks the shape of a card format name; whether the gateway
// knows it is the backend's to say.
func checkFormat(f string) *apiError {
	if f == "" {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, `format: is empty (e.g. "H10301")`)
	}
	if err := access.CheckCardFormat(f); err != nil {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "format: %v", err)
	}
	return nil
}

// queryUint reads an optional unsigned query parameter.
func queryUint(c echo.Context, name string, def uint64) (uint64, *apiError) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, CodeInvalidRequest, "query: %s: must be a whole number from 0, got %q", name, v)
	}
	return n, nil
}

func (s *Server) events(c echo.Context) error {
	after, ae := queryUint(c, "after", 0)
	if ae != nil {
		return ae
	}
	limit, ae := queryUint(c, "limit", defaultLimit)
	if ae != nil {
		return ae
	}
	if limit < 1 || limit > maxLimit {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "query: limit: must be from 1 to %d, got %d", maxLimit, limit)
	}
	evs, err := s.backend.Events(after, int(limit))
	if err != nil {
		return s.backendError(c, "the journal", err)
	}
	page := EventPage{Events: evs, Next: after}
	if page.Events == nil {
		page.Events = []access.Event{}
	}
	if n := len(evs); n > 0 {
		page.Next = evs[n-1].Seq
	}
	return c.JSON(http.StatusOK, page)
}

func (s *Server) pulseDoor(c echo.Context) error {
	door, ae := pathID(c, "door")
	if ae != nil {
		return ae
	}
	if err := s.backend.PulseDoor(actorOf(c), door); err != nil {
		return s.backendError(c, fmt.Sprintf("door %q", door), err)
	}
	s.log.Info("api: door test pulse", "door", door, "token", actorOf(c))
	return c.NoContent(http.StatusAccepted)
}

func (s *Server) simCard(c echo.Context) error {
	reader, ae := pathID(c, "reader")
	if ae != nil {
		return ae
	}
	var b SimCardBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	what := fmt.Sprintf("reader %q", reader)
	invalid := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, format, args...)
	}
	if b.Bits != "" {
		if b.Format != "" || b.Facility != nil || b.Number != nil {
			return invalid(`body: give either "bits" or a card ("format", "facility", "number"), not both`)
		}
		if len(b.Bits) > maxBitsLength {
			return invalid("bits: %d long, at most %d allowed", len(b.Bits), maxBitsLength)
		}
		if i := strings.IndexFunc(b.Bits, func(r rune) bool { return r != '0' && r != '1' }); i >= 0 {
			return invalid("bits: character %d is not 0 or 1", i+1)
		}
		if err := s.sim.Bits(reader, b.Bits); err != nil {
			return s.backendError(c, what, err)
		}
		return c.NoContent(http.StatusAccepted)
	}
	if b.Format == "" {
		b.Format = "H10301"
	}
	if ae := checkFormat(b.Format); ae != nil {
		return ae
	}
	if b.Facility == nil || b.Number == nil {
		return invalid(`body: give "facility" and "number" (and optionally "format"), or "bits"`)
	}
	if err := s.sim.Card(reader, b.Format, *b.Facility, *b.Number); err != nil {
		return s.backendError(c, what, err)
	}
	return c.NoContent(http.StatusAccepted)
}

func (s *Server) simKeys(c echo.Context) error {
	reader, ae := pathID(c, "reader")
	if ae != nil {
		return ae
	}
	var b SimKeysBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	// Messages name positions, never the keys.
	switch {
	case b.Keys == "":
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "keys: is empty")
	case len(b.Keys) > maxKeysLength:
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "keys: %d long, at most %d allowed", len(b.Keys), maxKeysLength)
	}
	for i := 0; i < len(b.Keys); i++ {
		if k := b.Keys[i]; (k < '0' || k > '9') && k != '*' && k != '#' {
			return errorf(http.StatusUnprocessableEntity, CodeInvalid, "keys: character %d is not a keypad key (want 0-9, * or #)", i+1)
		}
	}
	if err := s.sim.Keys(reader, b.Keys); err != nil {
		return s.backendError(c, fmt.Sprintf("reader %q", reader), err)
	}
	return c.NoContent(http.StatusAccepted)
}

func (s *Server) simDoor(c echo.Context) error {
	door, ae := pathID(c, "door")
	if ae != nil {
		return ae
	}
	var b SimDoorBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	if b.Open == nil {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "open: is missing (true or false)")
	}
	if err := s.sim.DoorContact(door, *b.Open); err != nil {
		return s.backendError(c, fmt.Sprintf("door %q", door), err)
	}
	return c.NoContent(http.StatusAccepted)
}
