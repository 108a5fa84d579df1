package pins

import (
	"fmt"
	"strconv"
	"strings"
)

// ChipLines is what Resolve needs to know about one GPIO chip: its device
// name ("gpiochip0") and its lines' names by offset ("" when unnamed).
type ChipLines struct {
	Name  string
	Lines []string
}

// Line is a resolved pin: the chip's index in the list given to Resolve, the
// line's offset on the chip and its kernel name.
type Line struct {
	Chip   int
	Offset int
	Name   string
}

// Resolve finds the line a config names. name is either a line name
// ("GPIO17", any case) or "chip:offset" ("gpiochip0:17"). A line name found
// on more than one chip is ambiguous and must be given as chip:offset.
func Resolve(chips []ChipLines, name string) (Line, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Line{}, fmt.Errorf("pins: empty pin name")
	}
	if chipName, off, ok := strings.Cut(name, ":"); ok {
		n, err := strconv.Atoi(off)
		if err != nil || n < 0 {
			return Line{}, fmt.Errorf("pins: pin %q: offset %q is not a line number", name, off)
		}
		for ci, c := range chips {
			if c.Name != chipName {
				continue
			}
			if n >= len(c.Lines) {
				return Line{}, fmt.Errorf("pins: pin %q: %s has %d lines", name, chipName, len(c.Lines))
			}
			return Line{Chip: ci, Offset: n, Name: c.Lines[n]}, nil
		}
		return Line{}, fmt.Errorf("pins: pin %q: no chip %q (have %s)", name, chipName, chipNames(chips))
	}
	var found []Line
	for ci, c := range chips {
		for off, ln := range c.Lines {
			if ln != "" && strings.EqualFold(ln, name) {
				found = append(found, Line{Chip: ci, Offset: off, Name: ln})
			}
		}
	}
	switch len(found) {
	case 0:
		return Line{}, fmt.Errorf("pins: pin %q: no GPIO line has that name on %s", name, chipNames(chips))
	case 1:
		return found[0], nil
	default:
		return Line{}, fmt.Errorf("pins: pin %q: named on %d chips; write it as chip:offset", name, len(found))
	}
}

// ResolvePair resolves a reader's two data lines, which must be two
// different lines on one chip so they can share one line request.
func ResolvePair(chips []ChipLines, d0, d1 string) (Line, Line, error) {
	l0, err := Resolve(chips, d0)
	if err != nil {
		return Line{}, Line{}, fmt.Errorf("d0: %w", err)
	}
	l1, err := Resolve(chips, d1)
	if err != nil {
		return Line{}, Line{}, fmt.Errorf("d1: %w", err)
	}
	if l0.Chip != l1.Chip {
		return Line{}, Line{}, fmt.Errorf("pins: d0 %q and d1 %q are on different chips; a reader's lines must share one chip", d0, d1)
	}
	if l0.Offset == l1.Offset {
		return Line{}, Line{}, fmt.Errorf("pins: d0 and d1 are the same line %q", d0)
	}
	return l0, l1, nil
}

func chipNames(chips []ChipLines) string {
	if len(chips) == 0 {
		return "no GPIO chips"
	}
	var names []string
	for _, c := range chips {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// requestable checks that lines have kernel names: periph's gpioioctl
// requests lines by name, so an unnamed line cannot be used.
func requestable(lines ...Line) error {
	for _, l := range lines {
		if l.Name == "" {
			return fmt.Errorf("pins: line %d has no kernel name; periph's gpioioctl can only request named lines", l.Offset)
		}
	}
	return nil
}
