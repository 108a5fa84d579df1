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

// MaxNameLen is the longest line name the kernel keeps (GPIO_MAX_NAME_SIZE,
// 32 bytes with the terminating NUL).
const MaxNameLen = 31

// CheckName reports whether name is written the way Resolve reads a pin: a
// kernel line name ("GPIO17", "ID_SDA"; 1 to MaxNameLen letters, digits,
// '_', '-' and '.', not a bare number), or a chip and a line offset
// ("gpiochip0:17"). It needs no chip, so configuration is checked with it
// off the box; Resolve calls it first, so a name it refuses never resolves
// and a name it accepts fails to resolve only because the chips lack it.
// A line whose kernel name has other characters is named by chip:offset.
func CheckName(name string) error {
	_, err := parseName(name)
	return err
}

// NameKey returns the form of a valid name that two spellings of one line
// share: line names are matched without regard to case ("gpio17" is
// "GPIO17") and offsets without leading zeros. Two names with different
// keys may still resolve to one line (GPIO17 is gpiochip0:17 on a Pi);
// only the chips can tell.
func NameKey(name string) string {
	n, err := parseName(name)
	if err != nil {
		return name
	}
	if n.chip != "" {
		return n.chip + ":" + strconv.Itoa(n.offset)
	}
	return strings.ToUpper(n.line)
}

// pinName is a parsed pin name: a line name, or a chip and an offset.
type pinName struct {
	line   string
	chip   string
	offset int
}

// nameHint ends every name syntax error.
const nameHint = `name a line as the kernel does ("GPIO17") or by chip and offset ("gpiochip0:17")`

func parseName(name string) (pinName, error) {
	if name == "" {
		return pinName{}, fmt.Errorf("empty pin name; %s", nameHint)
	}
	if chip, off, ok := strings.Cut(name, ":"); ok {
		num, isNum := strings.CutPrefix(chip, "gpiochip")
		if !isNum || !allDigits(num) {
			return pinName{}, fmt.Errorf("pin %q: %q is not a chip (want gpiochip0, gpiochip1, ...); %s", name, chip, nameHint)
		}
		n, err := strconv.ParseUint(off, 10, 16)
		if err != nil || !allDigits(off) {
			return pinName{}, fmt.Errorf("pin %q: offset %q is not a line number from 0 to 65535; %s", name, off, nameHint)
		}
		return pinName{chip: chip, offset: int(n)}, nil
	}
	if len(name) > MaxNameLen {
		return pinName{}, fmt.Errorf("pin %.40q: longer than the kernel's %d bytes for a line name", name, MaxNameLen)
	}
	if allDigits(name) {
		return pinName{}, fmt.Errorf("pin %q: a bare number names no line; write \"GPIO%s\" (the kernel's name) or \"gpiochip0:%s\"", name, name, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return pinName{}, fmt.Errorf("pin %q: %q is not allowed in a line name; %s", name, rune(c), nameHint)
		}
	}
	return pinName{line: name}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Resolve finds the line a config names. name is either a line name
// ("GPIO17", any case) or "chip:offset" ("gpiochip0:17"), as CheckName
// accepts them. A line name found on more than one chip is ambiguous and
// must be given as chip:offset.
func Resolve(chips []ChipLines, name string) (Line, error) {
	n, err := parseName(name)
	if err != nil {
		return Line{}, fmt.Errorf("pins: %w", err)
	}
	if n.chip != "" {
		for ci, c := range chips {
			if c.Name != n.chip {
				continue
			}
			if n.offset >= len(c.Lines) {
				return Line{}, fmt.Errorf("pins: pin %q: %s has %d lines", name, n.chip, len(c.Lines))
			}
			return Line{Chip: ci, Offset: n.offset, Name: c.Lines[n.offset]}, nil
		}
		return Line{}, fmt.Errorf("pins: pin %q: no chip %q (have %s)", name, n.chip, chipNames(chips))
	}
	var found []Line
	for ci, c := range chips {
		for off, ln := range c.Lines {
			if ln != "" && strings.EqualFold(ln, n.line) {
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
