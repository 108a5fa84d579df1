package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// The access policy's routes: schedules, holidays, levels, door policies
// and overrides (docs/access.md). Each object's rules are gateway/access's:
// the API checks only that a body has the object's shape, hands the object
// to the backend, and turns access's errors into answers: a broken field
// rule 422 naming the field, an object still in use 409, an unknown one 404.

// PolicyBackend is the part of [Backend] that keeps the access policy.
// Every change names its actor, who the gateway's audit event names.
type PolicyBackend interface {
	// Policy returns the policy table; it must not be changed.
	Policy() *access.Table
	PutSchedule(actor string, s access.Schedule) (created bool, err error)
	DeleteSchedule(actor, id string) error
	PutHoliday(actor string, h access.Holiday) (created bool, err error)
	DeleteHoliday(actor, id string) error
	PutLevel(actor string, l access.Level) (created bool, err error)
	DeleteLevel(actor, id string) error
	// SetDoorPolicy sets a door's policy; one without modes removes it.
	SetDoorPolicy(actor string, p access.DoorPolicy) error
	SetOverride(actor string, o access.Override) (created bool, err error)
	ClearOverride(actor, id string) error
}

// ScheduleBody is the body of PUT /api/v1/schedules/{id}.
type ScheduleBody struct {
	Name      string             `json:"name,omitempty"`
	Intervals *[]access.Interval `json:"intervals"`
}

// HolidayBody is the body of PUT /api/v1/holidays/{id}.
type HolidayBody struct {
	Name  string `json:"name,omitempty"`
	Date  string `json:"date"`
	Until string `json:"until,omitempty"`
	Type  *int   `json:"type"`
}

// LevelBody is the body of PUT /api/v1/levels/{id}.
type LevelBody struct {
	Name  string              `json:"name,omitempty"`
	Doors *[]access.LevelDoor `json:"doors"`
}

// DoorPolicyBody is the body of PUT /api/v1/doors/{door}/policy.
type DoorPolicyBody struct {
	Modes *[]access.PolicyMode `json:"modes"`
}

// OverrideBody is the body of PUT /api/v1/overrides/{id}. Until is RFC 3339
// or null.
type OverrideBody struct {
	Doors []string        `json:"doors"`
	Mode  access.DoorMode `json:"mode"`
	Rank  int             `json:"rank,omitzero"`
	Until *string         `json:"until"`
}

// Lists of policy objects, ordered by id; the built-in schedule "always"
// and level "all" are not listed.
type (
	ScheduleList struct {
		Schedules []access.Schedule `json:"schedules"`
	}
	HolidayList struct {
		Holidays []access.Holiday `json:"holidays"`
	}
	LevelList struct {
		Levels []access.Level `json:"levels"`
	}
	OverrideList struct {
		Overrides []access.Override `json:"overrides"`
	}
)

func missingField(name string) *apiError {
	return errorf(http.StatusUnprocessableEntity, CodeInvalid, "%s: is missing", name)
}

// policyError turns an error of the policy model into its answer (see
// backendError). what names the object, e.g. `schedule "office"`.
func (s *Server) policyError(c echo.Context, what string, err error) error {
	return s.backendError(c, what, err)
}

