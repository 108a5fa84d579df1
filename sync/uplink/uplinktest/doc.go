// Package uplinktest provides what tests of the uplink, and of anything
// wired to it, need around a real cloud broker.
//
// [MemJournal] and [MemCursor] are in-memory implementations of
// [uplink.Journal] and [uplink.Cursor]; [FileJournal] and [FileCursor] keep
// the same state in files, for tests that kill a process and start it again.
// [Handler] is a [uplink.SyncHandler] that records the changesets it is
// given and acknowledges each with a revision number.
//
// On the cloud side, [Subscriber] records what a broker delivers on a topic
// filter, and [CheckDelivery] checks the uplink's promise about a stream of
// sequence numbers: every event from first to last, in order, duplicates
// allowed only as a resend of events already seen. [MosquittoSub] collects
// a gateway's events with the broker's own client, mosquitto_sub, in a
// persistent session, checking each event's topic and id as it comes and
// the sequence with CheckDelivery: the benchmarks' witness that a drain
// lost nothing.
//
// Everything here is safe for concurrent use unless its documentation says
// otherwise.
package uplinktest
