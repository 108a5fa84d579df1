package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// Client calls one gateway.
type Client struct {
	// Base is the gateway's address, e.g. "http://127.0.0.1:8080".
	Base string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
	// InsecureToken sends the token even over plain HTTP to a host that
	// is not this machine, where anyone on the way can read it. Without
	// it such a request fails with [ErrPlainTextToken] before anything is
	// sent.
	InsecureToken bool
}

// ErrPlainTextToken is the error of a request that would carry the token
// over plain HTTP off this machine; see [CheckTokenTransport].
var ErrPlainTextToken = errors.New("the API token would cross the network in plain text")

// CheckTokenTransport returns an error wrapping [ErrPlainTextToken] when a
// token sent to the gateway at base would leave this machine unencrypted:
// base is http:// and its host is neither a loopback IP address nor
// localhost. A name is not resolved to find out: it could resolve anywhere.
func CheckTokenTransport(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("gateway address %q: %w", base, err)
	}
	if !strings.EqualFold(u.Scheme, "http") {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s is plain HTTP to %s, which is not this machine", ErrPlainTextToken, base, host)
}

// New returns a client for the gateway at base using token.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token}
}

// Error is an error answer of the API.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code and Message are the API's ("pin_in_use", "pin: another user
	// holds that PIN; ...").
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// IsCode reports whether err is an API error with that code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (nil to ignore it). It returns the HTTP status.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	if c.Token != "" && !c.InsecureToken {
		if err := CheckTokenTransport(c.Base); err != nil {
			return nil, fmt.Errorf("%s %s: %w; use an https:// address, or allow it with InsecureToken", method, path, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// answerError turns a 4xx or 5xx answer into an *Error.
func answerError(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc api.ErrorDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Error.Code == "" {
		return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode),
			Message: strings.TrimSpace(http.StatusText(resp.StatusCode) + " " + firstLine(data))}
	}
	return &Error{Status: resp.StatusCode, Code: doc.Error.Code, Message: doc.Error.Message}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func userPath(id string, rest ...string) string {
	return "/api/v1/users/" + url.PathEscape(id) + strings.Join(rest, "")
}

// Status returns the gateway's status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	_, err := c.do(ctx, "GET", "/api/v1/status", nil, &st)
	return st, err
}

// PutUser creates or replaces a user and reports whether it was created.
func (c *Client) PutUser(ctx context.Context, id string, u api.UserBody) (api.UserDoc, bool, error) {
	var doc api.UserDoc
	code, err := c.do(ctx, "PUT", userPath(id), u, &doc)
	return doc, code == http.StatusCreated, err
}

// User returns a user with has_pin and credentials.
func (c *Client) User(ctx context.Context, id string) (api.UserDoc, error) {
	var doc api.UserDoc
	_, err := c.do(ctx, "GET", userPath(id), nil, &doc)
	return doc, err
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", userPath(id), nil, nil)
	return err
}

// SetPIN gives a user a custom PIN.
func (c *Client) SetPIN(ctx context.Context, id, pin string) error {
	_, err := c.do(ctx, "PUT", userPath(id, "/pin"), api.PINBody{PIN: &pin}, nil)
	return err
}

// GeneratePIN gives a user a random PIN of length digits and returns it.
func (c *Client) GeneratePIN(ctx context.Context, id string, length int) (string, error) {
	var doc api.PINDoc
	_, err := c.do(ctx, "PUT", userPath(id, "/pin"), api.PINBody{Length: &length}, &doc)
	return doc.PIN, err
}

// ClearPIN removes a user's PIN.
func (c *Client) ClearPIN(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", userPath(id, "/pin"), nil, nil)
	return err
}

// AddCard enrols a card for a user and returns the stored credential.
func (c *Client) AddCard(ctx context.Context, id string, card access.CardKey) (access.Credential, error) {
	var cred access.Credential
	body := api.CredentialBody{Type: access.CredentialCard, Format: card.Format, Facility: &card.Facility, Number: &card.Number}
	_, err := c.do(ctx, "POST", userPath(id, "/credentials"), body, &cred)
	return cred, err
}

