package topic

import (
	"strings"
	"unicode/utf8"
)

// maxTopicLen is MQTT's limit on a topic or filter: a UTF-8 string with a
// two-byte length.
const maxTopicLen = 65535

func validString(s string) bool {
	return s != "" && len(s) <= maxTopicLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ValidName reports whether name may be published to: a non-empty UTF-8
// string of at most 65535 bytes, without NUL and without wildcards.
func ValidName(name string) bool {
	return validString(name) && !strings.ContainsAny(name, "+#")
}

// ValidFilter reports whether filter may be subscribed to: like a name, but
// '+' may stand alone in any level and '#' alone in the last.
func ValidFilter(filter string) bool {
	if !validString(filter) {
		return false
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "+":
		case l == "#" && i == len(levels)-1:
		case strings.ContainsAny(l, "+#"):
			return false
		}
	}
	return true
}

// Match reports whether the topic name matches filter. Both are assumed
// valid; an invalid one matches nothing it should not, but the answer is
// otherwise unspecified.
func Match(filter, name string) bool {
	return Covers(filter, name)
}

// Overlap reports whether some topic name matches both filters: "a/+/c"
// and "a/b/#" overlap on "a/b/c", "a/b" and "a/c" do not. A filter whose
// first level is a wildcard matches no '$' topic, as MQTT requires. Both
// are assumed valid.
func Overlap(f, g string) bool {
	if strings.HasPrefix(f, "$") && (strings.HasPrefix(g, "+") || strings.HasPrefix(g, "#")) ||
		strings.HasPrefix(g, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		a, arest, amore := strings.Cut(f, "/")
		b, brest, bmore := strings.Cut(g, "/")
		switch {
		case a == "#" || b == "#":
			return true
		case a != "+" && b != "+" && a != b:
			return false
		}
		switch {
		case !amore && !bmore:
			return true
		case !amore:
			return brest == "#" // "a" and "a/#" share "a"
		case !bmore:
			return arest == "#"
		}
		f, g = arest, brest
	}
}

// Covers reports whether every topic that inner matches is also matched by
// outer: "a/#" covers "a/+/c" and "a", "a/+" covers "a/b" but not "a/#". For
// a topic name as inner this is Match. Topics starting with '$' are covered
// only by filters whose first level is not a wildcard, as MQTT requires.
func Covers(outer, inner string) bool {
	if strings.HasPrefix(inner, "$") && (strings.HasPrefix(outer, "+") || strings.HasPrefix(outer, "#")) {
		return false
	}
	for {
		o, orest, omore := strings.Cut(outer, "/")
		i, irest, imore := strings.Cut(inner, "/")
		switch {
		case o == "#":
			return true
		case o == "+":
			if i == "#" {
				return false
			}
		case o != i:
			return false
		}
		switch {
		case !omore && !imore:
			return true
		case !imore:
			// inner ended; outer covers it only if all it has left is "#",
			// which matches the parent level too.
			return orest == "#"
		case !omore:
			return false
		}
		outer, inner = orest, irest
	}
}