// putted answers a PUT: 201 for a new object, 200 for a replaced one.
func putted(c echo.Context, created bool, v any) error {
	if created {
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) listSchedules(c echo.Context) error {
	t := s.backend.Policy()
	out := ScheduleList{Schedules: []access.Schedule{}}
	for _, id := range sortedIDs(t.Schedules) {
		out.Schedules = append(out.Schedules, t.Schedules[id])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSchedule(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	v, ok := s.backend.Policy().Schedules[id]
	if !ok {
		return notFound("schedule", id)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) putSchedule(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b ScheduleBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	if b.Intervals == nil {
		return missingField("intervals")
	}
	v := access.Schedule{ID: id, Name: b.Name, Intervals: *b.Intervals}
	created, err := s.backend.PutSchedule(actorOf(c), v)
	if err != nil {
		return s.policyError(c, fmt.Sprintf("schedule %q", id), err)
	}
	return putted(c, created, v)
}

func (s *Server) deleteSchedule(c echo.Context) error {
	return s.deleteObject(c, "schedule", s.backend.DeleteSchedule)
}

func (s *Server) listHolidays(c echo.Context) error {
	t := s.backend.Policy()
	out := HolidayList{Holidays: []access.Holiday{}}
	for _, id := range sortedIDs(t.Holidays) {
		out.Holidays = append(out.Holidays, t.Holidays[id])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getHoliday(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	v, ok := s.backend.Policy().Holidays[id]
	if !ok {
		return notFound("holiday", id)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) putHoliday(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b HolidayBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	switch {
	case b.Date == "":
		return missingField("date")
	case b.Type == nil:
		return missingField("type")
	}
	v := access.Holiday{ID: id, Name: b.Name, Date: b.Date, Until: b.Until, Type: *b.Type}
	created, err := s.backend.PutHoliday(actorOf(c), v)
	if err != nil {
		return s.policyError(c, fmt.Sprintf("holiday %q", id), err)
	}
	return putted(c, created, v)
}

func (s *Server) deleteHoliday(c echo.Context) error {
	return s.deleteObject(c, "holiday", s.backend.DeleteHoliday)
}

func (s *Server) listLevels(c echo.Context) error {
	t := s.backend.Policy()
	out := LevelList{Levels: []access.Level{}}
	for _, id := range sortedIDs(t.Levels) {
		out.Levels = append(out.Levels, t.Levels[id])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getLevel(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	v, ok := s.backend.Policy().Levels[id]
	if !ok {
		return notFound("level", id)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) putLevel(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b LevelBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	if b.Doors == nil {
		return missingField("doors")
	}
	v := access.Level{ID: id, Name: b.Name, Doors: *b.Doors}
	created, err := s.backend.PutLevel(actorOf(c), v)
	if err != nil {
		return s.policyError(c, fmt.Sprintf("level %q", id), err)
	}
	return putted(c, created, v)
}

func (s *Server) deleteLevel(c echo.Context) error {
	return s.deleteObject(c, "level", s.backend.DeleteLevel)
}

func (s *Server) getDoorPolicy(c echo.Context) error {
	door, ae := pathID(c, "door")
	if ae != nil {
		return ae
	}
	p, ok := s.backend.Policy().Policies[door]
	if !ok {
		p = access.DoorPolicy{Door: door}
	}
	if p.Modes == nil {
		p.Modes = []access.PolicyMode{}
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) putDoorPolicy(c echo.Context) error {
	door, ae := pathID(c, "door")
	if ae != nil {
		return ae
	}
	var b DoorPolicyBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	if b.Modes == nil {
		return missingField("modes")
	}
	p := access.DoorPolicy{Door: door, Modes: *b.Modes}
	if err := s.backend.SetDoorPolicy(actorOf(c), p); err != nil {
		return s.policyError(c, fmt.Sprintf("door %q", door), err)
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) deleteDoorPolicy(c echo.Context) error {
	door, ae := pathID(c, "door")
	if ae != nil {
		return ae
	}
	if err := s.backend.SetDoorPolicy(actorOf(c), access.DoorPolicy{Door: door}); err != nil {
		return s.policyError(c, fmt.Sprintf("door %q", door), err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listOverrides(c echo.Context) error {
	t := s.backend.Policy()
	out := OverrideList{Overrides: []access.Override{}}
	for _, id := range sortedIDs(t.Overrides) {
		out.Overrides = append(out.Overrides, t.Overrides[id])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getOverride(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	v, ok := s.backend.Policy().Overrides[id]
	if !ok {
		return notFound("override", id)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) putOverride(c echo.Context) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	var b OverrideBody
	if ae := s.decode(c, &b); ae != nil {
		return ae
	}
	v := access.Override{ID: id, Doors: b.Doors, Mode: b.Mode, Rank: b.Rank}
	if b.Until != nil {
		t, err := time.Parse(time.RFC3339, *b.Until)
		if err != nil {
			return errorf(http.StatusUnprocessableEntity, CodeInvalid, "until: must be an RFC 3339 time such as 2027-01-04T18:00:00+01:00, or null")
		}
		v.Until = &t
	}
	created, err := s.backend.SetOverride(actorOf(c), v)
	if err != nil {
		return s.policyError(c, fmt.Sprintf("override %q", id), err)
	}
	return putted(c, created, v)
}

func (s *Server) deleteOverride(c echo.Context) error {
	return s.deleteObject(c, "override", s.backend.ClearOverride)
}

// deleteObject is the DELETE of a policy object by its id.
func (s *Server) deleteObject(c echo.Context, kind string, del func(actor, id string) error) error {
	id, ae := pathID(c, "id")
	if ae != nil {
		return ae
	}
	if err := del(actorOf(c), id); err != nil {
		return s.policyError(c, fmt.Sprintf("%s %q", kind, id), err)
	}
	return c.NoContent(http.StatusNoContent)
}

func notFound(kind, id string) *apiError {
	return errorf(http.StatusNotFound, CodeNotFound, "%s %q does not exist", kind, id)
}

// actorOf names who makes a request, as the gateway's audit events name
// them: the token's name (for the status page's session, its token's).
func actorOf(c echo.Context) string {
	if p, ok := c.Get(principalKey).(*principal); ok {
		return p.Name
	}
	return ""
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
