package clock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestRealIsWallClock(t *testing.T) {
	t.Parallel()
	before := time.Now()
	got := Real().Now()
	if got.Before(before) || got.After(time.Now()) {
		t.Fatalf("Real().Now() = %v, not between %v and now", got, before)
	}
}

func TestManualClockMovesOnlyWithAdvance(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewAccelerated(start, 0)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	c.Advance(90 * time.Minute)
	c.Advance(-time.Hour)
	if got, want := c.Now(), start.Add(90*time.Minute); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestAcceleratedScalesWallTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	wall := time.Unix(1000, 0)
	c := NewAccelerated(start, 3600)
	c.wallBase = wall
	c.now = func() time.Time { return wall.Add(2 * time.Second) }
	c.Advance(time.Minute)
	if got, want := c.Now(), start.Add(2*time.Hour+time.Minute); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	if c.Speed() != 3600 {
		t.Fatalf("Speed() = %v", c.Speed())
	}
}

func TestNegativeSpeedIsManual(t *testing.T) {
	t.Parallel()
	start := time.Unix(0, 0)
	if got := NewAccelerated(start, -5).Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := NewAccelerated(time.Unix(0, 0), 10)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now(); got.Before(time.Unix(800, 0)) {
		t.Fatalf("Now() = %v, want at least 800 s after epoch", got)
	}
}

// A sleep on a manual clock returns when Advance reaches its end, not
// before.
func TestManualSleepWakesOnAdvance(t *testing.T) {
	t.Parallel()
	c := NewAccelerated(time.Unix(0, 0), 0)
	done := make(chan error, 1)
	go func() { done <- c.SleepUntil(context.Background(), time.Unix(0, 0).Add(10*time.Minute)) }()
	c.Advance(9 * time.Minute)
	select {
	case err := <-done:
		t.Fatalf("Sleep returned after 9 of 10 minutes: %v", err)
	case <-time.After(20 * time.Millisecond): // bounded look for a wrong early return
	}
	c.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- c.Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep after cancel = %v", err)
	}
}

// Sleep on a running clock lasts d divided by its speed in wall time.
func TestAcceleratedSleepScales(t *testing.T) {
	t.Parallel()
	c := NewAccelerated(time.Unix(0, 0), 3600)
	before := c.Now()
	if err := c.Sleep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := c.Now().Sub(before); got < time.Minute {
		t.Fatalf("Sleep(1m) returned after %v of clock time", got)
	}
}
