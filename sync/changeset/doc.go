// Package changeset takes user, card and PIN changes from the cloud portal
// and applies them to the gateway's table: in order, exactly once in
// effect, all of a changeset or none of it, and says what it has actually
// applied.
//
// The wire format, the ack, the digest and the error codes are specified
// in docs/sync.md; this comment is about how the package works.
//
// # Changesets and revisions
//
// The portal numbers the states of a gateway's table with revisions. A
// delta carries the revision it builds on (base), its own revision and a
// list of ops; a snapshot carries a revision and the whole table. The store
// keeps the revision of the table it holds, written in the same Badger
// transaction as the change itself, so the revision and the table never
// disagree, not even after a power cut.
//
// [Applier.Apply] decides by revision before it touches anything:
//
//   - revision ≤ current: a duplicate, acknowledged and ignored, so the
//     portal (or MQTT's at-least-once delivery) may resend freely;
//   - a delta with base ≠ current: a gap, refused with the current revision
//     so the portal resends from there or sends a snapshot;
//   - otherwise the changeset is applied, or refused whole.
//
// A delta goes into one store transaction ([store.Store.Update]): the ops
// run in order against the transaction's view, which sees its own writes,
// so "clear u1's PIN, give it to u2" works in one changeset, and the first
// op that fails (a PIN another user holds, an unknown user) discards them
// all. A delta is limited to [MaxOps] ops and [MaxDeltaPayload] bytes so
// that it always fits one Badger transaction.
//
// A snapshot can hold far more users than a Badger transaction, so the
// store writes it as a new table generation beside the live one and
// switches with one small write ([store.Store.ReplaceAllSeq]); decisions see
// the old table or the new one, never a mix, and a crash before the switch
// leaves the old table. The payload is decoded user by user as the store
// writes, so a snapshot is never held in memory twice. A user found bad half
// way through makes the store drop what it wrote (see replaceLocked).
//
// # Strict decoding
//
// [Decode] accepts exactly the documented shape: unknown, misspelt or
// duplicate fields, fields of another op kind, unknown ops, wrong JSON
// types, trailing data and invalid UTF-8 are errors, as are ids, PINs,
// lengths, dates and cards that break their rules. Every error is an
// [*Error] with a stable [Code], the index of the failing op and a path
// into the payload ("ops[3].pin", "users[12].credentials[0].card.number"),
// so the portal can point at what to fix. The JSON layer is
// github.com/go-json-experiment/json, the reference implementation of
// encoding/json/v2, for its case-sensitive names, duplicate-name checks
// and error positions.
//
// # Secrets
//
// A PIN arrives in plain text (pin.set, snapshot users) and is hashed by
// the store on arrival. No error message, log line or ack ever contains a
// PIN the portal sent; error messages describe values by kind, never by
// content. A PIN the gateway generates (pin.generate) appears in the ack of
// that changeset and nowhere else: not in the log, not in a duplicate's
// ack, not in [Applier.Current]. If that ack is lost, the PIN is lost with
// it; the portal generates or sets another in a new changeset.
//
// # Concurrency
//
// An Applier serialises Apply and Current with one mutex, so changesets
// from MQTT (the uplink, the local broker) and HTTP take effect one at a
// time, and an ack always describes a table with no changeset half applied.
// The store publishes each change to the in-memory index the doors read in
// one step, so a decision in progress never sees half a changeset either.
package changeset
