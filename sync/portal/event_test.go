package portal_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/sync/portal"
)

var parseEventCases = []struct {
	name, topic, payload string
	want                 string // error substring; "" for none
}{
	{"an event", "lintel/v1/gw-1/events/front", `{"seq":12,"id":"gw-1-12","type":"access.denied","name":"Deny Access - Wrong PIN"}`, ""},
	{"a gateway event", "lintel/v1/gw-1/events/gateway", `{"seq":1,"id":"gw-1-1","type":"gateway.started"}`, ""},
	{"fields in another order", "lintel/v1/gw-1/events/front", `{"id":"gw-1-7","extra":[1,2],"seq":7}`, ""},
	{"another gateway's id", "lintel/v1/gw-1/events/front", `{"seq":12,"id":"gw-2-12"}`, `id "gw-2-12", want "gw-1-12"`},
	{"another seq in the id", "lintel/v1/gw-1/events/front", `{"seq":12,"id":"gw-1-13"}`, `id "gw-1-13", want "gw-1-12"`},
	{"no seq", "lintel/v1/gw-1/events/front", `{"id":"gw-1-12"}`, "no seq"},
	{"seq 0", "lintel/v1/gw-1/events/front", `{"seq":0,"id":"gw-1-0"}`, "seq 0"},
	{"negative seq", "lintel/v1/gw-1/events/front", `{"seq":-1,"id":"gw-1--1"}`, "not a JSON event"},
	{"seq a string", "lintel/v1/gw-1/events/front", `{"seq":"12","id":"gw-1-12"}`, "not a JSON event"},
	{"no id", "lintel/v1/gw-1/events/front", `{"seq":12}`, "no id"},
	{"not JSON", "lintel/v1/gw-1/events/front", `offline`, "not a JSON event"},
	{"a status topic", "lintel/v1/gw-1/status", `{"seq":1,"id":"gw-1-1"}`, "is a status topic"},
	{"not a lintel topic", "other/gw-1/events/front", `{"seq":1,"id":"gw-1-1"}`, "does not start with"},
}

func TestParseEvent(t *testing.T) {
	for _, tc := range parseEventCases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := portal.ParseEvent(tc.topic, []byte(tc.payload))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ParseEvent() error = %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent() = %v", err)
			}
			if ev.Gateway != "gw-1" || ev.ID != ev.Gateway+"-"+strconv.FormatUint(ev.Seq, 10) || string(ev.Payload) != tc.payload {
				t.Errorf("ParseEvent() = %+v", ev)
			}
		})
	}
	ev, _ := portal.ParseEvent("lintel/v1/gw-1/events/front", []byte(`{"seq":12,"id":"gw-1-12"}`))
	want := portal.Event{Gateway: "gw-1", Reader: "front", Seq: 12, ID: "gw-1-12", Payload: []byte(`{"seq":12,"id":"gw-1-12"}`)}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("ParseEvent() (-want +got):\n%s", diff)
	}
}

// FuzzParseEvent checks that any topic and payload either fail or give an
// event whose id is its topic's gateway and its seq.
func FuzzParseEvent(f *testing.F) {
	for _, tc := range parseEventCases {
		f.Add(tc.topic, []byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, topicName string, payload []byte) {
		ev, err := portal.ParseEvent(topicName, payload)
		if err != nil {
			return
		}
		if ev.Seq == 0 || ev.ID != ev.Gateway+"-"+strconv.FormatUint(ev.Seq, 10) {
			t.Fatalf("ParseEvent(%q, %q) = %+v: id does not match", topicName, payload, ev)
		}
		if want := "lintel/v1/" + ev.Gateway + "/events/" + ev.Reader; topicName != want {
			t.Fatalf("ParseEvent(%q) = gateway %q reader %q", topicName, ev.Gateway, ev.Reader)
		}
	})
}
