package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
)

// streamBatch is how many journal entries a stream reads at a time.
const streamBatch = 100

// eventStream serves GET /api/v1/events/stream: Server-Sent Events, one
// "event" per journal entry with the entry's seq as its id, so a browser's
// EventSource resumes where it left off (Last-Event-ID). Without Last-Event-ID or
// after the stream starts at the end of the journal: only new
// events. Comments keep idle connections open through NAT and proxies.
func (s *Server) eventStream(c echo.Context) error {
	r := c.Request()
	after, ae := queryUint(c, "after", 0)
	if ae != nil {
		return ae
	}
	// A reconnecting EventSource repeats the URL it was opened with, so
	// Last-Event-ID, which it updates, wins over the query.
	switch id := r.Header.Get("Last-Event-ID"); {
	case id != "":
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidRequest, "Last-Event-ID: must be a whole number, got %q", id)
		}
		after = n
	case c.QueryParam("after") != "":
	default:
		after = s.backend.Status().Journal.Last
	}

	p, _ := c.Get(principalKey).(*principal)
	if !s.tokenStreams.take(p.Name) {
		return errorf(http.StatusTooManyRequests, CodeTooManyStreams, "token %q has %d event streams open already, as many as one token may; close one", p.Name, s.cfg.MaxStreamsPerToken)
	}
	defer s.tokenStreams.release(p.Name)
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		return errorf(http.StatusServiceUnavailable, CodeTooManyStreams, "%d event streams are open already; close one", cap(s.streams))
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, ": lintel events after %d\nretry: 2000\n\n", after); err != nil {
		return nil
	}
	w.Flush()
	for {
		evs, err := s.backend.Events(after, streamBatch)
		if err != nil {
			s.log.Error("api: event stream: read journal", "after", after, "err", err)
			msg, _ := json.Marshal(ErrorDoc{Error: ErrorBody{Code: CodeInternal, Message: "the journal could not be read; reconnect"}})
			_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", msg)
			w.Flush()
			return nil
		}
		for _, ev := range evs {
			data, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("api: event stream: encode event %d: %w", ev.Seq, err)
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", ev.Seq, data); err != nil {
				return nil // the client went away
			}
			after = ev.Seq
		}
		w.Flush()
		if len(evs) == streamBatch {
			continue
		}
		wait, cancelWait := context.WithTimeout(ctx, s.cfg.Heartbeat)
		err = s.backend.WaitEvents(wait, after)
		cancelWait()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case err != nil:
			s.log.Error("api: event stream: wait for events", "after", after, "err", err)
			return nil
		}
	}
}

// streamCounts counts the event streams each token holds open, a
// session's under its token.
type streamCounts struct {
	max int

	mu   sync.Mutex // guards open
	open map[string]int
}

// take counts one more stream for token, unless it holds max already.
func (s *streamCounts) take(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[token] >= s.max {
		return false
	}
	s.open[token]++
	return true
}

func (s *streamCounts) release(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[token]--; s.open[token] <= 0 {
		delete(s.open, token)
	}
}
