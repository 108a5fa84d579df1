// Package topic is Lintel's MQTT topic contract: the names the gateway
// publishes and listens on, the same on the embedded broker and on the cloud
// broker, and the MQTT filter rules the broker's access control is built on.
//
// The contract (DESIGN.md, "MQTT topics"), with {gw} the gateway id:
//
//	lintel/v1/{gw}/events/{reader}   gateway →  QoS 1           one journal event
//	lintel/v1/{gw}/status            gateway →  QoS 1, retained StatusOnline, a health summary, or StatusOffline (the last will)
//	lintel/v1/{gw}/doors/{door}      gateway →  QoS 1, retained the door's state
//	lintel/v1/{gw}/sync/changes      → gateway  QoS 1           a changeset
//	lintel/v1/{gw}/sync/acks         gateway →  QoS 1           the apply result
//	lintel/v1/{gw}/doors/{door}/set  → gateway  QoS 1           a door command (UNLOCK), from Home Assistant
//
// The builders (Events, Status, Door, SyncChanges, SyncAcks and the filters)
// take the ids they put into a topic and check them with CheckID first: an id
// is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a
// digit. A '/', '+', '#', a leading '$' or an empty id would change what a
// topic means, so such an id is an error, never a topic. Configuration should
// check gateway, reader and door names with CheckID at load time, so the
// builders' errors can only mean a bug.
//
// Parse is the reverse, for topics that arrive from outside (a message on the
// cloud broker, a client's publish on the embedded one): it names the kind of
// topic and the ids in it, or says why the topic is not Lintel's.
//
// InNamespace says whether a topic is under Prefix at all: the embedded
// broker keeps that whole namespace for its gateway.
//
// Match, Covers, Overlap, ValidName and ValidFilter implement MQTT 3.1.1/5 topic
// filter semantics ('+' one level, '#' the rest, topics starting with '$'
// not matched by a leading wildcard), which the embedded broker's access
// control lists use.
//
// The package imports nothing of Lintel's, so the broker and the uplink share
// one contract. All functions are pure and safe for concurrent use.
package topic
