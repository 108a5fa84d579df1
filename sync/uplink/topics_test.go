package uplink

import (
	"strings"
	"testing"
)

func TestCheckRetained(t *testing.T) {
	tests := []struct {
		name string
		want string // error prefix; "" for accepted
	}{
		{"lintel/v1/gw1/status", ""},
		{"lintel/v1/gw1/doors/front", ""},
		{"lintel/v1/gw2/status", `topic "lintel/v1/gw2/status" belongs to gateway "gw2", not "gw1"`},
		{"lintel/v1/gw1/events/front", `topic "lintel/v1/gw1/events/front" is not a status or door topic (it is events)`},
		{"lintel/v1/gw1/sync/acks", `topic "lintel/v1/gw1/sync/acks" is not a status or door topic (it is sync/acks)`},
		{"lintel/v1/+/status", `topic: "lintel/v1/+/status": gateway id`},
		{"lintel/v1/gw1/doors/#", `topic: "lintel/v1/gw1/doors/#": doors name`},
		{"other/status", `topic: "other/status" does not start with "lintel/v1/"`},
		{"", `topic: "" does not start with`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRetained("gw1", tc.name)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkRetained(%q) = %v, want nil", tc.name, err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("checkRetained(%q) = %v, want an error starting %q", tc.name, err, tc.want)
			}
		})
	}
}
