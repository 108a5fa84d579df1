// Package portal is a kit for the cloud side of a Lintel fleet: the
// portal that keeps hundreds or thousands of gateways' user tables in step
// and takes in their events. It speaks the gateway's contracts
// (docs/mqtt.md, docs/sync.md) through the cloud broker, and is what
// build/fleet runs against real gateways; docs/fleet.md has the broker
// configuration and the figures.
//
// # Sending changes: Syncer
//
// A [Syncer] holds, per gateway, the latest revision the portal has sent
// and the deltas that led to it (the last [SyncConfig.History]). Every ack
// a gateway publishes goes to [Syncer.HandleAck], which records the
// revision, counts and digest the gateway says it holds and decides:
//
//   - applied or duplicate: the gateway is where it says; nothing is sent,
//     since later changesets may simply be on their way;
//   - current, the ack a gateway publishes on every connect: if it is
//     behind, everything from its revision on is resent;
//   - refused with code gap (a changeset got lost, or was dropped by the
//     gateway's queue): the same resend, from the revision in the ack;
//   - refused for its content (pin_in_use, not_found, ...): the portal's
//     mistake; the Syncer drops that changeset and those built on it, sets
//     the gateway's latest revision back to the one applied and says so in
//     [GatewayState.Refused], and the portal sends a corrected changeset.
//
// A resend from a revision older than the history, or one the portal never
// made (a gateway whose data was wiped comes back at 0), is a snapshot
// from [SyncConfig.Snapshot]. A resend for a gap is not repeated within
// RetryAfter (three gap acks for one loss make one resend); one for a
// current ack always goes out, since a gateway's session is clean and
// nothing sent before its connect reached it. [Syncer.Retry] resends
// what went unanswered for RetryAfter, for a changeset lost on its way to
// a gateway that stayed connected and so sends no current ack. An applied,
// duplicate or refused ack older than one already taken is ignored, so
// acks delivered out of order cannot move a gateway back.
//
// The changesets are the changeset package's types, encoded with
// [changeset.Encode]. A [Table] is a gateway's whole table, its access
// policy and its users: [Snapshot] builds a snapshot of one, [Diff] the
// ops between two, and [Delta] a delta that fits the gateway's limits (or
// a snapshot when it would not). Diff orders the ops as the gateway checks
// them: schedules before the levels that name them, levels before the
// users that hold them, a PIN or a card that moves from one user to
// another freed before it is taken, and what is gone deleted once nothing
// names it. [Digest] is the table digest as docs/sync.md defines it, to
// compare with the digest in an ack.
//
// [Client] is the MQTT side of sync: it publishes changesets on
// lintel/v1/{gw}/sync/changes (QoS 1, waiting for the broker's PUBACK)
// and subscribes, with a persistent session, to lintel/v1/+/sync/acks
// with a plain subscription: acks are few, one subscriber sees each
// gateway's acks in the order it sent them, and the broker keeps them
// while the portal is away. It hands acks to the Syncer on goroutines of
// its own, never on paho's, since a resend from there would wait for a
// PUBACK that paho cannot deliver while its handler is busy; there are 16,
// each for the gateways hashed to it, so that one gateway's acks are taken
// in order while the resends a fleet's reconnect asks for wait for their
// PUBACKs side by side (in build/fleet, one at a time made the last of 200
// gateways wait 30 s for its resend).
//
// # Taking events: Ingester and Sequencer
//
// An [Ingester] runs the ingestion workers, MQTT connections with
// persistent sessions, and hands every event they receive to a
// [Sequencer], which calls the portal's Handle once per event, in seq
// order per gateway.
//
// With the [Shared] strategy every worker subscribes to
// $share/{group}/lintel/v1/+/events/+ and the broker hands each message to
// one of them: mosquitto round-robin, VerneMQ at random, EMQX by its
// configured strategy. So consecutive events of one gateway go to
// different workers. Each worker receives its share in order, but the
// workers run side by side: worker A may be handing over event 6 while
// worker B, a moment behind, still holds event 5. A portal that handled
// events where they arrive would write 6 before 5 and, since a gateway
// resends what the broker did not acknowledge, sometimes write one twice.
// (In TestIngest, 12 gateways of 150 events on mosquitto, about two
// thirds of the events reach the Sequencer before an earlier event of
// their gateway.)
//
// The Sequencer undoes that. It hashes the gateway id to one of its shards
// (goroutines), so every event of a gateway goes through the same one,
// whichever worker took it, and no two workers ever handle one gateway at
// the same time. The shard keeps, per gateway, the next seq it expects:
// an event below it is a duplicate (seq is gap-free per gateway and the
// event id is "<gateway>-<seq>", so this is de-duplication by event id)
// and is dropped; the expected event is handled, with any that arrived
// early and now follow on; an event above it waits. If the missing event
// has not come within [SequencerConfig.GapTimeout], the missing range is
// given up, reported to Lost, and what follows is handled; should one of
// them arrive after all, it goes to Late, once. A shared subscription
// usually reorders by milliseconds, but one worker can fall behind the
// others by much more when the portal is short of CPU: in build/fleet, 200
// gateways and the portal on 2 cores, more than 5 s, so the default is
// 30 s. A portal that persists each gateway's last handled seq gives it
// back through Start after a restart.
//
// A Sequencer orders events within one process. When several portal
// processes share the subscription, one gateway's events reach several
// processes and no in-process sequencer sees them all. Then either the
// broker must keep a gateway on one subscriber (EMQX's
// shared_subscription_strategy = hash_clientid hashes the publisher's
// client id, which is the gateway id), or the processes must split the
// fleet themselves with the [Partitioned] strategy (each process taking
// the gateways [WorkerOf] assigns to its workers), or the ordering must
// happen where the events meet, in the database (store an event only if
// its seq is the gateway's last plus one, in one transaction).
//
// With the Partitioned strategy each worker subscribes to the events
// topics of the gateways hashed to it, one plain subscription per gateway:
// "hash by client id" done by the portal, for brokers without such a
// strategy. A gateway's events then reach one worker, in the order the
// broker received them, and the Sequencer only drops duplicates. Plain
// subscriptions of a persistent session also outlive a broker restart
// where the broker persists sessions; mosquitto 2.0 persists plain
// subscriptions but not shared ones (its persistence writes only a topic
// node's plain subscribers), so after a mosquitto restart a Shared
// ingester has no subscription until its workers resubscribe, and what
// gateways publish in between is acknowledged by mosquitto and dropped.
// TestIngestBrokerRestart shows both. The workers resubscribe on every
// connect and retry fast (50 ms doubling to 2 s, where a gateway's backoff
// starts at 500 ms and grows to 60 s), so they are usually back first; but
// a gateway that reconnects before them loses those events to the portal.
//
// A worker acknowledges an event to the broker once the Sequencer has
// queued it, not once Handle has run: with a shared subscription, holding
// acknowledgements until the events before them are handled could leave
// each of two workers waiting for an event the broker will not send the
// other until it acknowledges. So events queued in memory when the
// portal process dies are gone from the broker; with Start, the restarted
// portal sees them as a gap and reports them to Lost.
//
// # Concurrency
//
// Syncer, Sequencer, Ingester and Client are safe for concurrent use.
// Handle is called from the Sequencer's shard goroutines: never twice at
// once for one gateway, concurrently for gateways of different shards.
// The Sequencer, Ingester and Client each run under Run(ctx) and return
// when ctx is done.
package portal
