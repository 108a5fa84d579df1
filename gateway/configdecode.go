package gateway

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Decoding lintel.toml key by key
//
// BurntSushi's Decode stops at the first value it cannot decode, visits a
// table's keys in map order (so which error comes first changes from run to
// run), matches keys without regard to case, and decodes an integer into a
// time.Duration as nanoseconds (unlock = 5 is 5 ns). decodeConfig uses it
// only to parse the file, then decodes every key on its own from a
// toml.Primitive, which gives:
//
//   - every bad value, unknown key and bare-number duration, not only the
//     first, each with its key and line;
//   - keys matched exactly as the struct tags spell them;
//   - one rule for every time.Duration in Config, the uplink's included:
//     a duration is a string such as "5s", never a number;
//   - the line of each key (BurntSushi keeps positions private, but reports
//     one in the ParseError of a value that fails to decode, so lineOf
//     decodes the key into a type that always fails). A key inside an array
//     of two or more tables gets no line: BurntSushi keeps one position per
//     key name, the last element's.

// keyIndex says where each key of a decoded file is, by the key's name as
// keyError spells it.
type keyIndex map[string]keyPos

type keyPos struct {
	line  int // 0 when unknown
	order int // position among the file's keys
}

// where returns the line of key, and the file position of key or, for a
// key not in the file, of its nearest enclosing table that is, or of the
// first key inside it (a table only implied by [broker.clients] is where
// broker.clients is). A key of which the file has nothing goes last.
func (ix keyIndex) where(key string) (line, order int) {
	if p, ok := ix[key]; ok {
		return p.line, p.order
	}
	for _, k := range slices.Backward(keyPrefixes(key)) {
		if p, ok := ix[k]; ok {
			return 0, p.order
		}
	}
	order = len(ix)
	for k, p := range ix {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			order = min(order, p.order)
		}
	}
	return 0, order
}

// decodeConfig parses b and decodes it into c, recording every problem
// with a value in p. The error is a TOML syntax error, after which nothing
// is decoded.
func decodeConfig(b []byte, c *Config, p *problems) (keyIndex, error) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(b), &top)
	if err != nil {
		return nil, err
	}
	d := &decoder{md: &md, index: keyIndex{}}
	d.orderKeys()
	d.table(nil, "", top, reflect.ValueOf(c).Elem(), true)
	p.errs = append(p.errs, d.errs...)
	return d.index, nil
}

type decoder struct {
	md    *toml.MetaData
	index keyIndex
	errs  []error
}

// orderKeys numbers the file's keys in file order, elements of arrays of
// tables by their index (api.tokens[1].name).
func (d *decoder) orderKeys() {
	elems := map[string]int{} // array of tables → elements seen
	for i, k := range d.md.Keys() {
		name := ""
		for j := range k {
			name = joinKey(name, k[j])
			if d.md.Type(k[:j+1]...) != "ArrayHash" {
				continue
			}
			arr := k[:j+1].String()
			if j == len(k)-1 {
				elems[arr]++ // the header of a new element
			}
			name += fmt.Sprintf("[%d]", elems[arr]-1)
		}
		if _, ok := d.index[name]; !ok {
			d.index[name] = keyPos{order: i}
		}
	}
}

// setLine records the line of a key; a key orderKeys did not see (one in
// an inline table) takes the place of its table.
func (d *decoder) setLine(name string, line int) {
	pos, ok := d.index[name]
	if !ok {
		_, pos.order = d.index.where(name)
	}
	pos.line = line
	d.index[name] = pos
}

func (d *decoder) fail(name string, line int, format string, args ...any) {
	d.errs = append(d.errs, &keyError{Key: name, Line: line, decode: true, Err: fmt.Errorf(format, args...)})
}

// table decodes the keys of one TOML table into the struct rv. path is the
// table's key as BurntSushi spells it, name as keyError does; lines says
// whether BurntSushi's positions of keys under it can be trusted.
func (d *decoder) table(path toml.Key, name string, keys map[string]toml.Primitive, rv reflect.Value, lines bool) {
	fields := tomlFields(rv.Type())
	for _, key := range sortedKeys(keys) {
		prim := keys[key]
		kname := joinKey(name, key)
		line := 0
		if lines {
			line = d.lineOf(prim)
			d.setLine(kname, line)
		}
		idx, ok := fields[key]
		if !ok {
			d.fail(kname, line, "unknown key")
			continue
		}
		d.value(append(path[:len(path):len(path)], key), kname, line, prim, rv.FieldByIndex(idx), lines)
	}
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value decodes one key into v.
func (d *decoder) value(path toml.Key, name string, line int, prim toml.Primitive, v reflect.Value, lines bool) {
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(name, line, prim, v)
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		d.leaf(name, line, prim, v)
	case t.Kind() == reflect.Struct:
		var keys map[string]toml.Primitive
		if !d.decode(name, line, prim, &keys) {
			return
		}
		d.table(path, name, keys, v, lines)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Struct:
		var keys map[string]toml.Primitive
		if !d.decode(name, line, prim, &keys) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(keys)))
		}
		for _, k := range sortedKeys(keys) {
			kname := joinKey(name, k)
			kline := 0
			if lines {
				kline = d.lineOf(keys[k])
				d.setLine(kname, kline)
			}
			elem := reflect.New(t.Elem()).Elem()
			d.value(append(path[:len(path):len(path)], k), kname, kline, keys[k], elem, lines)
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), elem)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		var elems []map[string]toml.Primitive
		if !d.decode(name, line, prim, &elems) {
			return
		}
		v.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		for i, keys := range elems {
			d.table(path, fmt.Sprintf("%s[%d]", name, i), keys, v.Index(i), lines && len(elems) == 1)
		}
	default:
		d.leaf(name, line, prim, v)
	}
}