// Events returns up to limit events after a seq.
func (c *Client) Events(ctx context.Context, after uint64, limit int) (api.EventPage, error) {
	var page api.EventPage
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {strconv.Itoa(limit)}}
	_, err := c.do(ctx, "GET", "/api/v1/events?"+q.Encode(), nil, &page)
	return page, err
}

// StreamEvents follows the event stream from after (or from the end of the
// journal when fromEnd is set) and calls fn for each event until ctx is
// done, fn returns an error, or the stream ends. A stream ended by ctx
// returns nil.
func (c *Client) StreamEvents(ctx context.Context, after uint64, fromEnd bool, fn func(access.Event) error) error {
	path := "/api/v1/events/stream"
	if !fromEnd {
		path += "?after=" + strconv.FormatUint(after, 10)
	}
	resp, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return err
	}
	err = readSSE(resp.Body, func(typ, data string) error {
		switch typ {
		case "event":
			var ev access.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				return fmt.Errorf("event stream: decode event: %w", err)
			}
			return fn(ev)
		case "error":
			var doc api.ErrorDoc
			if err := json.Unmarshal([]byte(data), &doc); err != nil {
				return fmt.Errorf("event stream: %s", data)
			}
			return &Error{Status: http.StatusInternalServerError, Code: doc.Error.Code, Message: doc.Error.Message}
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// readSSE calls fn for each message of an SSE stream.
func readSSE(r io.Reader, fn func(typ, data string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	typ, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" || typ != "" {
				if typ == "" {
					typ = "message"
				}
				if err := fn(typ, data); err != nil {
					return err
				}
			}
			typ, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			if data != "" {
				data += "\n"
			}
			data += d
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return nil
}

// PulseDoor test-pulses a door.
func (c *Client) PulseDoor(ctx context.Context, door string) error {
	_, err := c.do(ctx, "POST", "/api/v1/doors/"+url.PathEscape(door)+"/pulse", nil, nil)
	return err
}

// SyncChanges posts a changeset and returns the apply result and its
// status. An apply that refuses the changeset is not an error here: its
// result says why.
func (c *Client) SyncChanges(ctx context.Context, changeset []byte) ([]byte, int, error) {
	resp, err := c.send(ctx, "POST", "/api/v1/sync/changes", bytes.NewReader(changeset))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("POST /api/v1/sync/changes: read answer: %w", err)
	}
	var doc api.ErrorDoc
	if resp.StatusCode >= 400 && json.Unmarshal(data, &doc) == nil && doc.Error.Code != "" {
		return nil, resp.StatusCode, &Error{Status: resp.StatusCode, Code: doc.Error.Code, Message: doc.Error.Message}
	}
	return data, resp.StatusCode, nil
}

// SyncCurrent returns the ack of the revision the gateway holds, as JSON
// (GET /api/v1/sync).
func (c *Client) SyncCurrent(ctx context.Context) ([]byte, error) {
	var ack json.RawMessage
	_, err := c.do(ctx, "GET", "/api/v1/sync", nil, &ack)
	return ack, err
}

// ResetSync sets the gateway's sync revision back to revision, keeping its
// table, and returns the ack after the reset, as JSON (POST
// /api/v1/sync/reset; admin only).
func (c *Client) ResetSync(ctx context.Context, revision uint64) ([]byte, error) {
	var ack json.RawMessage
	_, err := c.do(ctx, "POST", "/api/v1/sync/reset", api.SyncResetBody{Revision: &revision}, &ack)
	return ack, err
}

// SimCard presents a card at a simulated reader.
func (c *Client) SimCard(ctx context.Context, reader string, card access.CardKey) error {
	body := api.SimCardBody{Format: card.Format, Facility: &card.Facility, Number: &card.Number}
	_, err := c.do(ctx, "POST", "/api/v1/sim/readers/"+url.PathEscape(reader)+"/card", body, nil)
	return err
}

// SimBits sends a raw Wiegand frame to a simulated reader.
func (c *Client) SimBits(ctx context.Context, reader, bits string) error {
	_, err := c.do(ctx, "POST", "/api/v1/sim/readers/"+url.PathEscape(reader)+"/card", api.SimCardBody{Bits: bits}, nil)
	return err
}

// SimKeys presses keys on a simulated reader's keypad.
func (c *Client) SimKeys(ctx context.Context, reader, keys string) error {
	_, err := c.do(ctx, "POST", "/api/v1/sim/readers/"+url.PathEscape(reader)+"/keys", api.SimKeysBody{Keys: keys}, nil)
	return err
}

// SimDoor opens or closes a simulated door's contact.
func (c *Client) SimDoor(ctx context.Context, door string, open bool) error {
	_, err := c.do(ctx, "POST", "/api/v1/sim/doors/"+url.PathEscape(door)+"/contact", api.SimDoorBody{Open: &open}, nil)
	return err
}

// Users returns a page of users in id order after after (""; from the
// first), at most limit (0: the gateway's default), whose id or name
// contains q without regard to case ("": all).
func (c *Client) Users(ctx context.Context, after string, limit int, q string) (api.UserPage, error) {
	v := url.Values{}
	if after != "" {
		v.Set("after", after)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if q != "" {
		v.Set("q", q)
	}
	path := "/api/v1/users"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var page api.UserPage
	_, err := c.do(ctx, "GET", path, nil, &page)
	return page, err
}

// RemoveCredential removes one credential (a card) by its id.
func (c *Client) RemoveCredential(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/v1/credentials/"+url.PathEscape(id), nil, nil)
	return err
}

// EnrolCard waits up to wait seconds (0: the gateway's default) for the
// next card read at reader and enrols it for the user.
func (c *Client) EnrolCard(ctx context.Context, user, reader string, wait int) (api.EnrolDoc, error) {
	var doc api.EnrolDoc
	_, err := c.do(ctx, "POST", userPath(user, "/credentials/enrol"), api.EnrolBody{Reader: reader, WaitSeconds: wait}, &doc)
	return doc, err
}

// Export returns the whole table as the gateway's export document, as
// JSON (GET /api/v1/export; admin only).
func (c *Client) Export(ctx context.Context) ([]byte, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/export", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /api/v1/export: read answer: %w", err)
	}
	return b, nil
}

