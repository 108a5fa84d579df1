package topic_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker/topic"
)

var checkIDTests = []struct {
	id      string
	wantErr string // a substring of the error, "" for none
}{
	{"gw1", ""},
	{"front", ""},
	{"Garage_2.b-c", ""},
	{"0", ""},
	{strings.Repeat("a", topic.MaxIDLen), ""},
	{"", "empty"},
	{strings.Repeat("a", topic.MaxIDLen+1), "longer than 64"},
	{"a/b", `'/' is not allowed`},
	{"a+", `'+' is not allowed`},
	{"#", `'#' is not allowed`},
	{"$SYS", `'$' is not allowed`},
	{"-front", "must start with a letter or a digit"},
	{".", "must start with a letter or a digit"},
	{"front door", `' ' is not allowed`},
	{"fr\x00nt", `'\x00' is not allowed`},
	{"héllo", "is not allowed"},
}

func TestCheckID(t *testing.T) {
	for _, tc := range checkIDTests {
		t.Run(tc.id, func(t *testing.T) {
			err := topic.CheckID(tc.id)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckID(%q) = %v, want nil", tc.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckID(%q) = %v, want an error containing %q", tc.id, err, tc.wantErr)
			}
		})
	}
}

func TestBuilders(t *testing.T) {
	tests := []struct {
		name    string
		build   func() (string, error)
		want    string
		wantErr string
	}{
		{"events", func() (string, error) { return topic.Events("gw1", "front") }, "lintel/v1/gw1/events/front", ""},
		{"status", func() (string, error) { return topic.Status("gw1") }, "lintel/v1/gw1/status", ""},
		{"door", func() (string, error) { return topic.Door("gw1", "garage") }, "lintel/v1/gw1/doors/garage", ""},
		{"sync changes", func() (string, error) { return topic.SyncChanges("gw1") }, "lintel/v1/gw1/sync/changes", ""},
		{"sync acks", func() (string, error) { return topic.SyncAcks("gw1") }, "lintel/v1/gw1/sync/acks", ""},
		{"events filter", func() (string, error) { return topic.EventsFilter("gw1") }, "lintel/v1/gw1/events/+", ""},
		{"doors filter", func() (string, error) { return topic.DoorsFilter("gw1") }, "lintel/v1/gw1/doors/+", ""},
		{"gateway filter", func() (string, error) { return topic.GatewayFilter("gw1") }, "lintel/v1/gw1/#", ""},
		{"reader with slash", func() (string, error) { return topic.Events("gw1", "front/#") }, "", "reader name"},
		{"reader plus", func() (string, error) { return topic.Events("gw1", "+") }, "", "reader name"},
		{"gateway hash", func() (string, error) { return topic.Status("#") }, "", "gateway id"},
		{"gateway slash", func() (string, error) { return topic.SyncChanges("a/b") }, "", "gateway id"},
		{"door empty", func() (string, error) { return topic.Door("gw1", "") }, "", "door name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.build()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got (%q, %v), want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got (%q, %v), want %q", got, err, tc.want)
			}
		})
	}
}

