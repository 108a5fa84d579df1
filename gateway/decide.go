package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// input is one decoded frame on its way to the decision loop.
type input struct {
	reader *readerUnit
	frame  wiegand.Frame
	// received is when the reader handed the frame over; the decision
	// latency metric runs from here to the door being commanded.
	received time.Time
}

// runReader reads one reader until ctx ends, handing accepted frames to the
// decision loop. A full queue is not waited on for long: a reader that
// floods the gateway must not stall the others.
func (g *Gateway) runReader(ctx context.Context, r *readerUnit) error {
	return r.reader.Run(ctx, func(f wiegand.Frame) {
		if g.enrol.take(r.name, f) {
			return // enrolled, not decided (operators.go)
		}
		select {
		case g.inputs <- input{reader: r, frame: f, received: time.Now()}:
		case <-ctx.Done():
		}
	})
}

// decisionLoop is the one goroutine that decides: frames in, door commands
// and events out. It also expires card+PIN windows and lockouts on time, and
// beats the heartbeat that /healthz and the systemd watchdog read.
func (g *Gateway) decisionLoop(ctx context.Context) error {
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	modes := time.NewTimer(g.modeWake(time.Now()))
	defer modes.Stop()
	for {
		if next, ok := g.engine.NextDeadline(); ok {
			deadline.Reset(time.Until(next))
		} else {
			deadline.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return nil
		case in := <-g.inputs:
			g.decide(in)
		case now := <-deadline.C:
			for _, res := range g.engine.Tick(now) {
				g.apply(res, time.Time{})
			}
		case now := <-beat.C:
			g.beat.Store(now.UnixNano())
			g.refreshClock()
		case <-modes.C:
			now := time.Now()
			g.updateModes(now)
			modes.Reset(g.modeWake(now))
		case <-g.modeKick:
			now := time.Now()
			g.updateModes(now)
			if !modes.Stop() {
				select {
				case <-modes.C:
				default:
				}
			}
			modes.Reset(g.modeWake(now))
		}
		g.beat.Store(time.Now().UnixNano())
	}
}

// decide turns one frame into a decision and carries it out.
func (g *Gateway) decide(in input) {
	now := time.Now()
	name := in.reader.name
	var (
		res access.Result
		err error
	)
	f := in.frame
	switch f.Kind {
	case wiegand.KindCard, wiegand.KindRaw:
		format, facility, number, _ := f.Card()
		res, err = g.engine.Card(now, name, access.CardKey{Format: format, Facility: facility, Number: number})
	case wiegand.KindKey:
		res, err = g.engine.Key(now, name, f.Key)
	case wiegand.KindPINBuffer:
		if f.KeypadError() {
			res, err = g.engine.KeypadError(now, name)
			break
		}
		var buf [20]byte
		digits := strconv.AppendUint(buf[:0], f.Number, 10)
		res, err = g.engine.PIN(now, name, digits)
		clear(buf[:])
	default:
		return
	}
	if err != nil {
		g.log.Error("decision", "reader", name, "err", err)
		return
	}
	g.apply(res, in.received)
	g.keepDecisionState(res)
}

// apply drives the door and the reader for a result, then journals its
// events. The door comes first: nothing else stands between a grant and the
// strike.
func (g *Gateway) apply(res access.Result, received time.Time) {
	var fault error
	d, hasDoor := g.hw.door(res.Door)
	if res.Action == access.ActionGrant {
		if hasDoor {
			fault = d.grant()
		}
		if !received.IsZero() {
			g.metrics.latency.Observe(time.Since(received).Seconds())
		}
	}
	if r, ok := g.hw.reader(res.Reader); ok {
		r.indicate(res.Action)
	}
	for _, ev := range res.Events {
		switch ev.Type {
		case access.TypeGranted:
			g.metrics.decisions.WithLabelValues("granted").Inc()
			if fault != nil {
				// The decision was a grant, and is logged as one (R11);
				// the door did not open, and the log says so.
				ev.Detail = "the strike could not be driven: see Door Output Fault"
			}
		case access.TypeDenied:
			g.metrics.decisions.WithLabelValues("denied").Inc()
		}
		g.appendEvent(ev)
	}
	if fault != nil {
		g.doorFault(d, "unlocking for a grant", fault)
	}
	if res.Action == access.ActionGrant && hasDoor {
		g.publishDoor(d)
	}
}
