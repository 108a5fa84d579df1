package store

import (
	"testing"

	"pgregory.net/rapid"
)

// slotModel drives a slotTable the way the index does: records live in a
// slice by slot, keys are compared through the records, and a Go map says
// what the table should answer.
type slotModel struct {
	t     slotTable
	keys  []uint64 // key of each slot's record
	free  []uint32
	model map[uint64]uint32 // key → slot
	hash  func(key uint64) uint64
}

func (m *slotModel) hashOf(slot uint32) uint64 { return m.hash(m.keys[slot]) }

func (m *slotModel) match(key uint64) func(uint32) bool {
	return func(s uint32) bool { return m.keys[s] == key }
}

func (m *slotModel) insert(key uint64) bool {
	slot := takeSlot(&m.keys, &m.free)
	m.keys[slot] = key
	if !m.t.insert(m.hash(key), slot, m.match(key), m.hashOf) {
		m.free = append(m.free, slot)
		return false
	}
	m.model[key] = slot
	return true
}

func (m *slotModel) remove(key uint64) bool {
	slot, ok := m.model[key]
	if !ok {
		return m.t.remove(m.hash(key), uint32(len(m.keys)), m.hashOf)
	}
	if !m.t.remove(m.hash(key), slot, m.hashOf) {
		return false
	}
	delete(m.model, key)
	m.keys[slot] = ^uint64(0)
	m.free = append(m.free, slot)
	return true
}

// TestSlotTableAgainstAMap runs random inserts, removes and lookups against
// a map, with hashes that spread keys well, hashes that pile every key
// onto a few homes (long probe runs, shifts on every remove) and hashes
// whose homes sit at the end of the table (runs that wrap around).
func TestSlotTableAgainstAMap(t *testing.T) {
	hashes := map[string]func(uint64) uint64{
		"spread": func(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 },
		"piled":  func(k uint64) uint64 { return (k % 3) << 62 },
		"at the end": func(k uint64) uint64 {
			return ^uint64(0) - (k%4)<<32
		},
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				m := &slotModel{model: map[uint64]uint32{}, hash: hash}
				if rapid.Bool().Draw(rt, "presized") {
					m.t = newSlotTable(rapid.IntRange(0, 40).Draw(rt, "room"))
				}
				key := rapid.Uint64Range(0, 60)
				for range rapid.IntRange(1, 400).Draw(rt, "steps") {
					k := key.Draw(rt, "key")
					_, had := m.model[k]
					switch rapid.IntRange(0, 2).Draw(rt, "op") {
					case 0:
						if got := m.insert(k); got == had {
							rt.Fatalf("insert %d: added %v, but the key was there before: %v", k, got, had)
						}
					case 1:
						if got := m.remove(k); got != had {
							rt.Fatalf("remove %d: removed %v, want %v", k, got, had)
						}
					}
					if m.t.n != len(m.model) {
						rt.Fatalf("n = %d, want %d", m.t.n, len(m.model))
					}
					if m.t.n > 0 && m.t.n*4 > len(m.t.slots)*3 {
						rt.Fatalf("%d entries in %d slots: over the 3/4 load", m.t.n, len(m.t.slots))
					}
					for k := range uint64(61) {
						want, ok := m.model[k]
						got, found := m.t.find(m.hash(k), m.match(k))
						if found != ok || (ok && got != want) {
							rt.Fatalf("find %d = %d, %v; want %d, %v (slots %v)", k, got, found, want, ok, m.t.slots)
						}
					}
				}
			})
		})
	}
}

func TestSlotTableZero(t *testing.T) {
	var st slotTable
	never := func(uint32) bool { t.Fatal("an empty table compared a record"); return false }
	if _, ok := st.find(42, never); ok {
		t.Error("found a key in the zero table")
	}
	if st.remove(42, 0, func(uint32) uint64 { return 0 }) {
		t.Error("removed from the zero table")
	}
	if !st.insert(42, 7, never, func(uint32) uint64 { return 42 }) || st.n != 1 || len(st.slots) != minSlots {
		t.Errorf("insert into the zero table: n %d, %d slots", st.n, len(st.slots))
	}
}

// TestBuildSlotTableAgainstInserts builds tables of random keys in one
// pass, with the hashes of TestSlotTableAgainstAMap, and checks that they
// answer as a run of inserts would, find the same repeated key an insert
// would refuse, and go on working under inserts and removes.
func TestBuildSlotTableAgainstInserts(t *testing.T) {
	hashes := map[string]func(uint64) uint64{
		"spread": func(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 },
		"piled":  func(k uint64) uint64 { return (k % 3) << 62 },
		"at the end": func(k uint64) uint64 {
			return ^uint64(0) - (k%4)<<32
		},
		"same low bits": func(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) &^ (1<<40 - 1) },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				keys := rapid.SliceOfN(rapid.Uint64Range(0, 300), 0, 200).Draw(rt, "keys")
				m := &slotModel{model: map[uint64]uint32{}, hash: hash, keys: keys}
				var scratch []uint64
				if rapid.Bool().Draw(rt, "scratch") {
					scratch = make([]uint64, rapid.IntRange(0, 500).Draw(rt, "scratch size"))
				}
				tbl, a, b, ok, _ := buildSlotTable(len(keys), func(yield func(uint32, uint64)) {
					for s, k := range keys {
						yield(uint32(s), hash(k))
					}
				}, func(a, b uint32) bool { return keys[a] == keys[b] }, scratch)
				first := map[uint64]int{}
				repeated := false
				for s, k := range keys {
					if _, ok := first[k]; ok {
						repeated = true
					} else {
						first[k] = s
					}
				}
				if ok == repeated {
					rt.Fatalf("ok = %v for keys %v", ok, keys)
				}
				if !ok {
					if a == b || keys[a] != keys[b] {
						rt.Fatalf("clash reported between slots %d and %d of %v", a, b, keys)
					}
					return
				}
				m.t = tbl
				for k, s := range first {
					m.model[k] = uint32(s)
				}
				if m.t.n != len(keys) || (m.t.n > 0 && m.t.n*4 > len(m.t.slots)*3) {
					rt.Fatalf("n = %d in %d slots for %d keys", m.t.n, len(m.t.slots), len(keys))
				}
				check := func() {
					for k := range uint64(301) {
						want, ok := m.model[k]
						got, found := m.t.find(m.hash(k), m.match(k))
						if found != ok || (ok && got != want) {
							rt.Fatalf("find %d = %d, %v; want %d, %v (slots %v)", k, got, found, want, ok, m.t.slots)
						}
					}
				}
				check()
				for range rapid.IntRange(0, 100).Draw(rt, "steps") {
					k := rapid.Uint64Range(0, 300).Draw(rt, "key")
					if _, had := m.model[k]; had {
						m.remove(k)
					} else {
						m.insert(k)
					}
					check()
				}
			})
		})
	}
}