var parseTests = []struct {
	in      string
	want    topic.Topic
	wantErr string
}{
	{"lintel/v1/gw1/events/front", topic.Topic{Kind: topic.KindEvents, Gateway: "gw1", Name: "front"}, ""},
	{"lintel/v1/gw1/status", topic.Topic{Kind: topic.KindStatus, Gateway: "gw1"}, ""},
	{"lintel/v1/gw-2/doors/side", topic.Topic{Kind: topic.KindDoor, Gateway: "gw-2", Name: "side"}, ""},
	{"lintel/v1/gw1/sync/changes", topic.Topic{Kind: topic.KindSyncChanges, Gateway: "gw1"}, ""},
	{"lintel/v1/gw1/sync/acks", topic.Topic{Kind: topic.KindSyncAcks, Gateway: "gw1"}, ""},
	{"lintel/v1/gw1/doors/front/set", topic.Topic{Kind: topic.KindDoorCommand, Gateway: "gw1", Name: "front"}, ""},
	{"lintel/v1/gw1/doors/fr+nt/set", topic.Topic{}, "doors/set name"},
	{"lintel/v1/gw1/doors/front/get", topic.Topic{}, "not a topic of the contract"},
	{"lintel/v2/gw1/status", topic.Topic{}, "does not start with"},
	{"", topic.Topic{}, "does not start with"},
	{"lintel/v1/", topic.Topic{}, "gateway id empty"},
	{"lintel/v1/gw1", topic.Topic{}, "not a topic of the contract"},
	{"lintel/v1/gw1/status/x", topic.Topic{}, "not a topic of the contract"},
	{"lintel/v1/gw1/events", topic.Topic{}, "not a topic of the contract"},
	{"lintel/v1/gw1/events/front/x", topic.Topic{}, "not a topic of the contract"},
	{"lintel/v1/gw1/events/", topic.Topic{}, "events name empty"},
	{"lintel/v1/gw1/events/+", topic.Topic{}, "events name"},
	{"lintel/v1/+/status", topic.Topic{}, "gateway id"},
	{"lintel/v1/gw1/sync/other", topic.Topic{}, "not a topic of the contract"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := topic.Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = (%+v, %v), want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.in, err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Fatalf("Parse(%q) mismatch (-got +want):\n%s", tc.in, diff)
			}
			if s := got.String(); s != tc.in {
				t.Fatalf("Parse(%q).String() = %q, want the input back", tc.in, s)
			}
		})
	}
}

var coversTests = []struct {
	outer, inner string
	want         bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/+", "a/b", true},
	{"a/+", "a/b/c", false},
	{"a/+", "a", false},
	{"a/+", "a/+", true},
	{"a/+", "a/#", false},
	{"a/#", "a", true},
	{"a/#", "a/b/c", true},
	{"a/#", "a/+/c", true},
	{"a/#", "a/#", true},
	{"a/#", "b", false},
	{"#", "a/b", true},
	{"#", "#", true},
	{"+/+", "a/b", true},
	{"+/b", "a/c", false},
	{"a/b", "a/+", false},
	{"a/b/c", "a/b", false},
	{"a//b", "a//b", true},
	{"+/x", "/x", true},
	{"#", "$SYS/broker/uptime", false},
	{"+/broker/#", "$SYS/broker/uptime", false},
	{"$SYS/#", "$SYS/broker/uptime", true},
	{"lintel/v1/+/events/+", "lintel/v1/gw1/events/front", true},
	{"lintel/v1/gw1/#", "lintel/v1/gw1/events/+", true},
	{"lintel/v1/gw1/#", "lintel/v1/#", false},
}

