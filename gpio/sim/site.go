package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Errors a Site returns for names it does not know; the API maps them to
// 404.
var (
	ErrUnknownReader = errors.New("sim: unknown reader")
	ErrUnknownDoor   = errors.New("sim: unknown door")
)

// Site is a set of named simulated readers and doors, what `lintel run
// --sim` builds and the sim endpoints and CLI drive. It is safe for
// concurrent use.
type Site struct {
	mu      sync.Mutex // guards readers and doors
	readers map[string]*ReaderSim
	doors   map[string]*DoorSim
}

// NewSite returns an empty site.
func NewSite() *Site {
	return &Site{readers: map[string]*ReaderSim{}, doors: map[string]*DoorSim{}}
}

// AddReader adds a simulated reader named name; its Lines are the edge
// source to give reader.New.
func (s *Site) AddReader(name string, cfg ReaderConfig) (*ReaderSim, error) {
	r, err := NewReader(cfg)
	if err != nil {
		return nil, fmt.Errorf("sim: reader %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.readers[name]; ok {
		return nil, fmt.Errorf("sim: reader %q added twice", name)
	}
	s.readers[name] = r
	return r, nil
}

// AddDoor adds a simulated door named name; its Contact and REX are the
// inputs to give door.New.
func (s *Site) AddDoor(name string) (*DoorSim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.doors[name]; ok {
		return nil, fmt.Errorf("sim: door %q added twice", name)
	}
	d := NewDoor()
	s.doors[name] = d
	return d, nil
}

// Reader returns the reader named name, or an error wrapping
// ErrUnknownReader that lists the known ones.
func (s *Site) Reader(name string) (*ReaderSim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.readers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownReader, name, names(s.readers))
	}
	return r, nil
}

// Door returns the door named name, or an error wrapping ErrUnknownDoor.
func (s *Site) Door(name string) (*DoorSim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.doors[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownDoor, name, names(s.doors))
	}
	return d, nil
}

// Card swipes a card at a reader.
func (s *Site) Card(ctx context.Context, reader, format string, facility uint32, number uint64) error {
	r, err := s.Reader(reader)
	if err != nil {
		return err
	}
	return r.SendCard(ctx, format, facility, number)
}

// Bits sends raw bits from a reader.
func (s *Site) Bits(ctx context.Context, reader, bits string) error {
	r, err := s.Reader(reader)
	if err != nil {
		return err
	}
	return r.SendBits(ctx, bits)
}

// Keys presses keys on a reader's keypad.
func (s *Site) Keys(ctx context.Context, reader, keys string) error {
	r, err := s.Reader(reader)
	if err != nil {
		return err
	}
	return r.SendKeys(ctx, keys)
}

// Contact opens or closes a door.
func (s *Site) Contact(door string, open bool) error {
	d, err := s.Door(door)
	if err != nil {
		return err
	}
	d.SetOpen(open)
	return nil
}

// REX presses a door's request-to-exit button.
func (s *Site) REX(ctx context.Context, door string) error {
	d, err := s.Door(door)
	if err != nil {
		return err
	}
	return d.PressREX(ctx)
}

func names[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
