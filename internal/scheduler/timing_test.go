package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
)

// Whichever batch timing the registry runs, 24-30 h (the servers' example
// settings) or 48-54 h (the older notes), the default schedule sees each
// verdict within about an hour of the batch that gave it (hourly batches),
// without spending more than 4 status requests a journey.
func TestVerdictSeenSoonAfterTheBatches(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		delay       time.Duration
		every       time.Duration // between two batches
		maxDelay    time.Duration // from a batch to the exporter seeing its verdict
		maxRequests float64
	}{
		{"24-30h", 24 * time.Hour, time.Hour, time.Hour, 3},
		{"48-54h", 48 * time.Hour, time.Hour, time.Hour, 4},
		// One batch a frame: a verdict given early in the frame waits for
		// the check after the frame's end.
		{"24-30h, a batch every 6h", 24 * time.Hour, 6 * time.Hour, 6 * time.Hour, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{
				sim: func(sc *simulator.Config) {
					// DELAY and FRAME.
					sc.Lifecycle.CheckFrom, sc.Lifecycle.CheckTo = c.delay, c.delay+6*time.Hour
					sc.Lifecycle.BatchInterval = c.every
				},
			})
			const n = 60
			ids := make([]string, n)
			for i := range n {
				ids[i] = fmt.Sprintf("Timing %s/%02d", c.name, i)
				// Starts spread over 6 h: every phase of a batch every 6 h.
				w.put(ids[i], testStart.Add(-time.Duration(i)*6*time.Minute), simulator.StatusPending)
			}
			w.sim.Tick()
			decided := map[string]time.Time{} // by the registry
			seen := map[string]time.Time{}    // by the exporter
			const step = 10 * time.Minute
			w.live(t, 80*time.Hour, step, func() {
				now := w.clk.Now()
				for _, id := range ids {
					if sj, _ := w.sim.Journey(id); sj.Status != simulator.StatusPending && decided[id].IsZero() {
						decided[id] = now
					}
					if tj, _ := w.tr.Lookup(id); tj.Status != simulator.StatusPending && tj.Status != "unchecked" && seen[id].IsZero() {
						seen[id] = now
					}
				}
			})
			var worst time.Duration
			for _, id := range ids {
				if decided[id].IsZero() || seen[id].IsZero() {
					t.Fatalf("%s: decided at %v, seen at %v", id, decided[id], seen[id])
				}
				worst = max(worst, seen[id].Sub(decided[id]))
			}
			// The registry's verdict is read a step after the batch ran
			// (the registry ticks first), so a delay of 0 is possible.
			if worst > c.maxDelay+step {
				t.Errorf("a verdict seen %v after the batch gave it, want %v at most", worst, c.maxDelay)
			}
			perJourney := float64(w.requests.Load()) / n
			if perJourney > c.maxRequests {
				t.Errorf("%.2f requests a journey, want at most %v", perJourney, c.maxRequests)
			}
			t.Logf("batches %s after the start: verdicts seen at most %v after the batch; %.2f status requests a journey over 80 h", c.name, worst, perJourney)
		})
	}
}