// decode decodes a table or an array of tables into dst, and says whether
// it could.
func (d *decoder) decode(name string, line int, prim toml.Primitive, dst any) bool {
	if err := d.md.PrimitiveDecode(prim, dst); err != nil {
		d.mismatch(name, line, prim, reflect.TypeOf(dst).Elem())
		return false
	}
	return true
}

// leaf decodes a value that is not a table.
func (d *decoder) leaf(name string, line int, prim toml.Primitive, v reflect.Value) {
	err := d.md.PrimitiveDecode(prim, v.Addr().Interface())
	if err == nil {
		return
	}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// A value of the right type that its type refuses (an enum, an
		// integer out of range): the message is the type's own.
		d.fail(name, line, "%s", pe.Message)
		return
	}
	d.mismatch(name, line, prim, v.Type())
}

// duration decodes a time.Duration from a string such as "5s"; a number is
// refused, since BurntSushi would take it as nanoseconds.
func (d *decoder) duration(name string, line int, prim toml.Primitive, v reflect.Value) {
	var raw any
	if err := d.md.PrimitiveDecode(prim, &raw); err != nil {
		d.mismatch(name, line, prim, v.Type())
		return
	}
	switch x := raw.(type) {
	case int64, float64:
		d.fail(name, line, "%v is a bare number; write a duration such as \"5s\"", x)
	case string:
		dur, err := time.ParseDuration(x)
		if err != nil {
			d.fail(name, line, "%q is not a duration; write one such as \"5s\", \"250ms\" or \"2h\"", x)
			return
		}
		v.SetInt(int64(dur))
	default:
		d.mismatch(name, line, prim, v.Type())
	}
}

// mismatch records a value of the wrong TOML type for want.
func (d *decoder) mismatch(name string, line int, prim toml.Primitive, want reflect.Type) {
	var raw any
	_ = d.md.PrimitiveDecode(prim, &raw)
	d.fail(name, line, "want %s, got %s", describeType(want), describeValue(raw))
}

// errLine is what lineProbe fails with.
var errLine = errors.New("where is this key")

// lineProbe fails to decode anything, so that BurntSushi reports where the
// value it was given is.
type lineProbe struct{}

func (lineProbe) UnmarshalTOML(any) error { return errLine }

// lineOf returns the line of the key prim was decoded from, or 0 when
// BurntSushi does not know it (a table only implied by its subtables).
func (d *decoder) lineOf(prim toml.Primitive) int {
	var pe toml.ParseError
	if err := d.md.PrimitiveDecode(prim, lineProbe{}); errors.As(err, &pe) {
		return pe.Position.Line
	}
	return 0
}

// tomlFields maps the TOML keys of struct type t to their field indexes:
// exported fields by their toml tag, the fields of an untagged embedded
// struct as if they were t's own. Keys match exactly.
func tomlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			for k, idx := range tomlFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
		case f.IsExported() && tag != "" && tag != "-":
			out[tag] = []int{i}
		}
	}
	return out
}

// joinKey appends one key to a key name, quoted as TOML needs
// (readers."door@1").
func joinKey(name, key string) string {
	k := toml.Key{key}.String()
	if name == "" {
		return k
	}
	return name + "." + k
}

// keyPrefixes returns the enclosing keys of a key name, outermost first:
// api.tokens[0].role → api, api.tokens, api.tokens[0]. Dots and brackets
// inside quotes do not split.
func keyPrefixes(name string) []string {
	var out []string
	quoted := false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '[') && i > 0:
			out = append(out, name[:i])
		}
	}
	return out
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "5s"`
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "a table"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Struct {
			return "a table of tables"
		}
		return "a table"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "an array of tables"
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %.40q", x)
	case int64, float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case nil:
		return "nothing"
	}
	return "a date or time"
}
