// Package broker is Lintel's embedded MQTT broker: mochi-mqtt v2 with
// Lintel's listeners, its authentication and access control, and the
// gateway's own inline client.
//
// # What it is for
//
// Local consumers (a display by the door, a building system, a technician's
// mosquitto_sub) watch the gateway's events, door states and status on the
// embedded broker, and a local portal may push changesets to it. The topics
// are the contract in package topic. The broker is a live view, not a store:
// the journal is the one source of events, and a client that was away reads
// what it missed from the API (GET /api/v1/events?after=SEQ). The broker
// keeps no state on disk: mochi's Badger storage hook, which opens its own
// database and writes $SYS data every second, is not used; after a restart
// the gateway publishes its retained status and door states again.
//
// # Who may do what
//
// Clients are the accounts in Config.Clients (bcrypt password hashes, made
// by HashPassword) and, only when Config.Anonymous allows it, anonymous
// clients, from loopback addresses unless AllowRemote is set (`lintel run
// --sim` uses SimConfig: anonymous on its loopback listener only, so a plain
// mosquitto_sub works). Each has an ACL: the topic filters it may publish
// to and subscribe within; a subscription outside them is refused in the
// SUBACK, and each delivery is checked again. Whatever an ACL says, no
// client may publish on a '$' topic or anywhere in Lintel's namespace
// lintel/v1/ except on this gateway's lintel/v1/{gw}/sync/changes: the
// gateway's own events, status, doors and sync acks are published by its
// inline client alone, and the broker serves one gateway, so a topic under
// another gateway's id is refused too (a consumer of lintel/v1/+/events/+
// would take it for that gateway's event).
//
// Who may change the table: a changeset on sync/changes rewrites the
// users, cards and PINs, so only an account with Role RolePortal may
// publish one. Validate refuses any other account, and the anonymous
// policy, whose publish filters would match sync/changes (naming the key,
// e.g. `broker.clients[2].publish[0]: "lintel/v1/#" would let "ann" publish
// changesets on lintel/v1/gw/sync/changes; only role = "portal" accounts
// may`), and the hook refuses their publishes there whatever got through.
//
// Who may command a door: Home Assistant's lock entities send "UNLOCK" on
// lintel/v1/{gw}/doors/{door}/set, and a command unlocks a door for its
// pulse, so only an account with Role RoleHomeAssistant may publish there
// (when its filters list those topics); Validate refuses other accounts'
// and the anonymous policy's filters that would reach them, and the hook
// refuses the publishes. Config.Reserved names the topics outside
// lintel/v1/ that the gateway alone publishes (its Home Assistant
// discovery configs), so no client can put a lock of its own design, with
// a command topic of its choosing, in Home Assistant's name for a door.
// SubscribeMessages hands its handler each message with the publishing
// client's id, username and role (a Message), so the gateway can journal a
// change under the account that made it.
//
// A forbidden QoS 0 publish is dropped; a forbidden QoS 1 publish
// disconnects an MQTT 3.1.1 client and is refused in the PUBACK of an MQTT 5
// one; either way no subscriber sees it, and it is counted in
// Stats.PublishesRefused. A will message on a forbidden topic is refused at
// CONNECT, since the broker would publish it for the client (counted in
// Stats.ClientsRefused, with bad passwords and the other refusals of
// policy). Only the gateway's own messages are retained: the retain flag of
// a client's publish or will is cleared, so clients cannot fill the
// broker's memory with retained messages. '$' topics ($SYS) are closed to
// clients; Stats is the broker's report. A client id in use by another
// account is refused, so one account cannot take over another's session.
// An MQTT 5 will delay is not kept: a will is published as its client
// goes, while its client id still names its account. bcrypt comparisons
// run one at a time so a flood of connection attempts costs one core, not
// the door decisions' CPU.
//
// # Limits (see Config)
//
// At most MaxClients clients connected (64), accounts and anonymous
// clients together; anonymous clients may hold at most MaxClients -
// ReservedForAccounts of them (8 reserved by default), so a portal account
// can connect whatever anonymous clients do. Slots are counted by the auth
// hook, not by mochi: a slot is taken once a client's credentials are
// checked and given back when its connection is done. A client refused for
// want of a slot is told the server is unavailable (MQTT 5: busy), and
// counted in Stats.ClientsRefusedFull. Each subscriber may have QueueLimit
// (1024) QoS 1 messages unacknowledged and as many waiting for its socket;
// past that it loses messages, counted in Stats.MessagesDropped (and
// nothing else is), until it catches up. Packets over MaxPacketSize (1 MiB)
// close the connection.
// Retained messages never expire (mochi's default would drop them after
// 24 h, and a door state must last until it changes); the session of a
// client gone away is kept for an hour. A client has 10 s from connecting
// to send CONNECT.
//
// # Lifecycle and concurrency
//
// New validates the Config; Start binds the listeners, publishes the
// retained status "online" and serves; Close publishes "offline", waits
// briefly for it to reach subscribers, disconnects everyone and returns when
// no connection goroutine is left. Publish, Subscribe, Stats and the address
// methods may be called from any goroutine. Publish goes through mochi's
// inline client at QoS 1 and returns when the message is queued for every
// subscriber. Subscribe and SubscribeMessages handlers run on the
// publishing client's goroutine.
//
// Lintel serves connections through its own listeners (listener.go) instead
// of mochi's: mochi v2.7.9's Close races with connection set-up (upstream
// issue 541), and these listeners stop accepting, disconnect and wait for
// every connection in an order that leaves mochi nothing to race with, so
// the tests run under -race without suppressions.
package broker