func TestCovers(t *testing.T) {
	for _, tc := range coversTests {
		t.Run(tc.outer+" over "+tc.inner, func(t *testing.T) {
			if got := topic.Covers(tc.outer, tc.inner); got != tc.want {
				t.Fatalf("Covers(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
			}
		})
	}
}

func TestValidNameAndFilter(t *testing.T) {
	tests := []struct {
		s            string
		name, filter bool
	}{
		{"a/b", true, true},
		{"/", true, true},
		{"a/+", false, true},
		{"a/#", false, true},
		{"#", false, true},
		{"+", false, true},
		{"a/#/b", false, false},
		{"a/b#", false, false},
		{"a+/b", false, false},
		{"", false, false},
		{"a\x00b", false, false},
		{"\xff", false, false},
		{strings.Repeat("a", 65536), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.s[:min(len(tc.s), 16)], func(t *testing.T) {
			if got := topic.ValidName(tc.s); got != tc.name {
				t.Errorf("ValidName(%q) = %v, want %v", tc.s, got, tc.name)
			}
			if got := topic.ValidFilter(tc.s); got != tc.filter {
				t.Errorf("ValidFilter(%q) = %v, want %v", tc.s, got, tc.filter)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[topic.Kind]string{
		topic.KindUnknown: "unknown", topic.KindEvents: "events", topic.KindStatus: "status",
		topic.KindDoor: "doors", topic.KindSyncChanges: "sync/changes", topic.KindSyncAcks: "sync/acks",
		topic.KindDoorCommand: "doors/set",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestInNamespace(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"lintel/v1/gw1/events/front", true},
		{"lintel/v1/gw2/status", true},
		{"lintel/v1/anything/else/at/all", true},
		{"lintel/v1/", true},
		{"lintel/v1", true},
		{"lintel/v10/gw1/status", false},
		{"lintel/v2/gw1/status", false},
		{"lintel", false},
		{"Lintel/v1/gw1/status", false},
		{"site/lintel/v1/gw1/status", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := topic.InNamespace(tc.name); got != tc.want {
			t.Errorf("InNamespace(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Every topic of the contract is in the namespace.
	for _, tc := range parseTests {
		if tc.wantErr == "" && !topic.InNamespace(tc.in) {
			t.Errorf("InNamespace(%q) = false for a topic Parse accepts", tc.in)
		}
	}
}

var overlapTests = []struct {
	f, g string
	want bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/+/c", "a/b/#", true},
	{"a/+", "+/b", true},
	{"a/+", "a/b/c", false},
	{"a", "a/#", true},
	{"a/b", "a/#", true},
	{"a/b/c", "a/b", false},
	{"#", "x/y", true},
	{"+", "a/b", false},
	{"+/+/+", "a/#", true},
	{"#", "$SYS/broker", false},
	{"$SYS/#", "+/broker", false},
	{"$SYS/#", "$SYS/+", true},
	{"lintel/v1/#", "lintel/v1/gw/doors/+/set", true},
	{"lintel/v1/gw/doors/front/set", "lintel/v1/gw/doors/+/set", true},
	{"lintel/v1/gw/doors/+", "lintel/v1/gw/doors/+/set", false},
	{"lintel/v1/+/events/+", "lintel/v1/gw/doors/+/set", false},
}

func TestOverlap(t *testing.T) {
	for _, tc := range overlapTests {
		t.Run(tc.f+" and "+tc.g, func(t *testing.T) {
			if got := topic.Overlap(tc.f, tc.g); got != tc.want {
				t.Errorf("Overlap(%q, %q) = %v, want %v", tc.f, tc.g, got, tc.want)
			}
			if got := topic.Overlap(tc.g, tc.f); got != tc.want {
				t.Errorf("Overlap(%q, %q) = %v, want %v (it is symmetric)", tc.g, tc.f, got, tc.want)
			}
		})
	}
	// With a topic name, Overlap is Match; where one filter covers
	// another, they overlap.
	for _, tc := range coversTests {
		if topic.ValidName(tc.inner) {
			if got, want := topic.Overlap(tc.outer, tc.inner), topic.Match(tc.outer, tc.inner); got != want {
				t.Errorf("Overlap(%q, %q) = %v, but Match says %v", tc.outer, tc.inner, got, want)
			}
		}
		if tc.want && !topic.Overlap(tc.outer, tc.inner) {
			t.Errorf("%q covers %q but Overlap says they share no topic", tc.outer, tc.inner)
		}
	}
}

func TestDoorCommand(t *testing.T) {
	got, err := topic.DoorCommand("gw1", "front")
	if err != nil || got != "lintel/v1/gw1/doors/front/set" {
		t.Errorf("DoorCommand(gw1, front) = %q, %v; want lintel/v1/gw1/doors/front/set", got, err)
	}
	if _, err := topic.DoorCommand("gw1", "fr/nt"); err == nil {
		t.Error("DoorCommand accepted a door name with a '/'")
	}
	f, _ := topic.DoorCommandsFilter("gw1")
	if !topic.Match(f, got) {
		t.Errorf("DoorCommandsFilter %q does not match %q", f, got)
	}
}
