package uplinktest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/sync/uplink"
)

func TestCheckDelivery(t *testing.T) {
	tests := []struct {
		name        string
		seqs        []uint64
		first, last uint64
		want        string // error prefix; "" for nil
	}{
		{"in order", []uint64{1, 2, 3}, 1, 3, ""},
		{"resend from a cursor", []uint64{1, 2, 3, 2, 3, 4}, 1, 4, ""},
		{"resend from the start", []uint64{1, 2, 1, 2, 3}, 1, 3, ""},
		{"from a later first", []uint64{41, 42}, 41, 42, ""},
		{"gap", []uint64{1, 2, 4}, 1, 4, "message 2: event 4 arrived after 2: events 3..3 missing or out of order"},
		{"reordered", []uint64{2, 1}, 1, 2, "message 0: event 2 arrived after 0"},
		{"short", []uint64{1, 2}, 1, 3, "received events up to 2 of 1..3"},
		{"none", nil, 1, 3, "received events up to 0 of 1..3"},
		{"before first", []uint64{40, 41}, 41, 41, "message 0: event 40 is before the first expected, 41"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDelivery(tc.seqs, tc.first, tc.last)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckDelivery() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("CheckDelivery() = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func seqsOf(entries []uplink.Entry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func TestMemJournalAfter(t *testing.T) {
	j := NewMemJournal()
	for range 10 {
		j.AppendEvent("gw", "front")
	}
	j.DropThrough(3)
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{4, 5, 6}},
		{3, 2, []uint64{4, 5}},
		{5, 100, []uint64{6, 7, 8, 9, 10}},
		{10, 5, nil},
		{99, 5, nil},
		{0, 0, nil},
	}
	for _, tc := range tests {
		got, err := j.After(tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, seqsOf(got)); diff != "" {
			t.Errorf("After(%d, %d) (-want +got):\n%s", tc.after, tc.limit, diff)
		}
	}
	if e, ok := j.Entry(4); !ok || e.Reader != "front" || !strings.Contains(string(e.Payload), `"id":"gw-4"`) {
		t.Errorf("Entry(4) = %+v, %v", e, ok)
	}
	if _, ok := j.Entry(3); ok {
		t.Errorf("Entry(3) found after DropThrough(3)")
	}
}

func TestMemJournalWait(t *testing.T) {
	j := NewMemJournal()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled, 0) on an empty journal = %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() { done <- j.Wait(context.Background(), 0) }()
	j.AppendEvent("gw", "")
	if err := <-done; err != nil {
		t.Fatalf("Wait(0) = %v after an append", err)
	}
	if err := j.Wait(ctx, 0); err != nil {
		t.Fatalf("Wait(cancelled, 0) with an entry = %v, want nil at once", err)
	}
	if err := j.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled, 1) = %v, want context.Canceled", err)
	}
	if e, _ := j.Entry(1); e.Reader != "gateway" {
		t.Errorf("an event without reader has segment %q, want \"gateway\"", e.Reader)
	}
}

func TestFileJournalReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := OpenFileJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"front", "side", ""} {
		if _, err := j.AppendEvent("gw", r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.Append("front", []byte("two\nlines")); err == nil {
		t.Errorf("Append of a payload with a newline = nil error")
	}
	j.Close()
	// A crash in the middle of an append leaves a torn line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("4\tfront\t{\"seq\":4,")
	f.Close()

	j, err = OpenFileJournal(path)
	if err != nil {
		t.Fatalf("reopen with a torn line: %v", err)
	}
	if got := j.Last(); got != 3 {
		t.Fatalf("Last() = %d after reopening, want 3", got)
	}
	if seq, err := j.AppendEvent("gw", "garage"); err != nil || seq != 4 {
		t.Fatalf("AppendEvent() = %d, %v; want 4", seq, err)
	}
	j.Close()
	j, err = OpenFileJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got, _ := j.After(0, 10)
	want := []uplink.Entry{
		{Seq: 1, Reader: "front", Payload: EventJSON("gw", 1, "front")},
		{Seq: 2, Reader: "side", Payload: EventJSON("gw", 2, "side")},
		{Seq: 3, Reader: "gateway", Payload: EventJSON("gw", 3, "")},
		{Seq: 4, Reader: "garage", Payload: EventJSON("gw", 4, "garage")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries after reopening (-want +got):\n%s", diff)
	}
}

func TestFileJournalCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	os.WriteFile(path, []byte("1\tfront\t{}\n3\tfront\t{}\n"), 0o600)
	if _, err := OpenFileJournal(path); err == nil || !strings.Contains(err.Error(), "line 2: seq 3, want 2") {
		t.Errorf("OpenFileJournal with a gap = %v, want an error naming line 2", err)
	}
}

func TestFileCursor(t *testing.T) {
	dir := t.TempDir()
	c := NewFileCursor(filepath.Join(dir, "cursor"))
	if seq, err := c.Load(); err != nil || seq != 0 {
		t.Fatalf("Load() of a missing file = %d, %v; want 0, nil", seq, err)
	}
	for _, seq := range []uint64{42, 1 << 40} {
		if err := c.Save(seq); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Load(); err != nil || got != seq {
			t.Fatalf("Load() = %d, %v after Save(%d)", got, err, seq)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("forty-two"), 0o600)
	if _, err := NewFileCursor(filepath.Join(dir, "bad")).Load(); err == nil {
		t.Errorf("Load() of a corrupt file = nil error")
	}
}

func TestMemCursor(t *testing.T) {
	c := NewMemCursor(5)
	c.Save(7)
	c.Save(6)
	if got, want := c.Violations(), []string{"Save(6) after Save(7)"}; !cmp.Equal(got, want) {
		t.Errorf("Violations() = %q, want %q", got, want)
	}
	c.FailWith(errors.New("gone"))
	if _, err := c.Load(); err == nil {
		t.Errorf("Load() = nil error after FailWith")
	}
	if got := c.Saves(); got != 2 {
		t.Errorf("Saves() = %d, want 2", got)
	}
}

func TestHandler(t *testing.T) {
	var h Handler
	if got := string(h.CurrentAck()); got != `{"revision":0}` {
		t.Errorf("CurrentAck() = %s", got)
	}
	if got := string(h.HandleChanges([]byte("a"))); got != `{"revision":1}` {
		t.Errorf("HandleChanges() = %s", got)
	}
	if diff := cmp.Diff([][]byte{[]byte("a")}, h.Changes()); diff != "" {
		t.Errorf("Changes() (-want +got):\n%s", diff)
	}
}
