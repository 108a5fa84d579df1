package store

import "math/bits"

// slotTable finds records by key. It is an open-addressing hash table with
// linear probing that holds record slot numbers only: whether a slot holds
// the key looked for is answered by comparing the key with the record
// itself. That is 4 bytes an entry at a load of at most 3/4, where a Go map
// from the key to the slot keeps the key a second time and its groups'
// control bytes: 5 to 6 bytes an entry against 20 to 25. The index keeps
// four of these, and a snapshot holds two indexes at once.
//
// Deletion shifts the entries after the removed one back instead of
// leaving tombstones, so a table that sees many changes never fills with
// dead entries. The table does not know the keys, so the callers pass the
// hash of the key in question, a match func for lookups and hashOf (the
// hash of the key of the record in a slot) for moves.
//
// The zero table is empty and ready to use.
type slotTable struct {
	// slots holds a record's slot number plus one; 0 is an empty entry,
	// so a new table needs no filling.
	slots []uint32
	n     int
}

// minSlots is the size of the first allocation.
const minSlots = 16

// newSlotTable returns a table with room for n entries, two thirds full
// then, and for an eighth more before it grows.
func newSlotTable(n int) slotTable {
	if n <= 0 {
		return slotTable{}
	}
	return slotTable{slots: make([]uint32, max(minSlots, n+n/2+1))}
}

// home is where a hash's probe starts: the top 32 bits of the hash scaled
// to the table's length, so the length need not be a power of two.
func (t *slotTable) home(h uint64) int {
	return int((h >> 32) * uint64(len(t.slots)) >> 32)
}

func (t *slotTable) next(i int) int {
	if i++; i == len(t.slots) {
		return 0
	}
	return i
}

// find returns the slot whose record match accepts, among the records of
// hash h.
func (t *slotTable) find(h uint64, match func(slot uint32) bool) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	// There is always an empty entry, so the probe ends.
	for i := t.home(h); ; i = t.next(i) {
		v := t.slots[i]
		if v == 0 {
			return 0, false
		}
		if match(v - 1) {
			return v - 1, true
		}
	}
}

// insert adds slot under hash h unless a record match accepts is there
// already, and reports whether it added it.
func (t *slotTable) insert(h uint64, slot uint32, match func(slot uint32) bool, hashOf func(slot uint32) uint64) bool {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow(hashOf)
	}
	i := t.home(h)
	for ; t.slots[i] != 0; i = t.next(i) {
		if match(t.slots[i] - 1) {
			return false
		}
	}
	t.slots[i] = slot + 1
	t.n++
	return true
}

// remove deletes slot, which is held under hash h. It reports whether slot
// was there.
func (t *slotTable) remove(h uint64, slot uint32, hashOf func(slot uint32) uint64) bool {
	if t.n == 0 {
		return false
	}
	i := t.home(h)
	for ; t.slots[i] != slot+1; i = t.next(i) {
		if t.slots[i] == 0 {
			return false
		}
	}
	// Move back every later entry of the run that may sit at i: one whose
	// home is not cyclically within (i, j].
	for j := t.next(i); t.slots[j] != 0; j = t.next(j) {
		k := t.home(hashOf(t.slots[j] - 1))
		if i <= j {
			if i < k && k <= j {
				continue
			}
		} else if i < k || k <= j {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = 0
	t.n--
	return true
}

// grow doubles the table and puts every entry back.
func (t *slotTable) grow(hashOf func(slot uint32) uint64) {
	old := t.slots
	t.slots = make([]uint32, max(minSlots, 2*len(old)))
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := t.home(hashOf(v - 1))
		for t.slots[i] != 0 {
			i = t.next(i)
		}
		t.slots[i] = v
	}
}

// buildSlotTable makes a table of the n records each yields, with the hash
// of each one's key, in one pass over the table: the entries are sorted by
// their home position (a radix sort of 11 bits a round) and then laid out
// in that order, each at its home or right after the entry before it.
// That is the table a run of inserts would build, but written in order
// instead of probed for at random, which is what makes loading a million
// users fast. Records sharing a home are compared only when the hash bits
// an entry has room for beside its home and slot are equal too.
//
// each must yield n records. same compares the keys of two records: when
// two records have the same key, buildSlotTable returns them and ok
// false. scratch is reused for the sort; the caller may pass the one
// returned by an earlier build.
func buildSlotTable(n int, each func(yield func(slot uint32, h uint64)), same func(a, b uint32) bool, scratch []uint64) (t slotTable, a, b uint32, ok bool, _ []uint64) {
	t = newSlotTable(n)
	if n == 0 {
		return t, 0, 0, true, scratch
	}
	if cap(scratch) < 2*n {
		scratch = make([]uint64, 2*n)
	}
	// An entry is its home in the top bits, as many bits of its hash as
	// fit in the middle, and its slot in the low bits.
	entries, tmp := scratch[:n:n], scratch[n:2*n]
	homeShift := 64 - bits.Len(uint(len(t.slots)-1))
	i, maxSlot := 0, uint32(0)
	each(func(slot uint32, h uint64) {
		entries[i] = uint64(t.home(h))<<homeShift | h&(1<<homeShift-1)
		maxSlot = max(maxSlot, slot)
		if i++; i > n {
			panic("store: buildSlotTable: more records than n")
		}
	})
	if i != n {
		panic("store: buildSlotTable: fewer records than n")
	}
	slotBits := bits.Len32(maxSlot)
	i = 0
	each(func(slot uint32, _ uint64) {
		entries[i] = entries[i]&^(1<<slotBits-1) | uint64(slot)
		i++
	})
	const radixBits = 11
	var count [1 << radixBits]int
	for shift := homeShift; shift < 64; shift += radixBits {
		clear(count[:])
		for _, e := range entries {
			count[e>>shift&(1<<radixBits-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, e := range entries {
			d := e >> shift & (1<<radixBits - 1)
			tmp[count[d]] = e
			count[d]++
		}
		entries, tmp = tmp, entries
	}
	slotMask := uint64(1)<<slotBits - 1
	pos, run := 0, 0 // next free position; where the entries of the current home start
	wrapped := false
	for k, e := range entries {
		home := int(e >> homeShift)
		if k > 0 && e>>homeShift == entries[k-1]>>homeShift {
			for _, o := range entries[run:k] {
				if (o^e)&^slotMask == 0 && same(uint32(o&slotMask), uint32(e&slotMask)) {
					return slotTable{}, uint32(o & slotMask), uint32(e & slotMask), false, scratch
				}
			}
		} else {
			run = k
		}
		if !wrapped && pos < home {
			pos = home
		}
		if pos == len(t.slots) {
			// The rest wrap around to the first free positions after the
			// run at the start of the table, as probing would put them.
			pos, wrapped = 0, true
		}
		for wrapped && t.slots[pos] != 0 {
			pos++
		}
		t.slots[pos] = uint32(e&slotMask) + 1
		pos++
	}
	t.n = n
	return t, 0, 0, true, scratch
}
