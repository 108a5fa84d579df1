package reader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// scriptSource is an EdgeSource that replays edges, then fails or blocks.
type scriptSource struct {
	edges  []wiegand.Edge
	lowErr error
	err    error // returned once the edges are used up
	closed bool
}

var _ pins.EdgeSource = (*scriptSource)(nil)

func (s *scriptSource) NextEdge(time.Duration) (wiegand.Edge, bool, error) {
	if len(s.edges) > 0 {
		e := s.edges[0]
		s.edges = s.edges[1:]
		return e, true, nil
	}
	if s.err != nil {
		return wiegand.Edge{}, false, s.err
	}
	return wiegand.Edge{}, false, nil
}

func (s *scriptSource) Low() (bool, bool, error) { return false, false, s.lowErr }

func (s *scriptSource) Close() error { s.closed = true; return nil }

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		src  pins.EdgeSource
		want string
	}{
		{"no name", Config{}, &scriptSource{}, "needs a name"},
		{"no source", Config{Name: "front"}, nil, "reader front: no edge source"},
		{"bad format", Config{Name: "front", Decoder: wiegand.DecoderConfig{Formats: []string{"H10302", "H10304"}}}, &scriptSource{}, "reader front: wiegand: formats: H10302 and H10304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRunSourceErrors(t *testing.T) {
	boom := errors.New("gpio: EIO")
	tests := []struct {
		name string
		src  *scriptSource
		want string
	}{
		{"levels unreadable", &scriptSource{lowErr: boom}, "reader front: gpio: EIO"},
		{"edge wait fails", &scriptSource{err: boom}, "reader front: gpio: EIO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(Config{Name: "front"}, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(context.Background(), nil)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want %q wrapping the source's error", err, tt.want)
			}
			if !tt.src.closed {
				t.Errorf("source not closed when Run returned")
			}
			if r.Status().Running {
				t.Errorf("status still running after Run returned")
			}
		})
	}
}

// TestRunDeliversScriptedFrame runs the loop on edges stamped in the past:
// the frame is decoded from the edges' times, delivered once the source is
// quiet, and shows in the status.
func TestRunDeliversScriptedFrame(t *testing.T) {
	// A noise pulse comes first: Run starts after every stamp, so the
	// first frame counts as partial, and the card after it is whole.
	noise := time.Now().Add(-time.Minute)
	start := noise.Add(time.Second)
	edges := []wiegand.Edge{{Line: wiegand.D1, Time: noise}, {Line: wiegand.D1, Rising: true, Time: noise.Add(time.Microsecond)}}
	for i := range len(card1) {
		at := start.Add(time.Duration(i) * 2 * time.Millisecond)
		l := wiegand.Line(card1[i] - '0')
		edges = append(edges, wiegand.Edge{Line: l, Time: at}, wiegand.Edge{Line: l, Rising: true, Time: at.Add(50 * time.Microsecond)})
	}
	boom := errors.New("done")
	src := &scriptSource{edges: edges, err: boom}
	r, err := New(Config{Name: "front"}, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []wiegand.Frame
	if err := r.Run(context.Background(), func(f wiegand.Frame) { got = append(got, f) }); !errors.Is(err, boom) {
		t.Fatalf("Run = %v", err)
	}
	// The source failed right after the last edge, before it was quiet, so
	// the frame was still open: nothing may be delivered half-read.
	if len(got) != 0 {
		t.Fatalf("delivered %d frames before the source went quiet", len(got))
	}

	src = &scriptSource{edges: edges}
	r, err = New(Config{Name: "front"}, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Run(ctx, func(f wiegand.Frame) { got = append(got, f); cancel() }); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(got) != 1 || got[0].Number != 1 || got[0].Facility != 1 {
		t.Fatalf("frames = %+v, want the H10301 1/1 card", got)
	}
	st := r.Status()
	if st.LastFrame == nil || st.LastFrame.Bits != card1 || st.Counters.Accepted != 1 || st.Counters.Partial != 1 {
		t.Errorf("status = %+v", st)
	}
}
