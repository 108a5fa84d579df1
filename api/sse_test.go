package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// sseReader reads the events of an SSE stream.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, srv *httptest.Server, query string, header map[string]string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+techToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next journal event on the stream, skipping comments.
func (r *sseReader) next() (id string, ev access.Event) {
	r.t.Helper()
	var typ, data string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if typ == "event" {
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					r.t.Fatalf("event data %q: %v", data, err)
				}
				return id, ev
			}
			typ, data, id = "", "", ""
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return "", ev
}

func newStreamServer(t *testing.T, h *harness) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	return srv
}

func TestEventStream(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	seed(h) // events 1 to seedEvents
	srv := httptest.NewServer(h.handler)
	defer srv.Close()

	t.Run("from after", func(t *testing.T) {
		s := openStream(t, srv, "?after=0", nil)
		for want := uint64(1); want <= 2; want++ {
			if id, ev := s.next(); ev.Seq != want || id != ev.ID[len("gw-test-"):] {
				t.Fatalf("got event id %q seq %d, want seq %d", id, ev.Seq, want)
			}
		}
	})
	t.Run("Last-Event-ID wins over after", func(t *testing.T) {
		s := openStream(t, srv, "?after=0", map[string]string{"Last-Event-ID": "1"})
		if _, ev := s.next(); ev.Seq != 2 {
			t.Fatalf("got seq %d, want 2", ev.Seq)
		}
	})
	t.Run("live from the end", func(t *testing.T) {
		s := openStream(t, srv, "", nil)
		h.mustDo(request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":1,"number":100}`}, 202)
		_, ev := s.next()
		if ev.Name != access.NameGrantCard || ev.Reader != "garage" || ev.User != "u1" {
			t.Fatalf("got %+v, want a card grant for u1 at garage", ev)
		}
	})
	t.Run("ends when the server closes", func(t *testing.T) {
		s := openStream(t, srv, "", nil)
		h.server.Close()
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, s.resp.Body); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stream ended with %v, want a clean end", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not end within 10 s of Close")
		}
	})
}
