// Package fleettest is the fleet test that build/fleet runs: N real
// `lintel run --sim` processes, each with its own data directory, API port
// and broker account (the embedded broker off), against one real mosquitto
// configured with the pattern ACL of docs/fleet.md, and a portal built
// from the sync/portal kit. It holds a test only.
//
// TestFleet measures, and prints as one table:
//
//   - the fleet's start-up, until every gateway is healthy and the portal
//     has its current ack;
//   - events from the simulated readers of every gateway, ingested by two
//     groups of 4 workers at once: one on a shared subscription
//     ($share/...), one partitioned by gateway id; for each, events/s,
//     lost, out of order, re-sequenced and duplicates, checked against
//     every gateway's journal;
//   - one changeset, then a snapshot of 1,000 users, sent to all N and
//     applied and acknowledged by all (p50/p99/max of send → applied ack),
//     with every gateway's digest checked against the portal's;
//   - RSS and PSS per gateway, idle and after the snapshot;
//   - mosquitto killed (SIGKILL) for 30 s while the gateways journal events
//     and the portal sends a changeset, then restarted: how long until
//     every gateway is back and acknowledges the changeset, and what each
//     ingestion group received of the events.
//
// It fails when a gateway does not start, connect or acknowledge, when a
// digest differs, when the partitioned group ever loses or reorders an
// event, or when the shared group does before the restart. What the
// shared group loses across the restart is reported, not failed: mosquitto
// does not keep shared subscriptions across a restart (see
// docs/fleet.md).
//
// It runs only when given -fleet.n (build/fleet passes it); under a plain
// `go test ./...` it skips, saying so. Every process it starts is stopped
// by the test's cleanup, and on Linux dies with the test process if that
// is killed.
package fleettest
