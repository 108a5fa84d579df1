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
//   - revision more than [MaxRevisionJump] (2^32) past current: refused,
//     so no single changeset can park the table at a revision (2^64-1) no
//     later changeset can follow;
//   - a delta with base ≠ current: a gap, refused with the current revision
//     so the portal resends from there or sends a snapshot;
//   - otherwise the changeset is applied, or refused whole.
//
// When the revision is wrong anyway (put there before these checks, or by
// a portal that lost its numbering), [Applier.Reset] sets it back, keeping
// the table; the gateway offers it to admins as `lintel sync reset`.
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
// # Trust
//
// Whoever can deliver a changeset can change who opens the doors. An
// Applier made with public keys ([Config.Keys], a [Keyring]) applies only
// changesets the portal signed: the payload is a signed envelope, one line
// naming the key and carrying an Ed25519 signature, then the changeset's
// bytes exactly as signed ([Sign], [SignedMessage]). The signature covers a
// context string, the gateway's id and the SHA-256 of those bytes, so a
// changeset signed for one gateway is refused by the others, and nothing
// is re-encoded, so the envelope travels unchanged over MQTT 3.1.1 and HTTP.
// The signature is checked before anything is decoded; an unsigned or
// badly signed payload is refused unread (unsigned, bad_signature).
//
// # The inbox
//
// The Applier serialises what it is given, but the order in which callers
// reach its lock is no order at all: one goroutine per changeset reorders
// a burst, and every changeset held by a waiting goroutine costs memory.
// So every transport submits to one [Inbox] instead: a queue bounded by
// count and bytes ([DefaultInboxChangesets], [DefaultInboxBytes]; a
// changeset of any size is taken when the inbox is empty) with one worker,
// [Inbox.Run], that applies changesets in the order they were submitted.
// [Inbox.Submit] never blocks, so a transport may call it from the
// goroutine that delivers its messages: what does not fit is refused at
// once, unread, with code busy, and every submission gets exactly one
// reply, also when the inbox stops. The inbox names the actor of each
// applied changeset to [InboxConfig.OnApplied], where the gateway journals
// its audit event; the ack itself is the same whoever sent it.
//
// HTTP status codes are not this package's: the API maps the codes, which
// are the wire contract, onto HTTP.
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
// An Applier serialises Apply, Reset and Current with one mutex, so an ack
// always describes a table with no changeset half applied; the Inbox in
// front of it makes the order of changesets the order they arrived in,
// whichever transport (the uplink, the local broker, HTTP) brought them.
// An ack refused unread (busy) is made without waiting for an apply in
// progress, from the store's state at that moment.
// The store publishes each change to the in-memory index the doors read in
// one step, so a decision in progress never sees half a changeset either.
package changeset
