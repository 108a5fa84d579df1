package changeset

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

// Payload limits. A payload over MaxPayload is refused before it is parsed;
// a delta is further held to MaxDeltaPayload and MaxOps so that it always
// fits in one store transaction. Anything bigger is a snapshot's job.
const (
	// MaxPayload bounds every changeset, and so a snapshot. 100,000 users
	// with a PIN and a card take 16 MB with short ids and names, about
	// 25 MB with 26-character ULIDs and long names; 32 MiB holds either.
	// The payload is held in memory while it is applied, so the limit is
	// also the most a snapshot adds to the gateway's memory.
	MaxPayload = 32 << 20
	// MaxDeltaPayload bounds a changeset that carries ops.
	MaxDeltaPayload = 1 << 20
	// MaxOps bounds the number of ops in one delta. An op touches at most
	// one user, so a delta touches at most MaxOps users and the revision:
	// far below the ~3,200 entries of one store transaction.
	MaxOps = 1000
	// MaxNameLength bounds a user's display name, in bytes.
	MaxNameLength = 256
	// MaxFormatLength bounds a card format name, in bytes.
	MaxFormatLength = access.MaxFormatLength
	// MaxCredentialsPerUser bounds one user's credentials in a snapshot,
	// as the store bounds them.
	MaxCredentialsPerUser = 64
)

// OpKind names an operation of a delta. The names are the wire contract.
type OpKind string

// The operations a delta may carry.
const (
	OpUserUpsert       OpKind = "user.upsert"
	OpUserDelete       OpKind = "user.delete"
	OpPINSet           OpKind = "pin.set"
	OpPINGenerate      OpKind = "pin.generate"
	OpPINClear         OpKind = "pin.clear"
	OpCredentialAdd    OpKind = "credential.add"
	OpCredentialRemove OpKind = "credential.remove"
	OpScheduleUpsert   OpKind = "schedule.upsert"
	OpScheduleDelete   OpKind = "schedule.delete"
	OpHolidayUpsert    OpKind = "holiday.upsert"
	OpHolidayDelete    OpKind = "holiday.delete"
	OpLevelUpsert      OpKind = "level.upsert"
	OpLevelDelete      OpKind = "level.delete"
	OpDoorPolicy       OpKind = "door.policy"
	OpOverrideSet      OpKind = "override.set"
	OpOverrideClear    OpKind = "override.clear"
)

// OpKinds lists every operation in a stable order.
var OpKinds = []OpKind{
	OpUserUpsert, OpUserDelete, OpPINSet, OpPINGenerate, OpPINClear,
	OpCredentialAdd, OpCredentialRemove,
	OpScheduleUpsert, OpScheduleDelete, OpHolidayUpsert, OpHolidayDelete,
	OpLevelUpsert, OpLevelDelete, OpDoorPolicy, OpOverrideSet, OpOverrideClear,
}

// Changeset is one decoded message from the portal: either a delta (Ops,
// building on Base) or a snapshot (Users, replacing the whole table).
type Changeset struct {
	// Revision is the portal's number for the state after this changeset.
	// It is at least 1 and, in a delta, greater than Base.
	Revision uint64
	// Base is the revision a delta builds on. A snapshot may leave it zero;
	// it is not checked.
	Base uint64
	// Snapshot selects the snapshot form: Users replaces the whole table.
	Snapshot bool
	// Ops are the operations of a delta, applied in order.
	Ops []Op
	// Users is the whole table of a snapshot.
	Users []SnapshotUser
	// Policy is the policy a snapshot brings along with its users: every
	// section absent is empty, since a snapshot replaces everything.
	Policy Policy
}

// Policy is the policy sections of a snapshot, as they came.
type Policy struct {
	Schedules    []access.Schedule   `json:"schedules,omitempty"`
	Holidays     []access.Holiday    `json:"holidays,omitempty"`
	Levels       []access.Level      `json:"levels,omitempty"`
	DoorPolicies []access.DoorPolicy `json:"door_policies,omitempty"`
	Overrides    []access.Override   `json:"overrides,omitempty"`
}

// Op is one operation of a delta. Which fields an op uses depends on its
// Kind; the others are zero.
type Op struct {
	Kind OpKind
	// User is the user the op acts on. Every kind but credential.remove
	// names one.
	User string

	// Name, Enabled, ValidFrom and ValidTo are the user record of a
	// user.upsert. A zero time leaves that side of the validity open.
	Name      string
	Enabled   bool
	ValidFrom time.Time
	ValidTo   time.Time

	// PIN is the plain PIN of a pin.set. The store hashes it on arrival;
	// it is never logged and never appears in an ack.
	PIN string
	// Length is the number of digits of a pin.generate.
	Length int

	// Levels and Override are a user.upsert's levels and override flag.
	// LevelsSet says the op carried levels: without them a user keeps
	// theirs and a new user gets the default ("all"). A nil Override was
	// absent: the user keeps theirs (a new user has none).
	Levels    []string
	LevelsSet bool
	Override  *bool

	// Credential is the credential id of a credential.add or
	// credential.remove.
	Credential string
	// Card is the card of a credential.add.
	Card access.CardKey

	// ID names the object of schedule.delete, holiday.delete,
	// level.delete and override.clear.
	ID string
	// The object of schedule.upsert, holiday.upsert, level.upsert,
	// door.policy and override.set.
	Schedule     access.Schedule
	Holiday      access.Holiday
	Level        access.Level
	DoorPolicy   access.DoorPolicy
	DoorOverride access.Override
}

// String describes the op for messages and logs. It never includes the PIN.
func (o Op) String() string {
	switch o.Kind {
	case OpCredentialRemove:
		return fmt.Sprintf("%s %q", o.Kind, o.Credential)
	case OpCredentialAdd:
		return fmt.Sprintf("%s %q for user %q", o.Kind, o.Credential, o.User)
	case OpScheduleUpsert:
		return fmt.Sprintf("%s %q", o.Kind, o.Schedule.ID)
	case OpHolidayUpsert:
		return fmt.Sprintf("%s %q", o.Kind, o.Holiday.ID)
	case OpLevelUpsert:
		return fmt.Sprintf("%s %q", o.Kind, o.Level.ID)
	case OpDoorPolicy:
		return fmt.Sprintf("%s of door %q", o.Kind, o.DoorPolicy.Door)
	case OpOverrideSet:
		return fmt.Sprintf("%s %q", o.Kind, o.DoorOverride.ID)
	case OpScheduleDelete, OpHolidayDelete, OpLevelDelete, OpOverrideClear:
		return fmt.Sprintf("%s %q", o.Kind, o.ID)
	default:
		return fmt.Sprintf("%s user %q", o.Kind, o.User)
	}
}

// GoString keeps %#v from printing the PIN.
func (o Op) GoString() string { return "changeset.Op{" + o.String() + "}" }

// LogValue keeps slog from printing the PIN.
func (o Op) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("op", string(o.Kind)),
		slog.String("user", o.User),
		slog.String("credential", o.Credential),
	)
}

// SnapshotUser is one user of a snapshot with everything the table holds
// about them. It has the shape of the store's snapshot record, so a decoded
// snapshot goes to the store without a copy.
type SnapshotUser = store.SnapshotUser