// Import replaces the whole table with an export document (POST
// /api/v1/import; admin only).
func (c *Client) Import(ctx context.Context, export []byte) (api.ImportDoc, error) {
	var doc api.ImportDoc
	resp, err := c.send(ctx, "POST", "/api/v1/import", bytes.NewReader(export))
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return doc, err
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return doc, fmt.Errorf("POST /api/v1/import: decode answer: %w", err)
	}
	return doc, nil
}

func policyPath(kind, id string) string { return "/api/v1/" + kind + "/" + url.PathEscape(id) }

// Schedules lists the schedules (the built-in "always" is not listed).
func (c *Client) Schedules(ctx context.Context) ([]access.Schedule, error) {
	var l api.ScheduleList
	_, err := c.do(ctx, "GET", "/api/v1/schedules", nil, &l)
	return l.Schedules, err
}

// Schedule returns one schedule.
func (c *Client) Schedule(ctx context.Context, id string) (access.Schedule, error) {
	var v access.Schedule
	_, err := c.do(ctx, "GET", policyPath("schedules", id), nil, &v)
	return v, err
}

// PutSchedule creates or replaces a schedule and reports whether it was
// created.
func (c *Client) PutSchedule(ctx context.Context, id string, b api.ScheduleBody) (bool, error) {
	code, err := c.do(ctx, "PUT", policyPath("schedules", id), b, nil)
	return code == http.StatusCreated, err
}

