// Package clock gives the simulator a notion of time that tests and demos
// can speed up or drive by hand, so that a journey lifecycle measured in
// days plays out in seconds.
package clock

import (
	"context"
	"math"
	"sync"
	"time"
)

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Real returns the wall clock.
func Real() Clock { return realClock{} }

// Accelerated runs speed times faster than the wall clock from a chosen
// start and can be pushed forward with Advance. A speed of 0 gives a manual
// clock that only moves with Advance, which keeps tests deterministic.
type Accelerated struct {
	mu       sync.Mutex
	start    time.Time
	wallBase time.Time
	speed    float64
	offset   time.Duration
	now      func() time.Time
	// moved is closed, and replaced, whenever Advance moves the clock,
	// to wake the sleepers.
	moved chan struct{}
}

// NewAccelerated returns a clock that reads start now and then advances
// speed simulated seconds per wall second. Negative speeds are treated as 0
// because time running backwards would break every consumer.
func NewAccelerated(start time.Time, speed float64) *Accelerated {
	if speed < 0 || speed != speed {
		speed = 0
	}
	return &Accelerated{start: start, wallBase: time.Now(), speed: speed, now: time.Now, moved: make(chan struct{})}
}

// Now returns the simulated time.
func (c *Accelerated) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.start.Add(c.offset)
	if c.speed == 0 {
		return t
	}
	// Multiplying in float64 first keeps large speeds from overflowing
	// the Duration product before the conversion.
	elapsed := float64(c.now().Sub(c.wallBase)) * c.speed
	if elapsed > float64(1<<62) {
		elapsed = float64(1 << 62)
	}
	return t.Add(time.Duration(elapsed))
}

// Advance moves the clock forward by d; negative values are ignored so the
// clock stays monotonic.
func (c *Accelerated) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	close(c.moved)
	c.moved = make(chan struct{})
	c.mu.Unlock()
}

// Sleep returns once d has passed on the clock, or with ctx's error once
// ctx is done (see SleepUntil).
func (c *Accelerated) Sleep(ctx context.Context, d time.Duration) error {
	return c.SleepUntil(ctx, c.Now().Add(d))
}

// SleepUntil returns once the clock reads end, or with ctx's error once
// ctx is done: when Advance moves the clock past end, or, on a running
// clock, after the wall time it takes to get there.
func (c *Accelerated) SleepUntil(ctx context.Context, end time.Time) error {
	for {
		c.mu.Lock()
		moved, speed := c.moved, c.speed
		c.mu.Unlock()
		// moved is read before the time, so an Advance in between is
		// not missed.
		left := end.Sub(c.Now())
		if left <= 0 {
			return nil
		}
		if err := wait(ctx, moved, speed, left); err != nil {
			return err
		}
	}
}

// wait returns when moved is closed, when left has passed on a clock
// running at speed (never, at speed 0), or with ctx's error.
func wait(ctx context.Context, moved <-chan struct{}, speed float64, left time.Duration) error {
	var timeout <-chan time.Time
	if speed > 0 {
		t := time.NewTimer(time.Duration(math.Ceil(float64(left) / speed)))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-moved:
	case <-timeout:
	}
	return nil
}

// Speed returns how many simulated seconds pass per wall second.
func (c *Accelerated) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}
