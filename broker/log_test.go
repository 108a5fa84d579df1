package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMochiLogDropsPacketsAndDemotesInfo(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(mochiLog{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	changeset := packets.Packet{TopicName: "lintel/v1/gw1/sync/changes", Payload: []byte(`{"pin":"482913"}`)}

	log.Info("client connected", "client", "c1")
	if buf.Len() != 0 {
		t.Fatalf("an Info record of mochi's reached an Info log: %s", buf.String())
	}
	log.Warn("error processing packet", "error", "boom", "client", "c1", "pk", changeset)
	log.With("packet", changeset).Error("failed publishing packet", "payload", string(changeset.Payload))
	got := buf.String()
	if strings.Contains(got, "482913") {
		t.Fatalf("a payload reached the log: %s", got)
	}
	for _, want := range []string{"mqtt: error processing packet", "client=c1", "error=boom", "mqtt: failed publishing packet"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}
