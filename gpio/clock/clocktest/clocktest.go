// Package clocktest provides a fake clock.Clock whose time moves only when
// a test says so.
package clocktest

import (
	"slices"
	"sync"
	"time"

	"github.com/lintel-access/lintel/gpio/clock"
)

// Fake is a manual clock. Timers fire synchronously inside Advance and Set,
// in time order, on the calling goroutine, with the clock already moved to
// their due time. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex // guards now, timers and seq
	now    time.Time
	timers []*fakeTimer
	seq    int
}

var _ clock.Clock = (*Fake)(nil)

// New returns a fake clock at now.
func New(now time.Time) *Fake { return &Fake{now: now} }

type fakeTimer struct {
	c   *Fake
	at  time.Time
	seq int
	f   func()
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. A d of zero or less is due at the next
// Advance (even by zero).
func (c *Fake) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d, firing every timer due on the way,
// including timers that fired callbacks schedule within the window.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	c.Set(end)
}

// Set moves the clock to t (never backwards), firing due timers in order.
func (c *Fake) Set(t time.Time) {
	for {
		c.mu.Lock()
		next := c.nextDueLocked(t)
		if next == nil {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == next })
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// nextDueLocked returns the earliest timer due at or before t.
func (c *Fake) nextDueLocked(t time.Time) *fakeTimer {
	var best *fakeTimer
	for _, x := range c.timers {
		if x.at.After(t) {
			continue
		}
		if best == nil || x.at.Before(best.at) || (x.at.Equal(best.at) && x.seq < best.seq) {
			best = x
		}
	}
	return best
}

// Pending returns how many timers are scheduled.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
