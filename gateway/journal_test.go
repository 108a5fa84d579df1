package gateway

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

// TestUplinkJournal: the uplink is handed each event as the journal holds
// it, the same bytes the API's decoded event encodes to, under its
// reader's topic segment ("gateway" for none), in order and within the
// limit; its cursor is kept in the store.
func TestUplinkJournal(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: "gw-1", MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC)
	for _, ev := range []access.Event{
		{Time: at, Type: access.TypeGranted, Name: access.NameGrantCard, Reader: "front", Door: "front", User: "u1", Credential: "c1"},
		{Time: at, Type: access.TypeAudit, Name: "User Changed", User: "u2", Actor: "portal", Detail: "name \"Zoë\" <set>"},
		{Time: at, ClockUntrusted: true, Type: access.TypeDenied, Name: access.NameDenyWrongPIN, Reader: "side", Door: "side", User: "u3"},
	} {
		if _, err := s.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	want, err := s.Events(0, 10)
	if err != nil {
		t.Fatal(err)
	}

	j := uplinkJournal{s}
	got, err := j.After(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("After(0, 10) returned %d entries, want %d", len(got), len(want))
	}
	readers := []string{"front", "gateway", "side"}
	for i, e := range got {
		b, err := json.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != want[i].Seq || e.Reader != readers[i] || !bytes.Equal(e.Payload, b) {
			t.Errorf("entry %d = {%d %q %s}, want {%d %q %s}", i, e.Seq, e.Reader, e.Payload, want[i].Seq, readers[i], b)
		}
	}
	if got, err := j.After(1, 1); err != nil || len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("After(1, 1) = %v, %v; want event 2 alone", got, err)
	}
	if got, err := j.After(3, 10); err != nil || len(got) != 0 {
		t.Errorf("After(3, 10) = %v, %v; want nothing", got, err)
	}

	c := uplinkCursor{s}
	if err := c.Save(2); err != nil {
		t.Fatal(err)
	}
	if seq, err := c.Load(); err != nil || seq != 2 {
		t.Errorf("Load() after Save(2) = %d, %v", seq, err)
	}
	if st := s.JournalStats(); st.Undelivered != 1 {
		t.Errorf("JournalStats().Undelivered = %d after the cursor moved to 2 of 3, want 1", st.Undelivered)
	}
}
