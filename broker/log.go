package broker

import (
	"context"
	"log/slog"
)

// mochiLog adapts the gateway's log for mochi. mochi logs its start-up and
// each connection at Info; those become Debug, so the gateway's log shows
// Lintel's own account of the broker. mochi also attaches whole packets to
// some records ("pk", "packet"); a PUBLISH packet's payload may be a
// changeset carrying a PIN, so those attributes are dropped, never logged.
type mochiLog struct{ h slog.Handler }

var _ slog.Handler = mochiLog{}

func (m mochiLog) Enabled(ctx context.Context, l slog.Level) bool {
	return m.h.Enabled(ctx, demote(l))
}

func (m mochiLog) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, demote(r.Level), "mqtt: "+r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !secretKey(a.Key) {
			out.AddAttrs(a)
		}
		return true
	})
	return m.h.Handle(ctx, out)
}

func (m mochiLog) WithAttrs(as []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if !secretKey(a.Key) {
			kept = append(kept, a)
		}
	}
	return mochiLog{m.h.WithAttrs(kept)}
}

func (m mochiLog) WithGroup(name string) slog.Handler { return mochiLog{m.h.WithGroup(name)} }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

// secretKey names the attributes mochi uses for packets and payloads.
func secretKey(k string) bool {
	switch k {
	case "pk", "packet", "payload", "data", "password":
		return true
	}
	return false
}
