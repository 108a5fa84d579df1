package uplink

import "time"

// backoff returns the wait before connection attempt number attempt+1,
// after attempt consecutive failures (attempt >= 1). The ceiling doubles
// from lo with each failure and stops at hi; the wait is drawn uniformly
// from the upper half of the ceiling ("equal jitter"), so gateways that lost
// the broker together do not all come back in the same instant, and no wait
// is shorter than half the ceiling. r is a uniform random number in [0, 1).
func backoff(attempt int, lo, hi time.Duration, r float64) time.Duration {
	attempt = min(max(attempt, 1), 64) // 2^63 ns is past any ceiling
	ceil := lo
	for i := 1; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	half := ceil / 2
	return half + time.Duration(r*float64(ceil-half))
}
