package uplinktest

import "fmt"

// CheckDelivery checks a stream of received sequence numbers against the
// uplink's promise for events first..last: each one arrives, in order. A
// number at or below the highest seen so far is a duplicate, allowed (the
// uplink resends from its cursor after any doubt); a number more than one
// above it is a loss or a reordering. It returns nil, or an error naming
// the first break and how many duplicates there were.
func CheckDelivery(seqs []uint64, first, last uint64) error {
	high := first - 1
	dups := 0
	for i, s := range seqs {
		switch {
		case s < first:
			return fmt.Errorf("message %d: event %d is before the first expected, %d", i, s, first)
		case s <= high:
			dups++
		case s == high+1:
			high = s
		default:
			return fmt.Errorf("message %d: event %d arrived after %d: events %d..%d missing or out of order (%d duplicates so far)", i, s, high, high+1, s-1, dups)
		}
	}
	if high != last {
		return fmt.Errorf("received events up to %d of %d..%d (%d messages, %d duplicates)", high, first, last, len(seqs), dups)
	}
	return nil
}
