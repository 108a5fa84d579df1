package changeset

import (
	"github.com/lintel-access/lintel/gateway/access"
)

// The wire shapes of ops and snapshot users, one struct per op kind so that
// a field that belongs to another kind is refused like any unknown field.
// Pointers mark fields that must be present even when their value is the
// zero value (enabled: false, facility: 0, base: 0). The omit options only
// shape what Encode writes; decoding ignores them.

type wireUserUpsert struct {
	Op        OpKind    `json:"op"`
	User      string    `json:"user"`
	Name      string    `json:"name,omitempty"`
	Enabled   *bool     `json:"enabled"`
	ValidFrom *string   `json:"valid_from,omitempty"`
	ValidTo   *string   `json:"valid_to,omitempty"`
	Levels    *[]string `json:"levels,omitzero"`
	Override  *bool     `json:"override,omitzero"`
}

// wireIDRef is schedule.delete, holiday.delete, level.delete and
// override.clear: an op and an object id.
type wireIDRef struct {
	Op OpKind `json:"op"`
	ID string `json:"id"`
}

// The policy objects, as ops carry them (with "op") and snapshot sections
// list them (without).

type wireSchedule struct {
	ID        string             `json:"id"`
	Name      string             `json:"name,omitempty"`
	Intervals *[]access.Interval `json:"intervals"`
}

type wireHoliday struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Date  string `json:"date"`
	Until string `json:"until,omitempty"`
	Type  *int   `json:"type"`
}

type wireLevel struct {
	ID    string              `json:"id"`
	Name  string              `json:"name,omitempty"`
	Doors *[]access.LevelDoor `json:"doors"`
}

type wireDoorPolicy struct {
	Door  string               `json:"door"`
	Modes *[]access.PolicyMode `json:"modes"`
}

type wireOverride struct {
	ID    string          `json:"id"`
	Doors []string        `json:"doors"`
	Mode  access.DoorMode `json:"mode"`
	Rank  int             `json:"rank,omitzero"`
	Until *string         `json:"until"`
}

type (
	opSchedule struct {
		Op OpKind `json:"op"`
		wireSchedule
	}
	opHoliday struct {
		Op OpKind `json:"op"`
		wireHoliday
	}
	opLevel struct {
		Op OpKind `json:"op"`
		wireLevel
	}
	opDoorPolicy struct {
		Op OpKind `json:"op"`
		wireDoorPolicy
	}
	opOverride struct {
		Op OpKind `json:"op"`
		wireOverride
	}
)

// wirePolicy is a snapshot's policy sections.
type wirePolicy struct {
	Schedules    []wireSchedule   `json:"schedules,omitempty"`
	Holidays     []wireHoliday    `json:"holidays,omitempty"`
	Levels       []wireLevel      `json:"levels,omitempty"`
	DoorPolicies []wireDoorPolicy `json:"door_policies,omitempty"`
	Overrides    []wireOverride   `json:"overrides,omitempty"`
}

// wireUserRef is user.delete and pin.clear: an op and a user.
type wireUserRef struct {
	Op   OpKind `json:"op"`
	User string `json:"user"`
}

type wirePINSet struct {
	Op   OpKind  `json:"op"`
	User string  `json:"user"`
	PIN  *string `json:"pin"`
}

type wirePINGenerate struct {
	Op     OpKind `json:"op"`
	User   string `json:"user"`
	Length *int   `json:"length"`
}

type wireCredentialAdd struct {
	Op   OpKind    `json:"op"`
	User string    `json:"user"`
	ID   string    `json:"id"`
	Card *wireCard `json:"card"`
}

type wireCredentialRemove struct {
	Op OpKind `json:"op"`
	ID string `json:"id"`
}

type wireCard struct {
	Format   string  `json:"format"`
	Facility *uint32 `json:"facility"`
	Number   *uint64 `json:"number"`
}

type wireUser struct {
	ID          string           `json:"id"`
	Name        string           `json:"name,omitempty"`
	Enabled     *bool            `json:"enabled"`
	ValidFrom   *string          `json:"valid_from,omitempty"`
	ValidTo     *string          `json:"valid_to,omitempty"`
	Levels      *[]string        `json:"levels,omitzero"`
	Override    bool             `json:"override,omitempty"`
	PIN         *string          `json:"pin,omitempty"`
	Credentials []wireCredential `json:"credentials,omitempty"`
}

type wireCredential struct {
	ID   string    `json:"id"`
	Card *wireCard `json:"card"`
}

type wireDelta struct {
	Revision uint64 `json:"revision"`
	Base     uint64 `json:"base"`
	Ops      []any  `json:"ops"`
}

type wireSnapshot struct {
	Revision uint64 `json:"revision"`
	Base     uint64 `json:"base,omitzero"`
	Snapshot bool   `json:"snapshot"`
	wirePolicy
	Users []wireUser `json:"users"`
}
