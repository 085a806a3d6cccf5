package scheduler_test

// The registry's limits kept to the letter, over real HTTP against the
// simulator: Retry-After, the configured burst, the token route while a
// key is refused, and /health through a 429 storm.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// sent is one HTTP attempt as the client made it.
type sent struct {
	endpoint string
	// admitted: when the budget let it go; at: when it left; answer:
	// when its answer came.
	admitted, at, answer time.Time
	status               int
	retryAfter           time.Duration
}

// sentLog records every attempt of a client, on the client's clock (now;
// nil is the wall clock).
type sentLog struct {
	now func() time.Time
	mu  sync.Mutex
	all []sent
}

func (l *sentLog) observe(o registry.Observation) {
	now := time.Now()
	if l.now != nil {
		// at is then approximate: Duration is wall time.
		now = l.now()
	}
	s := sent{endpoint: o.Endpoint, admitted: o.Admitted, at: now.Add(-o.Duration), answer: now, status: o.StatusCode}
	if o.StatusCode == http.StatusTooManyRequests {
		s.retryAfter = registry.RetryAfterOf(o.Err)
	}
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

func (l *sentLog) snapshot() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

func (l *sentLog) count(endpoint string) int {
	n := 0
	for _, s := range l.snapshot() {
		if s.endpoint == endpoint {
			n++
		}
	}
	return n
}

// duringRetryAfter counts the attempts to limited routes that the client
// let go after a 429's answer came and before its Retry-After had passed.
// (Checks already on their way when the 429 came may still arrive: with
// several in flight, that cannot be helped.)
func duringRetryAfter(log []sent) int {
	n := 0
	for _, limited := range log {
		if limited.status != http.StatusTooManyRequests || limited.endpoint == registry.EndpointHealth {
			continue
		}
		for _, s := range log {
			if s.endpoint != registry.EndpointHealth && s.admitted.After(limited.answer) && s.admitted.Before(limited.answer.Add(limited.retryAfter)) {
				n++
			}
		}
	}
	return n
}

// largestBurst is the most attempts to limited routes that left within
// any window of w.
func largestBurst(log []sent, w time.Duration) int {
	var at []time.Time
	for _, s := range log {
		if s.endpoint != registry.EndpointHealth {
			at = append(at, s.at)
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= w {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// After a 429, no request leaves for a limited route before Retry-After,
// whoever was waiting: 4 checks at once and a queue waiting on the budget
// when the storm starts. Nor does the burst grow when the pause ends.
func TestRetryAfterAndBurstUnderConcurrency(t *testing.T) {
	t.Parallel()
	// With retries the client waits out the 429 itself; without, the
	// scheduler pauses and hands the check back.
	for _, attempts := range []int{1, 4} {
		t.Run(fmt.Sprintf("max_attempts=%d", attempts), func(t *testing.T) {
			t.Parallel()
			testRetryAfterAndBurst(t, attempts)
		})
	}
}

func testRetryAfterAndBurst(t *testing.T, attempts int) {
	const burst, perSecond = 10, 50
	var log sentLog
	w := newWorld(t, worldOptions{
		client: func(c *registry.Config) {
			c.Rate, c.Burst, c.MaxAttempts, c.CallTimeout = perSecond, burst, attempts, 10*time.Second
			c.Observer = log.observe
		},
		sched: func(c *scheduler.Config) { c.Concurrency, c.Rate = 4, perSecond },
		// Due at once: moving the clock by an hour in a planning tick
		// would read as a backlog to sample.
		policy: func(p *tracker.Policy) { p.FirstCheckDelay = 0 },
	})
	for i := range 150 {
		w.put(fmt.Sprintf("Opj-%03d/x", i), testStart, simulator.StatusPending)
	}
	waitFor(t, 10*time.Second, "checks to flow", func() bool { return log.count(registry.EndpointJourneyStatus) >= 20 })
	w.sim.SetFaults(simulator.Faults{RateLimitStorm: 2 * time.Second})
	waitFor(t, 10*time.Second, "the storm", func() bool {
		return slices.ContainsFunc(log.snapshot(), func(s sent) bool { return s.status == http.StatusTooManyRequests })
	})
	deadline := time.Now().Add(20 * time.Second)
	for w.sched.Stats().Outcomes[scheduler.OutcomeChecked] < 150 {
		if time.Now().After(deadline) {
			due, _ := w.tr.DueCount(w.clk.Now(), nil)
			t.Fatalf("not every journey checked: %+v, %d due", w.sched.Stats(), due)
		}
		time.Sleep(5 * time.Millisecond) // polls the scheduler; the deadline bounds the wait
	}
	all := log.snapshot()
	limited := 0
	for _, s := range all {
		if s.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no 429 seen: the test proves nothing")
	}
	if n := duringRetryAfter(all); n != 0 {
		t.Errorf("%d requests sent during a Retry-After, want 0", n)
	}
	// At 50 a second, 10 ms add half a request to the burst.
	if b := largestBurst(all, 10*time.Millisecond); b > burst {
		t.Errorf("%d requests within 10 ms, more than the burst of %d", b, burst)
	}
	t.Logf("%d attempts, %d answered 429; %d sent during a Retry-After; largest burst %d in 10 ms against a setting of %d",
		len(all), limited, duringRetryAfter(all), largestBurst(all, 10*time.Millisecond), burst)
}

// While the registry refuses the key pair, the token route is asked once
// per auth_retry_interval, not once per waiting worker.
func TestRefusedKeyOneTokenRequestPerInterval(t *testing.T) {
	t.Parallel()
	const interval = 400 * time.Millisecond
	var log sentLog
	dir := t.TempDir()
	auth, err := registry.KeyPairFile("ak", writeFile(t, dir, "wrong-secret"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, worldOptions{
		sim: func(c *simulator.Config) {
			c.Keys = []simulator.KeyPair{{AccessKey: "ak", SecretKey: "the-secret", OperatorID: testOperator}}
			c.Limits.Token = simulator.Limit{Requests: 1000, Window: time.Minute}
		},
		client: func(c *registry.Config) {
			c.Auth, c.AuthRetryInterval, c.Observer = auth, interval, log.observe
			c.TokenRate, c.TokenBurst = 1000, 10 // the client's own pacing out of the way
		},
		sched:  func(c *scheduler.Config) { c.Concurrency, c.AuthRetryInterval = 4, interval },
		policy: func(p *tracker.Policy) { p.FirstCheckDelay = 0 },
	})
	for i := range 40 {
		w.put(fmt.Sprintf("key%02d", i), testStart, simulator.StatusPending)
	}
	waitFor(t, 5*time.Second, "auth_failed", func() bool { return w.sched.Stats().State == "auth_failed" })
	began := time.Now()
	waitFor(t, 10*time.Second, "several intervals", func() bool { return time.Since(began) > 5*interval/2 })
	var tokens []time.Time
	for _, s := range log.snapshot() {
		if s.endpoint == registry.EndpointAccessToken {
			tokens = append(tokens, s.at)
		}
	}
	if len(tokens) < 2 {
		t.Fatalf("%d token requests: the test proves nothing", len(tokens))
	}
	for i := 1; i < len(tokens); i++ {
		if gap := tokens[i].Sub(tokens[i-1]); gap < interval {
			t.Errorf("token requests %d and %d %v apart, less than auth_retry_interval %v", i, i+1, gap, interval)
		}
	}
	span := tokens[len(tokens)-1].Sub(tokens[0])
	t.Logf("%d token requests over %v while refused (auth_retry_interval %v): at most %d an hour at the default 5m",
		len(tokens), span.Round(time.Millisecond), interval, int(time.Hour/(5*time.Minute)))
}

// covoiturage_registry_up stays 1 through a 10-minute 429 storm, and the
// registry's limited routes are left alone until it is over: /health has
// its own counter, and the probe does not wait on the status budget. The
// storm's Retry-After of 600 s is lived through on a clock running 200
// times the wall's, shared by the clients and the simulator's limits: no
// request to a limited route during the block, every check goes through
// once it has passed. The client waits the block out itself (it fits in
// its call's timeout at that speed), so the scheduler never has to pause.
func TestRegistryUpThroughA429Storm(t *testing.T) {
	t.Parallel()
	const speed, storm, journeys = 200, 10 * time.Minute, 20
	limits := clock.NewAccelerated(time.Now(), speed)
	log := sentLog{now: limits.Now}
	w := newWorld(t, worldOptions{
		sim: func(c *simulator.Config) { c.LimitClock = limits },
		client: func(c *registry.Config) {
			c.Clock, c.Observer = limits, log.observe
			c.Rate, c.Burst, c.MaxAttempts, c.CallTimeout = 50, 10, registry.DefaultMaxAttempts, 30*time.Second
		},
		sched:  func(c *scheduler.Config) { c.Concurrency = 4 },
		policy: func(p *tracker.Policy) { p.FirstCheckDelay = 0 },
	})
	client, err := registry.New(registry.Config{BaseURL: w.url, Auth: registry.Auth{Token: testToken},
		HealthRate: 1000, HealthBurst: 10, Observer: log.observe, Clock: limits})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	h := collector.NewHealth(reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The probe's timeout is its interval: long enough for a loaded
		// machine.
		exporter.ProbeHealth(ctx, "test", client, 250*time.Millisecond, h, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "the registry up", func() bool { return upValue(t, reg) == 1 })

	w.sim.SetFaults(simulator.Faults{RateLimitStorm: storm})
	stormStart := limits.Now()
	stormEnd := stormStart.Add(storm)
	for i := range journeys {
		w.put(fmt.Sprintf("storm%02d", i), testStart, simulator.StatusPending)
	}
	for limits.Now().Before(stormEnd.Add(time.Minute)) {
		if up := upValue(t, reg); up != 1 {
			t.Fatalf("covoiturage_registry_up = %v %v into the storm, want 1", up, storm-stormEnd.Sub(limits.Now()))
		}
		time.Sleep(5 * time.Millisecond) // samples the gauge through the storm; the clock bounds the loop
	}
	waitFor(t, 20*time.Second, "every journey checked", func() bool {
		return w.sched.Stats().Outcomes[scheduler.OutcomeChecked] == journeys
	})

	all := log.snapshot()
	var first *sent
	for i, s := range all {
		if s.status == http.StatusTooManyRequests && (first == nil || s.answer.Before(first.answer)) {
			first = &all[i]
		}
	}
	if first == nil {
		t.Fatal("no 429 seen: the test proves nothing")
	}
	// The simulator announces what is left of the storm when it answers;
	// on a loaded machine a few simulated seconds may pass before the
	// first 429, but never more than passed before its answer came.
	if left := stormEnd.Sub(first.answer).Truncate(time.Second); first.retryAfter > storm || first.retryAfter < left {
		t.Errorf("the first 429's Retry-After is %v, want what was left of the storm: between %v and %v", first.retryAfter, left, storm)
	}
	if n := duringRetryAfter(all); n != 0 {
		t.Errorf("%d requests to limited routes sent during the storm's Retry-After", n)
	}
	blockEnd, resumed, probes, limited := first.answer.Add(first.retryAfter), 0, 0, 0
	for _, s := range all {
		switch {
		case s.endpoint == registry.EndpointHealth && s.admitted.After(stormStart) && s.admitted.Before(stormEnd):
			probes++
		case s.status == http.StatusTooManyRequests:
			limited++
		}
		if s.endpoint == registry.EndpointJourneyStatus && s.status == http.StatusOK {
			if s.admitted.Before(blockEnd) {
				t.Errorf("a check admitted %v before the block's end was answered 200", blockEnd.Sub(s.admitted))
			}
			resumed++
		}
	}
	if resumed != journeys {
		t.Errorf("%d checks went through after the storm, want %d", resumed, journeys)
	}
	st := w.sched.Stats()
	if st.Outcomes[scheduler.OutcomeRateLimited] != 0 || st.State != "polling" {
		t.Errorf("scheduler %+v: the client waited the block out, the scheduler had nothing to pause for", st)
	}
	t.Logf("a %v storm lived in %v of wall time: %d health probes during it, registry_up 1 throughout; %d answers 429, the first with Retry-After %v; %d requests to limited routes during the block; %d checks after it",
		storm, storm/speed, probes, limited, first.retryAfter, duringRetryAfter(all), resumed)
}

// upValue reads covoiturage_registry_up{registry="test"}; -1 when absent.
func upValue(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "covoiturage_registry_up" {
			for _, m := range mf.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func writeFile(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// An idle scheduler sleeps until the next journey is due or a new one
// arrives, not on a short tick: with Poll an hour, a journey registered
// while it sleeps is checked at once, and one due in a second is checked
// when it falls due.
func TestIdleSchedulerWakes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{
		sched:  func(c *scheduler.Config) { c.Poll, c.Clock = time.Hour, clock.Real() },
		policy: func(p *tracker.Policy) { p.FirstCheckDelay = 0 },
	})
	w.clk.Advance(time.Since(testStart)) // the simulator's clock at the wall's time
	w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: "woken", Status: simulator.StatusPending,
		StartAt: time.Now().Add(-time.Hour), CreatedAt: time.Now()})
	w.tr.Register(time.Now(), tracker.Registration{ID: "woken"})
	waitFor(t, 5*time.Second, "the new journey checked", func() bool { return w.requests.Load() == 1 })

	w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: "due-soon", Status: simulator.StatusPending,
		StartAt: time.Now().Add(-time.Hour), CreatedAt: time.Now()})
	w.tr.SetPolicy(func() tracker.Policy { p := tracker.DefaultPolicy; p.FirstCheckDelay = time.Second; return p }())
	w.tr.Register(time.Now(), tracker.Registration{ID: "due-soon"})
	waitFor(t, 5*time.Second, "the journey due in a second checked", func() bool { return w.requests.Load() == 2 })
}
