// Package uplink forwards the gateway's event journal to a cloud MQTT broker
// and takes sync changesets back from it.
//
// # The promise
//
// Every journaled event reaches the cloud broker, in journal order, at least
// once: after a network outage, a broker restart, a gateway restart or a
// crash. Duplicates are possible (an event whose PUBACK was not yet known
// when the connection or the process died is sent again); losses and
// reordering are not. Nothing the uplink does can slow a door: it only reads
// the journal, through [Journal], and never sits in the path that appends
// to it. A stalled cloud broker stalls the uplink and nothing else.
//
// # How
//
// The journal is the outbox. The uplink keeps one number, the [Cursor]: the
// last sequence the cloud broker has acknowledged, with everything before
// it. On start it loads the cursor and publishes the journal from there;
// the cursor moves only over publishes whose PUBACK has arrived, oldest
// first. It is saved by a goroutine of its own, at most every 50 ms while
// it moves and once more when Run ends, so a durable Save (an fsync) never
// holds up the PUBACKs or the publishes behind it. A crash therefore costs
// at most a resend of what was in flight or not yet saved.
//
// paho's own delivery machinery is deliberately not used. Its automatic
// reconnect can complete a publish token without error for a message the
// broker never received (paho.mqtt.golang issue 563), and its file store
// never fsyncs. So each connection is a fresh paho client with a clean
// session, no reconnect and an in-memory store, used once and thrown away.
// A publish counts only when its token completes without error while the
// connection that sent it is still the live one; on any doubt (an error, a
// connection lost, a PUBACK overdue by [Config.AckTimeout]) the connection
// is dropped and the next one resends from the cursor. Up to
// [Config.Window] publishes are in flight at once, which is what makes a
// backlog of 100,000 events drain in seconds rather than minutes: a
// window's worth per round trip to the broker. The journal is read ahead
// in batches of half a window to a window, and each slot a PUBACK frees is
// filled at once; the uplink holds at most two windows of events (one in
// flight, one read ahead). Filling slot by slot matters with brokers that
// leave Nagle's algorithm on (mosquitto by default): such a broker holds
// its next PUBACKs until the gateway acknowledges the last segment, and
// while a backlog drains it is the publish filling the freed slot that
// carries that ACK (see below). A window refilled in large steps stalled
// on the gateway's delayed ACK instead: 100,000 events took 19 s on
// mosquitto's defaults, 8 s on the same machine with set_tcp_nodelay on.
// On shutdown the uplink waits up to a second for the PUBACKs in flight
// and saves the cursor, so an orderly restart resends little or nothing.
//
// The uplink opens the network connection itself (tcp, TLS, WebSocket,
// honouring a SOCKS proxy from the environment as paho does), so that an
// attempt stops the moment Run's context is done, and so that paho's
// traffic is batched: its byte-at-a-time packet reads go through a buffer
// (unbuffered, every PUBACK cost three system calls), and its one-write-
// per-packet output is gathered by a flusher goroutine into one write per
// batch, each with its own deadline, so a broker that stops reading fails
// the connection instead of hanging it.
//
// On Linux a direct tcp or tls connection also acknowledges what it
// receives at once (TCP_QUICKACK, set again after every read). mosquitto's
// default, like most brokers', is Nagle's algorithm on (set_tcp_nodelay
// false): it holds a small packet back while an earlier one is
// unacknowledged, and Linux delays a bare ACK by up to 40 ms. A changeset
// that came after a PUBACK the gateway had no reply to therefore waited in
// the broker for that ACK; acknowledging at once takes a change from the
// portal to the door in about a millisecond instead of up to 40, whatever
// the broker's settings. While a backlog drains, the uplink's own publishes
// carry the ACKs and acknowledging at once is turned off, since it only
// made the broker send its PUBACKs in more, smaller segments. WebSocket
// connections (dialled by paho) and connections through a SOCKS proxy keep
// the system's delayed ACKs.
//
// Connection attempts repeat forever, with exponential backoff from
// [Config.BackoffMin] to [Config.BackoffMax] and jitter; the backoff starts
// again from the bottom once a connection has stayed up for BackoffMax.
//
// # Topics
//
// The topics come from the contract in package broker/topic (DESIGN.md);
// for gateway {gw}:
//
//	lintel/v1/{gw}/events/{reader}  QoS 1            each journal entry, under its reader ("gateway" for none)
//	lintel/v1/{gw}/status           QoS 1, retained  a health summary; last will "offline"
//	lintel/v1/{gw}/doors/{door}     QoS 1, retained  door state, set with SetRetained
//	lintel/v1/{gw}/sync/changes     subscribed, QoS 1
//	lintel/v1/{gw}/sync/acks        QoS 1            the apply results
//
// On every connect the uplink subscribes to sync/changes, publishes
// [SyncHandler.CurrentAck] on sync/acks so the portal learns which revision
// is applied and resends what is missing (no broker-side session queue is
// relied on), and republishes every retained topic given to
// [Uplink.SetRetained]; until the gateway sets a status, the retained status
// is "online". An orderly shutdown sets the status to "offline" itself,
// since a clean disconnect does not fire the last will. Events of a reader
// whose name cannot be a topic level are published under "gateway" (and
// logged) rather than dropped.
//
// Changesets are handed to the SyncHandler as they arrive, in arrival
// order, and the uplink does not wait for them: the handler (the gateway's
// sync inbox) queues them for its own worker, so a long apply (a
// 100,000-user snapshot) never holds up PUBACKs, and refuses at once, with
// an ack, what does not fit. Each ack is published on sync/acks from a
// goroutine of the uplink's, in the order the acks were made; up to 256 may
// wait for a slow connection, and beyond that an ack is dropped and counted
// in [State.AcksDropped]. That loses nothing the portal cannot see: it
// treats a missing ack as it treats a lost one, resends, and gets a
// duplicate's ack with the revision (or the current ack on the next
// connect).
//
// # Durability
//
// The uplink holds no event of its own: what the journal keeps, it
// delivers. A kill -9 of the gateway costs duplicates only, the events
// published after the last saved cursor, at most a window's worth plus
// whatever was acknowledged since the last save (at most 50 ms of PUBACKs
// while a backlog drains, plus one Save's time).
// A power cut costs the same, provided the Cursor's Save is durable; a
// cursor that comes back older than it was (a Save that did not reach the
// disk) costs more duplicates, never a loss. The loss a power cut can cause
// is the journal's: events not yet committed to it (see the store's
// durability promise) never existed as far as the uplink knows.
//
// # Use
//
//	u, err := uplink.New(cfg, gatewayID, journal, cursor, syncHandler, log)
//	...
//	status, _ := topic.Status(gatewayID)
//	u.SetRetained(status, healthJSON)
//	g.Go(func() error { return u.Run(ctx) })
//
// Run returns when its context is done. State and SetRetained may be called
// from any goroutine at any time; SetRetained never waits on the network.
//
// The uplinktest package has in-memory and file-backed Journal and
// Cursor implementations, a recording SyncHandler and a cloud-side
// subscriber for tests.
package uplink
