package discovery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 20*time.Second, time.Millisecond, what, cond)
}

// run starts d.Run and returns a stop function that waits for it to end.
func run(t *testing.T, d *Discoverer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// A round at start, then one each Interval of the registry's clock.
func TestRunRoundEachInterval(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	f.putAt("first", 3, f.end().Add(-time.Hour))
	d := New(f.config(func(c *Config) { c.Poll = time.Millisecond }))
	stop := run(t, d)
	eventually(t, "the first round", func() bool { return d.Stats().Rounds[ResultOK] == 1 })

	f.putAt("second", 2, f.end().Add(-time.Hour))
	f.clock.Advance(DefaultInterval - time.Second)
	f.clock.Advance(time.Second)
	eventually(t, "the second round", func() bool { return d.Stats().Rounds[ResultOK] == 2 })
	stop()
	st := d.Stats()
	if st.Rounds[ResultOK] != 2 || st.New != 5 {
		t.Errorf("stats %+v: want 2 rounds, 5 new journeys", st)
	}
	// 50 h in 6 h slices, each asked once per status (no page is full),
	// and a probe behind the largest short page of each round.
	if n, want := len(f.lists()), 2*(len(DefaultStatuses)*9+1); n != want {
		t.Errorf("%d list requests, want %d", n, want)
	}
}

// On an accelerated clock rounds follow the registry's time.
func TestRunAcceleratedClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{speed: 36_000}) // 10 min in 1/60 s
	d := New(f.config(func(c *Config) { c.Lookback, c.Slice = 2*time.Hour, 2*time.Hour }))
	run(t, d)
	eventually(t, "three rounds", func() bool { return d.Stats().Rounds[ResultOK] >= 3 })
}

// A failing registry is retried after a wall-time backoff, without
// waiting for the next interval, and logged once until it recovers.
func TestRunRetriesFailedRounds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	f.putAt("j", 3, f.end().Add(-time.Hour))
	f.sim.SetFaults(simulator.Faults{ServerErrorRatio: 1})
	logs := &records{}
	d := New(f.config(func(c *Config) {
		c.RetryBackoff, c.Poll, c.Logger = time.Millisecond, time.Millisecond, logs.logger()
	}))
	run(t, d)
	eventually(t, "three failed rounds", func() bool { return d.Stats().Rounds[ResultError] >= 3 })
	f.sim.SetFaults(simulator.Faults{})
	eventually(t, "a round after the registry recovered", func() bool { return d.Stats().Rounds[ResultOK] == 1 })
	if n := logs.countAt(slog.LevelWarn, "discovery round failed"); n != 1 {
		t.Errorf("%d warnings for one streak of failures, want 1", n)
	}
	if n := logs.count("discovery recovered"); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
	if len(f.registered()) != 3 {
		t.Errorf("%d registered, want 3", len(f.registered()))
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for failures, want := range map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 5: 8 * time.Minute, 6: MaxRetryBackoff, 60: MaxRetryBackoff,
	} {
		if got := backoff(30*time.Second, failures); got != want {
			t.Errorf("backoff after %d failures = %s, want %s", failures, got, want)
		}
	}
}

// A 429 waits the registry's Retry-After before the next round.
func TestRunWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	f.putAt("j", 3, f.end().Add(-time.Hour))
	stormEnd := time.Now().Add(time.Second)
	f.sim.SetFaults(simulator.Faults{RateLimitStorm: time.Second})
	d := New(f.config(func(c *Config) { c.RetryBackoff, c.Poll = time.Millisecond, time.Millisecond }))
	run(t, d)
	eventually(t, "a round after the storm", func() bool { return d.Stats().Rounds[ResultOK] == 1 })
	limited := 0
	for _, r := range f.sim.Requests() {
		if !strings.HasSuffix(r.Path, "/journeys") {
			continue
		}
		switch {
		case r.Status == 429:
			limited++
		case r.Time.Before(stormEnd):
			t.Errorf("a list request answered %d at %s, before the storm ended at %s", r.Status, r.Time, stormEnd)
		}
	}
	if limited != 1 {
		t.Errorf("%d list requests answered 429, want 1: the round must wait Retry-After", limited)
	}
	if st := d.Stats(); st.Rounds[ResultError] != 1 {
		t.Errorf("%d failed rounds, want 1", st.Rounds[ResultError])
	}
}

// A refused credential is logged once and waits for the next round.
func TestRunAuthFailureWaitsForNextRound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{token: "not-the-token"})
	logs := &records{}
	d := New(f.config(func(c *Config) { c.RetryBackoff, c.Poll, c.Logger = time.Millisecond, time.Millisecond, logs.logger() }))
	stop := run(t, d)
	eventually(t, "a failed round", func() bool { return d.Stats().Rounds[ResultError] == 1 })
	f.clock.Advance(DefaultInterval)
	eventually(t, "a second failed round", func() bool { return d.Stats().Rounds[ResultError] == 2 })
	stop()
	if n := d.Stats().Rounds[ResultError]; n != 2 {
		t.Errorf("%d failed rounds for two intervals, want 2: a refused credential is not retried sooner", n)
	}
	if n := len(f.lists()); n != 2 {
		t.Errorf("%d list requests, want 2", n)
	}
	if n := logs.countAt(slog.LevelError, "discovery round failed"); n != 1 {
		t.Errorf("%d errors logged, want 1", n)
	}
}

// Run without a lister or a registrar logs why and returns.
func TestRunWithoutLister(t *testing.T) {
	t.Parallel()
	logs := &records{}
	d := New(Config{Logger: logs.logger()})
	d.Run(context.Background())
	if logs.countAt(slog.LevelError, "discovery not started") != 1 {
		t.Error("no error logged")
	}
}
