package changeset

import (
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// testTime is the clock of every test ack.
var testTime = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testTime }

// openStore opens a store in dir (its database in dir/db, its key in
// dir/device.key) and closes it when the test ends.
func openStore(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	s, err := store.Open(storeOptions(dir))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func storeOptions(dir string) store.Options {
	return store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: "gw1",
		Site: storetest.Site()}
}

// newApplier returns an applier on a fresh store, and its log.
func newApplier(tb testing.TB) (*Applier, *store.Store, *logtest.Buffer) {
	tb.Helper()
	s := openStore(tb, tb.TempDir())
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(s, fixedNow, log), s, &logs
}

// encode renders cs or fails the test.
func encode(tb testing.TB, cs Changeset) []byte {
	tb.Helper()
	b, err := Encode(cs)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return b
}

// snapshotPayload renders a snapshot of the benchmark policy (256
// schedules, 1,000 levels; storetest.BenchPolicy) and n users, each with an
// 8-digit PIN, one H10301 card and 1 to 8 levels. variant changes every name, PIN and card, so two
// variants share ids but no content. It writes the JSON directly: a 100k
// user snapshot is built in a few milliseconds and one buffer.
func snapshotPayload(n int, rev uint64, variant int) []byte {
	// Sized exactly, as a payload read off the network is.
	size := len(appendSnapshot(nil, 0, rev, variant))
	var scratch []byte
	for i := range n {
		scratch = appendSnapshotUser(scratch[:0], i, variant)
		size += len(scratch) + 1
	}
	if n > 0 {
		size-- // no comma before the first user
	}
	return appendSnapshot(make([]byte, 0, size), n, rev, variant)
}

// benchPolicyJSON is the benchmark policy's sections, as a snapshot
// carries them, without the braces: `"schedules":[...],...,`.
var benchPolicyJSON = func() []byte {
	b, err := json.Marshal(encodePolicy(PolicyOf(storetest.BenchPolicy(storetest.Site()))))
	if err != nil {
		panic(err)
	}
	return append(b[1:len(b)-1], ',')
}()

func appendSnapshot(b []byte, n int, rev uint64, variant int) []byte {
	b = append(b, `{"revision":`...)
	b = strconv.AppendUint(b, rev, 10)
	b = append(b, `,"snapshot":true,`...)
	b = append(b, benchPolicyJSON...)
	b = append(b, `"users":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSnapshotUser(b, i, variant)
	}
	return append(b, "]}"...)
}

func appendSnapshotUser(b []byte, i, variant int) []byte {
	id := strconv.Itoa(i)
	b = append(b, `{"id":"u`...)
	b = append(b, id...)
	b = append(b, `","name":"User `...)
	b = append(b, id...)
	b = append(b, ` v`...)
	b = strconv.AppendInt(b, int64(variant), 10)
	b = append(b, `","enabled":true,"levels":[`...)
	for j, l := range storetest.BenchUserLevels(i) {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, l)
	}
	b = append(b, `],"pin":"`...)
	b = append(b, snapshotPIN(i, variant)...)
	b = append(b, `","credentials":[{"id":"c`...)
	b = append(b, id...)
	b = append(b, `","card":{"format":"H10301","facility":`...)
	b = strconv.AppendInt(b, int64(variant%256), 10)
	b = append(b, `,"number":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `}}]}`...)
}

// snapshotPIN is user i's PIN in a snapshot variant: 8 digits, distinct
// across users.
func snapshotPIN(i, variant int) string {
	v := 10_000_000 + (i*7919+variant*1_000_003)%90_000_000
	if pin := strconv.Itoa(v); !access.IsTrivial(pin) {
		return pin
	}
	// The few trivial ones (12345678, 10001000) move past the range the
	// others use.
	return strconv.Itoa(v%10_000_000 + 100_000_000)[1:]
}

// decodeAck parses an ack's JSON strictly.
func decodeAck(tb testing.TB, b []byte) Ack {
	tb.Helper()
	var a Ack
	if err := json.Unmarshal(b, &a, json.RejectUnknownMembers(true)); err != nil {
		tb.Fatalf("ack %s: %v", b, err)
	}
	return a
}

// handleChanges applies payload and returns the ack as the transports send
// it.
func handleChanges(a *Applier, payload []byte) []byte { return MarshalAck(a.Apply(payload)) }
