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

// policyObjects are the routes of one kind of policy object kept by id
// (schedules, holidays, levels, overrides): list, get, put and delete. B
// is the PUT body; object turns it into the object, checking only that
// the body has the object's shape.
type policyObjects[T, B any] struct {
	kind    string // "schedule", as messages name it
	objects func(*access.Table) map[string]T
	list    func([]T) any
	object  func(id string, b B) (T, *apiError)
	put     func(actor string, v T) (created bool, err error)
	del     func(actor, id string) error
}

// addPolicyObjects adds k's routes at path on g.
func addPolicyObjects[T, B any](s *Server, g *echo.Group, path string, k policyObjects[T, B], read, admin echo.MiddlewareFunc) {
	g.GET(path, func(c echo.Context) error {
		m := k.objects(s.backend.Policy())
		out := make([]T, 0, len(m))
		for _, id := range sortedIDs(m) {
			out = append(out, m[id])
		}
		return c.JSON(http.StatusOK, k.list(out))
	}, read)
	g.GET(path+"/:id", func(c echo.Context) error {
		id, ae := pathID(c, "id")
		if ae != nil {
			return ae
		}
		v, ok := k.objects(s.backend.Policy())[id]
		if !ok {
			return notFound(k.kind, id)
		}
		return c.JSON(http.StatusOK, v)
	}, read)
	g.PUT(path+"/:id", func(c echo.Context) error {
		id, ae := pathID(c, "id")
		if ae != nil {
			return ae
		}
		var b B
		if ae := s.decode(c, &b); ae != nil {
			return ae
		}
		v, ae := k.object(id, b)
		if ae != nil {
			return ae
		}
		created, err := k.put(actorOf(c), v)
		if err != nil {
			return s.policyError(c, fmt.Sprintf("%s %q", k.kind, id), err)
		}
		return putted(c, created, v)
	}, admin)
	g.DELETE(path+"/:id", func(c echo.Context) error { return s.deleteObject(c, k.kind, k.del) }, admin)
}

// addPolicyRoutes adds the routes of the schedules, holidays, levels and
// overrides.
func (s *Server) addPolicyRoutes(g *echo.Group, read, admin echo.MiddlewareFunc) {
	b := s.backend
	addPolicyObjects(s, g, "/schedules", policyObjects[access.Schedule, ScheduleBody]{
		kind:    "schedule",
		objects: func(t *access.Table) map[string]access.Schedule { return t.Schedules },
		list:    func(v []access.Schedule) any { return ScheduleList{Schedules: v} },
		object: func(id string, b ScheduleBody) (access.Schedule, *apiError) {
			if b.Intervals == nil {
				return access.Schedule{}, missingField("intervals")
			}
			return access.Schedule{ID: id, Name: b.Name, Intervals: *b.Intervals}, nil
		},
		put: b.PutSchedule, del: b.DeleteSchedule,
	}, read, admin)
	addPolicyObjects(s, g, "/holidays", policyObjects[access.Holiday, HolidayBody]{
		kind:    "holiday",
		objects: func(t *access.Table) map[string]access.Holiday { return t.Holidays },
		list:    func(v []access.Holiday) any { return HolidayList{Holidays: v} },
		object: func(id string, b HolidayBody) (access.Holiday, *apiError) {
			switch {
			case b.Date == "":
				return access.Holiday{}, missingField("date")
			case b.Type == nil:
				return access.Holiday{}, missingField("type")
			}
			return access.Holiday{ID: id, Name: b.Name, Date: b.Date, Until: b.Until, Type: *b.Type}, nil
		},
		put: b.PutHoliday, del: b.DeleteHoliday,
	}, read, admin)
	addPolicyObjects(s, g, "/levels", policyObjects[access.Level, LevelBody]{
		kind:    "level",
		objects: func(t *access.Table) map[string]access.Level { return t.Levels },
		list:    func(v []access.Level) any { return LevelList{Levels: v} },
		object: func(id string, b LevelBody) (access.Level, *apiError) {
			if b.Doors == nil {
				return access.Level{}, missingField("doors")
			}
			return access.Level{ID: id, Name: b.Name, Doors: *b.Doors}, nil
		},
		put: b.PutLevel, del: b.DeleteLevel,
	}, read, admin)
	addPolicyObjects(s, g, "/overrides", policyObjects[access.Override, OverrideBody]{
		kind:    "override",
		objects: func(t *access.Table) map[string]access.Override { return t.Overrides },
		list:    func(v []access.Override) any { return OverrideList{Overrides: v} },
		object: func(id string, b OverrideBody) (access.Override, *apiError) {
			v := access.Override{ID: id, Doors: b.Doors, Mode: b.Mode, Rank: b.Rank}
			if b.Until != nil {
				t, err := time.Parse(time.RFC3339, *b.Until)
				if err != nil {
					return v, errorf(http.StatusUnprocessableEntity, CodeInvalid, "until: must be an RFC 3339 time such as 2027-01-04T18:00:00+01:00, or null")
				}
				v.Until = &t
			}
			return v, nil
		},
		put: b.SetOverride, del: b.ClearOverride,
	}, read, admin)
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
