package clock

import (
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
