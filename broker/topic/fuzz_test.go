package topic_test

import (
	"strings"
	"testing"

	"github.com/lintel-access/lintel/broker/topic"
)

// FuzzParse feeds Parse topics from outside: it must never panic, and what it
// accepts must build back to the same topic with valid ids.
func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := topic.Parse(in)
		if err != nil {
			return
		}
		if s := got.String(); s != in {
			t.Fatalf("Parse(%q).String() = %q, want the input back", in, s)
		}
		if err := topic.CheckID(got.Gateway); err != nil {
			t.Fatalf("Parse(%q) accepted gateway %q: %v", in, got.Gateway, err)
		}
		if !topic.ValidName(in) {
			t.Fatalf("Parse(%q) accepted a topic that is not a valid name", in)
		}
	})
}

// FuzzCheckID checks that an accepted id can never add a level or a wildcard
// to a topic, and that the topics built from it parse back to it.
func FuzzCheckID(f *testing.F) {
	for _, tc := range checkIDTests {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if topic.CheckID(id) != nil {
			if _, err := topic.Events("gw", id); err == nil {
				t.Fatalf("Events accepted reader %q that CheckID refuses", id)
			}
			return
		}
		if strings.ContainsAny(id, "/+#\x00") || strings.HasPrefix(id, "$") {
			t.Fatalf("CheckID accepted %q", id)
		}
		for _, build := range []func() (string, error){
			func() (string, error) { return topic.Events(id, id) },
			func() (string, error) { return topic.Door(id, id) },
			func() (string, error) { return topic.Status(id) },
		} {
			s, err := build()
			if err != nil {
				t.Fatalf("build with %q: %v", id, err)
			}
			p, err := topic.Parse(s)
			if err != nil || p.Gateway != id {
				t.Fatalf("Parse(%q) = (%+v, %v), want gateway %q", s, p, err, id)
			}
		}
	})
}

// FuzzCovers checks the filter algebra on arbitrary filters: a valid filter
// covers itself, and covering is transitive.
func FuzzCovers(f *testing.F) {
	for _, tc := range coversTests {
		f.Add(tc.outer, tc.inner, tc.inner)
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if !topic.ValidFilter(a) || !topic.ValidFilter(b) || !topic.ValidFilter(c) {
			return
		}
		if !topic.Covers(a, a) {
			t.Fatalf("Covers(%q, itself) = false", a)
		}
		if topic.Covers(a, b) && topic.Covers(b, c) && !topic.Covers(a, c) {
			t.Fatalf("Covers(%q, %q) and Covers(%q, %q) but not Covers(%q, %q)", a, b, b, c, a, c)
		}
	})
}