// DeleteSchedule deletes a schedule.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", policyPath("schedules", id), nil, nil)
	return err
}

// Holidays lists the holidays.
func (c *Client) Holidays(ctx context.Context) ([]access.Holiday, error) {
	var l api.HolidayList
	_, err := c.do(ctx, "GET", "/api/v1/holidays", nil, &l)
	return l.Holidays, err
}

// Holiday returns one holiday.
func (c *Client) Holiday(ctx context.Context, id string) (access.Holiday, error) {
	var v access.Holiday
	_, err := c.do(ctx, "GET", policyPath("holidays", id), nil, &v)
	return v, err
}

// PutHoliday creates or replaces a holiday and reports whether it was
// created.
func (c *Client) PutHoliday(ctx context.Context, id string, b api.HolidayBody) (bool, error) {
	code, err := c.do(ctx, "PUT", policyPath("holidays", id), b, nil)
	return code == http.StatusCreated, err
}

// DeleteHoliday deletes a holiday.
func (c *Client) DeleteHoliday(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", policyPath("holidays", id), nil, nil)
	return err
}

// Levels lists the access levels (the built-in "all" is not listed).
func (c *Client) Levels(ctx context.Context) ([]access.Level, error) {
	var l api.LevelList
	_, err := c.do(ctx, "GET", "/api/v1/levels", nil, &l)
	return l.Levels, err
}

// Level returns one access level.
func (c *Client) Level(ctx context.Context, id string) (access.Level, error) {
	var v access.Level
	_, err := c.do(ctx, "GET", policyPath("levels", id), nil, &v)
	return v, err
}

// PutLevel creates or replaces an access level and reports whether it was
// created.
func (c *Client) PutLevel(ctx context.Context, id string, b api.LevelBody) (bool, error) {
	code, err := c.do(ctx, "PUT", policyPath("levels", id), b, nil)
	return code == http.StatusCreated, err
}

// DeleteLevel deletes an access level.
func (c *Client) DeleteLevel(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", policyPath("levels", id), nil, nil)
	return err
}

// DoorPolicy returns a door's policy (no modes when it has none).
func (c *Client) DoorPolicy(ctx context.Context, door string) (access.DoorPolicy, error) {
	var v access.DoorPolicy
	_, err := c.do(ctx, "GET", "/api/v1/doors/"+url.PathEscape(door)+"/policy", nil, &v)
	return v, err
}

// SetDoorPolicy sets a door's policy; no modes removes it.
func (c *Client) SetDoorPolicy(ctx context.Context, door string, modes []access.PolicyMode) error {
	if modes == nil {
		modes = []access.PolicyMode{}
	}
	_, err := c.do(ctx, "PUT", "/api/v1/doors/"+url.PathEscape(door)+"/policy", api.DoorPolicyBody{Modes: &modes}, nil)
	return err
}

// DeleteDoorPolicy removes a door's policy.
func (c *Client) DeleteDoorPolicy(ctx context.Context, door string) error {
	_, err := c.do(ctx, "DELETE", "/api/v1/doors/"+url.PathEscape(door)+"/policy", nil, nil)
	return err
}

// Overrides lists the overrides.
func (c *Client) Overrides(ctx context.Context) ([]access.Override, error) {
	var l api.OverrideList
	_, err := c.do(ctx, "GET", "/api/v1/overrides", nil, &l)
	return l.Overrides, err
}

// SetOverride creates or replaces an override and reports whether it was
// created.
func (c *Client) SetOverride(ctx context.Context, id string, b api.OverrideBody) (bool, error) {
	code, err := c.do(ctx, "PUT", policyPath("overrides", id), b, nil)
	return code == http.StatusCreated, err
}

// ClearOverride ends an override.
func (c *Client) ClearOverride(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", policyPath("overrides", id), nil, nil)
	return err
}
