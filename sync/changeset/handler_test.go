package changeset_test

import (
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink"
)

// The applier is the uplink's sync handler. The check lives in a test so
// that changeset does not import the transport that carries it.
var _ uplink.SyncHandler = (*changeset.Applier)(nil)
