package pins

import (
	"context"
	"time"
)

// watchWait bounds each wait for an input edge so Watch notices a
// cancelled context (periph's WaitForEdge takes no context).
const watchWait = 100 * time.Millisecond

// Watch reports an input's level to onLevel: once at start, then after every
// change, until ctx ends. Each wait is bounded, and the level is read again
// after a quiet wait too, so a change whose edge was lost is still seen.
// onLevel runs on Watch's goroutine. Watch returns ctx's error when
// cancelled, or the first read error.
func Watch(ctx context.Context, in Input, onLevel func(high bool)) error {
	last, err := in.Read()
	if err != nil {
		return err
	}
	onLevel(last)
	for ctx.Err() == nil {
		if _, err := in.WaitEdge(watchWait); err != nil {
			return err
		}
		high, err := in.Read()
		if err != nil {
			return err
		}
		if high != last {
			last = high
			onLevel(high)
		}
	}
	return ctx.Err()
}
