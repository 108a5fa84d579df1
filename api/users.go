package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// The operator's routes over the user table beyond one user: the list and
// its search, removing one card, enrolling the next card a reader reads,
// and the export and import of the whole table.

// maxQueryLength bounds the search text of GET /api/v1/users.
const maxQueryLength = 256

// userMatcher is the search of GET /api/v1/users: q, without regard to
// case, within the user's id or name; "" matches everyone.
func userMatcher(q string) func(access.User) bool {
	if q == "" {
		return func(access.User) bool { return true }
	}
	q = strings.ToLower(q)
	return func(u access.User) bool {
		return strings.Contains(strings.ToLower(u.ID), q) || strings.Contains(strings.ToLower(u.Name), q)
	}
}

// userQuery asks for one page of the user table: at most Limit users
// whose ids sort after After ("": from the first) and that match Q
// ([userMatcher]). GET /api/v1/users and the status page's users view both
// ask with one.
type userQuery struct {
	After string
	Q     string
	Limit int
}

// check checks the query's after and q; the limit's bounds are the
// asker's. Errors name the query parameter.
func (q userQuery) check() error {
	if q.After != "" {
		if err := access.CheckID(q.After); err != nil {
			return fmt.Errorf("after: %w", err)
		}
	}
	if len(q.Q) > maxQueryLength {
		return fmt.Errorf("q: %d bytes long, at most %d allowed", len(q.Q), maxQueryLength)
	}
	return nil
}

// userList answers a checked query from the backend's table, which it
// reads from q.After on and only until the page is full and one more
// match shows that another page follows.
func (s *Server) userList(q userQuery) (UserPage, error) {
	match := userMatcher(q.Q)
	page := UserPage{Users: []UserDoc{}}
	more := false
	err := s.backend.ListUsers(q.After, func(v UserView) bool {
		if !match(v.User) {
			return true
		}
		if len(page.Users) == q.Limit {
			more = true
			return false
		}
		page.Users = append(page.Users, userDoc(v))
		return true
	})
	if err != nil {
		return UserPage{}, err
	}
	if more {
		page.Next = page.Users[len(page.Users)-1].ID
	}
	return page, nil
}

func (s *Server) listUsers(c echo.Context) error {
	limit, ae := queryUint(c, "limit", defaultLimit)
	if ae != nil {
		return ae
	}
	if limit < 1 || limit > maxLimit {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "query: limit: must be from 1 to %d, got %d", maxLimit, limit)
	}
	q := userQuery{After: c.QueryParam("after"), Q: c.QueryParam("q"), Limit: int(limit)}
	if err := q.check(); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "query: %v", err)
	}
	page, err := s.userList(q)
	if err != nil {
		return s.backendError(c, "the user table", err)
	}
	return c.JSON(http.StatusOK, page)
}

func (s *Server) deleteCredential(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	if err := s.backend.RemoveCredential(actorOf(c), id); err != nil {
		return s.backendError(c, fmt.Sprintf("credential %q", id), err)
	}
	return c.NoContent(http.StatusNoContent)
}

// enrolCard waits, up to the body's wait_seconds, for the next card read
// at a reader and enrols it for the user in the path.
func (s *Server) enrolCard(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b EnrolBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	if b.Reader == "" {
		return missingField("reader")
	}
	if err := access.CheckID(b.Reader); err != nil {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "reader: %v", err)
	}
	wait := b.WaitSeconds
	if wait == 0 {
		wait = DefaultEnrolWait
	}
	if wait < 1 || wait > MaxEnrolWait {
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "wait_seconds: must be from 1 to %d, got %d", MaxEnrolWait, wait)
	}
	req := c.Request().Context()
	ctx, cancel := context.WithTimeout(req, time.Duration(wait)*time.Second)
	defer cancel()
	go func() { // a server shutting down ends the wait
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	cred, err := s.backend.EnrolCard(ctx, actorOf(c), id, b.Reader)
	switch {
	case err == nil:
		return c.JSON(http.StatusCreated, EnrolDoc{Credential: cred, Reader: b.Reader})
	case errors.Is(err, context.DeadlineExceeded) && req.Err() == nil:
		return errorf(http.StatusRequestTimeout, CodeNoCard,
			"reader %q read no card in %d s: present the card at the reader while the enrolment waits", b.Reader, wait)
	case errors.Is(err, context.Canceled) && req.Err() == nil:
		return errorf(http.StatusServiceUnavailable, CodeUnhealthy, "the gateway is shutting down")
	}
	return s.backendError(c, fmt.Sprintf("user %q", id), err)
}

func (s *Server) exportTable(c echo.Context) error {
	snap, withPIN, err := s.backend.Export()
	if err != nil {
		return s.backendError(c, "the user table", err)
	}
	if withPIN == nil {
		withPIN = []string{}
	}
	now := s.cfg.Now().UTC()
	gw := s.backend.Status().GatewayID
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="lintel-%s-%s.json"`, gw, now.Format("20060102-150405")))
	return c.JSON(http.StatusOK, ExportDoc{Format: ExportFormat, GatewayID: gw, ExportedAt: now, UsersWithPIN: withPIN, Table: snap})
}

func (s *Server) importTable(c echo.Context) error {
	r := c.Request()
	var doc ExportDoc
	if ae := decodeJSON(r.Body, r.Header.Get(echo.HeaderContentType), s.cfg.SyncBodyLimit, &doc); ae != nil {
		return ae
	}
	switch {
	case doc.Format != ExportFormat:
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "format: want %q (an export of GET /api/v1/export), got %q", ExportFormat, clip(doc.Format))
	case len(doc.Table) == 0 || string(doc.Table) == "null":
		return missingField("table")
	}
	res, err := s.backend.Import(actorOf(c), doc.Table)
	if err != nil {
		return s.backendError(c, "the import", err)
	}
	out := ImportDoc{ImportResult: res, NeedPIN: []string{}}
	for _, id := range doc.UsersWithPIN {
		if v, err := s.backend.User(id); err == nil && !v.HasPIN {
			out.NeedPIN = append(out.NeedPIN, id)
		}
	}
	return c.JSON(http.StatusOK, out)
}
