package gateway

import (
	"fmt"

	"github.com/lintel-access/lintel/broker/topic"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink"
)

// Every changeset, whichever transport brings it, goes through g.inbox: the
// uplink (uplinkSync), the embedded broker (onBrokerChanges) and the API
// (backend.HandleChanges). The inbox's one worker applies them in arrival
// order and runs under the same errgroup as the other components.

// Audit events of the sync table. They name the actor, never a PIN.
const (
	TypeSyncApplied = "sync.applied"
	NameSyncApplied = "Sync Changeset Applied"
	TypeSyncReset   = "sync.reset"
	NameSyncReset   = "Sync Revision Reset"
)

// Actors of changesets, as the audit names them.
const (
	// actorPortal is the portal: over the uplink, or with a portal token
	// over HTTP.
	actorPortal = "portal"
	// actorLocalBroker prefixes the account that published a changeset
	// on the embedded broker.
	actorLocalBroker = "local-broker"
)

// localBrokerActor names the embedded broker's client that published a
// changeset: "local-broker:<username>", or "local-broker" when the
// username is not known (an anonymous client, or a broker that does not
// say who published).
func localBrokerActor(username string) string {
	if username == "" {
		return actorLocalBroker
	}
	return actorLocalBroker + ":" + username
}

// onSyncApplied journals the audit event of an applied changeset. It runs
// on the inbox's worker, before the ack goes out.
func (g *Gateway) onSyncApplied(actor string, ack changeset.Ack, changes changeset.Changes) {
	g.appendEvent(access.Event{Type: TypeSyncApplied, Name: NameSyncApplied, Actor: actor, Detail: fmt.Sprintf(
		"revision %d applied by %s: %s (now %d users, %d credentials, %d PINs)",
		ack.Revision, actor, changes, ack.Counts.Users, ack.Counts.Credentials, ack.Counts.PINs)})
}

// resetSync sets the sync revision back to rev for an operator, journals
// it, and returns the current ack, which it also announces on the
// embedded broker's sync/acks.
func (g *Gateway) resetSync(actor string, rev uint64) ([]byte, error) {
	from, ack, err := g.sync.Reset(rev)
	if err != nil {
		return nil, err
	}
	g.appendEvent(access.Event{Type: TypeSyncReset, Name: NameSyncReset, Actor: actor, Detail: fmt.Sprintf(
		"sync revision reset from %d to %d by %s", from, rev, actor)})
	b := changeset.MarshalAck(ack)
	g.publishLocalAck(b)
	return b, nil
}

// onBrokerChanges takes a changeset published on the embedded broker by
// username. It runs on the publishing client's connection goroutine and
// does not block: the inbox queues it or refuses it at once.
func (g *Gateway) onBrokerChanges(username string, payload []byte) {
	g.inbox.Submit(localBrokerActor(username), payload, func(ack changeset.Ack) {
		g.publishLocalAck(changeset.MarshalAck(ack))
	})
}

// publishLocalAck publishes an ack on the embedded broker's sync/acks.
func (g *Gateway) publishLocalAck(ack []byte) {
	if g.broker == nil {
		return
	}
	acks, err := topic.SyncAcks(g.cfg.Gateway.ID)
	if err == nil {
		err = g.broker.Publish(acks, ack, false)
	}
	if err != nil {
		g.log.Warn("publishing sync ack", "err", err)
	}
}

// The uplink hands its changesets to the inbox, as the portal's, through
// a changeset.Transport.
var _ uplink.SyncHandler = changeset.Transport{}
