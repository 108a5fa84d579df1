package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
)

// The sync routes: POST /api/v1/sync/changes, GET /api/v1/sync and POST
// /api/v1/sync/reset. The changeset and its ack are the backend's (see
// docs/sync.md); the API passes the changeset through unread and answers
// with the ack as it is. What the API owns is the HTTP status of the ack:
// the table below maps the ack's wire codes onto HTTP.

// SyncResult is the backend's answer to a changeset: the ack to send as the
// response body, and what it says, so the API can choose the status
// without reading the ack.
type SyncResult struct {
	// Ack is the ack's JSON, sent as it is.
	Ack []byte
	// Status is the ack's status: "applied", "duplicate" or "refused".
	Status string
	// Code is the ack's error code when Status is "refused", e.g. "gap".
	Code string
}

// syncRetryAfter is the Retry-After, in seconds, of a changeset refused
// because the gateway is busy.
const syncRetryAfter = 2

// syncCodeStatus is the HTTP status of a refused changeset, by the ack's
// error code (the wire contract of docs/sync.md): 400 for what is not a
// changeset, 403 for a changeset the gateway may not trust, 409 for
// conflicts with the gateway's state, 413 for size, 422 for values that
// break a rule, 503 when the gateway cannot take it now, 500 for a store
// failure.
var syncCodeStatus = map[string]int{
	"malformed":           http.StatusBadRequest,
	"unknown_op":          http.StatusBadRequest,
	"too_large":           http.StatusRequestEntityTooLarge,
	"invalid":             http.StatusUnprocessableEntity,
	"not_found":           http.StatusUnprocessableEntity,
	"gap":                 http.StatusConflict,
	"pin_in_use":          http.StatusConflict,
	"pin_space_exhausted": http.StatusConflict,
	"credential_in_use":   http.StatusConflict,
	"in_use":              http.StatusConflict,
	"revision_jump":       http.StatusConflict,
	"unsigned":            http.StatusForbidden,
	"bad_signature":       http.StatusForbidden,
	"busy":                http.StatusServiceUnavailable,
	"internal":            http.StatusInternalServerError,
}

// SyncHTTPStatus is the HTTP status an ack with this status and code is
// answered with: 200 for applied, duplicate and current; for refused, the
// status of its code, and 422 for a code the API does not know (a refusal
// of the changeset it cannot say more about).
func SyncHTTPStatus(status, code string) int {
	if status != "refused" {
		return http.StatusOK
	}
	if s, ok := syncCodeStatus[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// SyncCodes lists the ack codes the API has a status for.
func SyncCodes() []string {
	out := make([]string, 0, len(syncCodeStatus))
	for c := range syncCodeStatus {
		out = append(out, c)
	}
	return out
}

// syncActor names who posted a changeset in the gateway's audit: "portal"
// for a portal token, the token's name for an admin.
func syncActor(c echo.Context) string {
	p, _ := c.Get(principalKey).(*principal)
	if p == nil || p.Role == RolePortal {
		return "portal"
	}
	return p.Name
}

func (s *Server) syncChanges(c echo.Context) error {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "body: Content-Type %q is not application/json", ct)
		}
	}
	payload, ae := readBody(r, s.cfg.SyncBodyLimit)
	if ae != nil {
		return ae
	}
	res, err := s.backend.HandleChanges(r.Context(), syncActor(c), payload)
	if err != nil {
		// The client went away before the ack was made; there is no one
		// to answer. The changeset may still be applied.
		return err
	}
	status := SyncHTTPStatus(res.Status, res.Code)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", fmt.Sprint(syncRetryAfter))
	}
	return c.Blob(status, echo.MIMEApplicationJSON, res.Ack)
}

func (s *Server) syncCurrent(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.backend.CurrentAck())
}

// SyncResetBody is the body of POST /api/v1/sync/reset: the revision to
// reset to, at most the current one. Absent means 0: any snapshot applies
// next.
type SyncResetBody struct {
	Revision *uint64 `json:"revision,omitempty"`
}

func (s *Server) syncReset(c echo.Context) error {
	var b SyncResetBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	var rev uint64
	if b.Revision != nil {
		rev = *b.Revision
	}
	p, _ := c.Get(principalKey).(*principal)
	ack, err := s.backend.ResetSync(c.Request().Context(), p.Name, rev)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return errorf(http.StatusUnprocessableEntity, CodeInvalid, "revision: %v", err)
		}
		return s.backendError(c, "the sync revision", err)
	}
	s.log.Warn("api: sync revision reset", "to", rev, "token", p.Name)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, ack)
}
