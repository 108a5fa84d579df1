package changeset

// The wire shapes of ops and snapshot users, one struct per op kind so that
// a field that belongs to another kind is refused like any unknown field.
// Pointers mark fields that must be present even when their value is the
// zero value (enabled: false, facility: 0, base: 0). The omit options only
// shape what Encode writes; decoding ignores them.

type wireUserUpsert struct {
	Op        OpKind  `json:"op"`
	User      string  `json:"user"`
	Name      string  `json:"name,omitempty"`
	Enabled   *bool   `json:"enabled"`
	ValidFrom *string `json:"valid_from,omitempty"`
	ValidTo   *string `json:"valid_to,omitempty"`
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
	Revision uint64     `json:"revision"`
	Base     uint64     `json:"base,omitzero"`
	Snapshot bool       `json:"snapshot"`
	Users    []wireUser `json:"users"`
}
