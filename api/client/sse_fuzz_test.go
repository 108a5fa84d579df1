package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type sseMsg struct{ Type, Data string }

var sseCases = []struct {
	name   string
	stream string
	want   []sseMsg
}{
	{"one event", "id: 1\nevent: event\ndata: {\"seq\":1}\n\n", []sseMsg{{"event", `{"seq":1}`}}},
	{"comments and retry", ": hello\nretry: 2000\n\n: ping\n\n", nil},
	{"default type", "data: x\n\n", []sseMsg{{"message", "x"}}},
	{"multi-line data", "event: e\ndata: a\ndata: b\n\n", []sseMsg{{"e", "a\nb"}}},
	{"no space after colon", "event:e\ndata:x\n\n", []sseMsg{{"e", "x"}}},
	{"unterminated last message", "event: e\ndata: x", nil},
	{"error event", "event: error\ndata: {\"error\":{\"code\":\"internal\",\"message\":\"m\"}}\n\n", []sseMsg{{"error", `{"error":{"code":"internal","message":"m"}}`}}},
}

func TestReadSSE(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			var got []sseMsg
			err := readSSE(strings.NewReader(tc.stream), func(typ, data string) error {
				got = append(got, sseMsg{typ, data})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
	stop := errors.New("stop")
	if err := readSSE(strings.NewReader("data: a\n\ndata: b\n\n"), func(string, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("got %v, want the callback's error", err)
	}
}

// FuzzReadSSE feeds arbitrary streams to the SSE reader: it must not panic,
// and every message it reports must have a type.
func FuzzReadSSE(f *testing.F) {
	for _, tc := range sseCases {
		f.Add([]byte(tc.stream))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		_ = readSSE(strings.NewReader(string(stream)), func(typ, data string) error {
			if typ == "" {
				t.Fatalf("message without a type: %q", data)
			}
			return nil
		})
	})
}
