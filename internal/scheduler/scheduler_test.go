package scheduler_test

// These tests run the scheduler against the project's simulated registry
// over real HTTP, on a manual clock moved by hand: a journey's whole life,
// sampling, and every kind of client error.

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	testToken    = "scheduler-test-token"
	testOperator = 3
)

var testStart = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// world is a simulator, a client, a tracker and a running scheduler
// sharing one manual clock.
type world struct {
	sim      *simulator.Simulator
	clk      *clock.Accelerated
	tr       *tracker.Tracker
	sched    *scheduler.Scheduler
	url      string
	requests atomic.Int64 // status requests the client sent
}

type worldOptions struct {
	sim    func(*simulator.Config)
	client func(*registry.Config)
	sched  func(*scheduler.Config)
	policy func(*tracker.Policy)
	// lists makes the scheduler read verdicts in the lists, with pages of
	// listPageSize (0: the default).
	lists        bool
	listPageSize int
	// wrap, when set, stands between the client and the simulator.
	wrap func(http.Handler) http.Handler
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{clk: clock.NewAccelerated(testStart, 0)}
	sc := simulator.Config{
		Tokens: []simulator.Token{{Value: testToken, OperatorID: testOperator}},
		Clock:  w.clk, Seed: 1,
		Limits: simulator.Limits{Status: simulator.Limit{Requests: 1 << 30, Window: time.Minute}},
	}
	if o.sim != nil {
		o.sim(&sc)
	}
	sim, err := simulator.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	w.sim = sim
	h := sim.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	w.url = srv.URL
	cc := registry.Config{
		BaseURL: srv.URL, Auth: registry.Auth{Token: testToken}, Rate: 1e6, Burst: 1000,
		MaxAttempts: 1, CallTimeout: 5 * time.Second,
		Observer: func(ob registry.Observation) {
			if ob.Endpoint == registry.EndpointJourneyStatus || ob.Endpoint == registry.EndpointJourneyStatusV2 {
				w.requests.Add(1)
			}
		},
	}
	if o.client != nil {
		o.client(&cc)
	}
	client, err := registry.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	p := tracker.DefaultPolicy
	if o.policy != nil {
		o.policy(&p)
	}
	w.tr = tracker.New(p)
	cfg := scheduler.Config{
		Name: "test", Checker: scheduler.V3(client), Tracker: w.tr, Clock: w.clk,
		Rate: 1e6, Concurrency: 8, MaxDelay: time.Hour, ErrorBackoff: 5 * time.Minute,
		AuthRetryInterval: time.Hour, BlockedFor: client.BlockedFor,
		Poll: time.Millisecond, Tick: 20 * time.Millisecond,
	}
	if o.lists {
		cfg.Lister, cfg.ListPageSize = client, o.listPageSize
	}
	if o.sched != nil {
		o.sched(&cfg)
	}
	w.sched = scheduler.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.sched.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

// put stores a pending journey in the registry and registers it.
func (w *world) put(id string, start time.Time, status string) {
	w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: id, Status: status,
		CreatedAt: start.Add(5 * time.Minute), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 8000})
	w.tr.Register(w.clk.Now(), tracker.Registration{ID: id, Start: start})
}

// settle waits until nothing is due at the clock's time and no check is
// in flight.
func (w *world) settle(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "the scheduler to catch up", func() bool {
		due, _ := w.tr.DueCount(w.clk.Now(), nil)
		return due == 0 && w.sched.Stats().InFlight == 0
	})
}

// live advances the clock by d in steps, running the registry's lifecycle
// and letting the scheduler catch up after each step.
func (w *world) live(t *testing.T, d, step time.Duration, each func()) {
	t.Helper()
	for end := w.clk.Now().Add(d); w.clk.Now().Before(end); {
		w.clk.Advance(step)
		w.sim.Tick()
		w.settle(t)
		if each != nil {
			each()
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, timeout, 2*time.Millisecond, what, cond)
}

func outcome(w *world, o scheduler.Outcome) uint64 { return w.sched.Stats().Outcomes[o] }

// Journeys followed through their whole life end with the registry's own
// statuses, after a handful of requests each, and then cost nothing until
// they are forgotten.
func TestWholeLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	const n = 30
	for i := range n {
		w.put(fmt.Sprintf("life%03d", i), testStart.Add(-time.Duration(i)*2*time.Minute), simulator.StatusPending)
	}
	w.put("canceled1", testStart.Add(-time.Hour), simulator.StatusCanceled)
	w.live(t, 80*time.Hour, 10*time.Minute, nil)

	for i := range n + 1 {
		id := fmt.Sprintf("life%03d", i)
		if i == n {
			id = "canceled1"
		}
		sj, _ := w.sim.Journey(id)
		j, ok := w.tr.Lookup(id)
		if !ok || j.Status != sj.Status {
			t.Errorf("%s: tracker says %q, registry says %q", id, j.Status, sj.Status)
		}
		if j.Checks < 2 || j.Checks > 5 {
			t.Errorf("%s: %d checks, want 2 to 5", id, j.Checks)
		}
		if !j.NextCheck.IsZero() {
			t.Errorf("%s: still polled after 80 h", id)
		}
	}
	spent := w.requests.Load()
	if perJourney := float64(spent) / (n + 1); perJourney > 5 {
		t.Errorf("%.1f requests a journey, want at most 5", perJourney)
	}
	st := w.tr.Stats()
	if st.Polling != 0 || st.Tracked != n+1 {
		t.Fatalf("polling %d tracked %d", st.Polling, st.Tracked)
	}
	// Settled journeys cost nothing more, and leave at retention.
	w.live(t, 30*24*time.Hour, 24*time.Hour, nil)
	if got := w.requests.Load(); got != spent {
		t.Errorf("%d requests after the journeys settled", got-spent)
	}
	waitFor(t, 5*time.Second, "retention to forget every journey", func() bool { return w.tr.Len() == 0 })
	if st := w.tr.Stats(); st.Forgotten != n+1 || st.SeenStatus[tracker.Statuses.Index("ok")] == 0 {
		t.Fatalf("forgotten %d, seen ok %d", st.Forgotten, st.SeenStatus[tracker.Statuses.Index("ok")])
	}
}

// When the budget cannot keep up the scheduler follows fewer journeys, by
// id hash: the journeys under the lowest ratio it used are followed
// through their whole life; the others are skipped, not lost.
func TestSamplingFollowsAStableSubset(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{
		client: func(c *registry.Config) { c.Rate, c.Burst = 200, 1 },
		sched: func(c *scheduler.Config) {
			c.Rate = 200
			c.MaxDelay = 200 * time.Millisecond // at the manual clock, taken as wall time
		},
	})
	const n = 400
	for i := range n {
		w.put(fmt.Sprintf("s%04d", i), testStart, simulator.StatusPending)
	}
	// The ratio moves every planning tick: watch it closely enough to see
	// its lowest value.
	var lowestBits atomic.Uint64
	lowestBits.Store(math.Float64bits(1))
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if r := w.sched.Ratio(); r < math.Float64frombits(lowestBits.Load()) {
				lowestBits.Store(math.Float64bits(r))
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	w.live(t, 80*time.Hour, time.Hour, nil)
	close(stop)
	<-watched
	lowest := math.Float64frombits(lowestBits.Load())
	if lowest >= 1 || outcome(w, scheduler.OutcomeSkipped) == 0 {
		t.Fatalf("no sampling: lowest ratio %v, skipped %d", lowest, outcome(w, scheduler.OutcomeSkipped))
	}
	followed := 0
	for i := range n {
		id := fmt.Sprintf("s%04d", i)
		if float64(tracker.Hash(id)) >= lowest*math.Exp2(64) {
			continue
		}
		followed++
		j, _ := w.tr.Lookup(id)
		sj, _ := w.sim.Journey(id)
		if j.Checks < 3 || j.Status != sj.Status {
			t.Errorf("followed journey %s: %d checks, status %q (registry %q)", id, j.Checks, j.Status, sj.Status)
		}
	}
	if followed == 0 {
		t.Fatalf("no journey under the lowest ratio %v", lowest)
	}
	if st := w.tr.Stats(); st.Tracked != n {
		t.Fatalf("sampling lost journeys: %d tracked", st.Tracked)
	}
	t.Logf("lowest ratio %.3f, %d journeys followed throughout, %d checks skipped, %d requests",
		lowest, followed, outcome(w, scheduler.OutcomeSkipped), w.requests.Load())
}

// A 429 means wait: the journeys stay due, nothing is sent until the
// registry's Retry-After, and the state says so.
func TestRateLimitedWaits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{
		// An hour's window: a test minutes long cannot see it reset.
		sim:    func(c *simulator.Config) { c.Limits.Status = simulator.Limit{Requests: 5, Window: time.Hour} },
		client: func(c *registry.Config) { c.CallTimeout = time.Second },
	})
	for i := range 20 {
		w.put(fmt.Sprintf("rl%02d", i), testStart, simulator.StatusPending)
	}
	w.clk.Advance(time.Hour)
	waitFor(t, 5*time.Second, "rate limiting", func() bool { return w.sched.Stats().State == "rate_limited" })
	waitFor(t, 5*time.Second, "the checks in flight", func() bool { return w.sched.Stats().InFlight == 0 })
	sent := w.requests.Load()
	time.Sleep(300 * time.Millisecond) // a window in which nothing may be sent
	if got := w.requests.Load(); got != sent {
		t.Errorf("%d requests sent while rate limited", got-sent)
	}
	// The registry allows 5; the client may keep the last of them back
	// itself, spreading what X-RateLimit-Remaining leaves over the window.
	checked := outcome(w, scheduler.OutcomeChecked)
	if outcome(w, scheduler.OutcomeRateLimited) == 0 || checked == 0 || checked > 5 {
		t.Errorf("outcomes %v", w.sched.Stats().Outcomes)
	}
	// No journey is lost: each is checked, due again, or on its way back.
	waitFor(t, 5*time.Second, "every journey accounted for", func() bool {
		due, _ := w.tr.DueCount(w.clk.Now(), nil)
		return due+w.sched.Stats().InFlight+int(checked) == 20
	})
}

// Failing authentication stops polling the registry and shows in the
// state; the journeys wait, unchanged.
func TestAuthFailureStopsPolling(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		sim  func(*simulator.Config)
	}{
		{"unauthorized", func(c *simulator.Config) { c.Tokens[0].Value = "another-token" }},
		{"forbidden", func(c *simulator.Config) { c.Tokens[0].Permissions = []string{simulator.PermCreate} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{sim: c.sim})
			for i := range 20 {
				w.put(fmt.Sprintf("au%02d", i), testStart, simulator.StatusPending)
			}
			w.clk.Advance(time.Hour)
			waitFor(t, 5*time.Second, "auth_failed", func() bool { return w.sched.Stats().State == "auth_failed" })
			waitFor(t, 5*time.Second, "the checks in flight", func() bool { return w.sched.Stats().InFlight == 0 })
			sent := w.requests.Load()
			w.clk.Advance(24 * time.Hour)
			time.Sleep(200 * time.Millisecond)
			if got := w.requests.Load(); got != sent {
				t.Errorf("%d requests after authentication failed", got-sent)
			}
			if sent > 8 {
				t.Errorf("%d requests before stopping, want at most the concurrency", sent)
			}
			st := w.tr.Stats()
			if st.Tracked != 20 || st.ByStatus[tracker.Statuses.Index(tracker.StatusUnchecked)] != 20 {
				t.Errorf("journeys changed: %+v", st.ByStatus)
			}
			if outcome(w, scheduler.OutcomeAuthFailed) == 0 {
				t.Error("auth failures not counted")
			}
		})
	}
}

// A journey the registry does not know is counted and shown as not_found;
// the registry answered, so polling goes on.
func TestNotFoundIsCounted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.put("known1", testStart, simulator.StatusPending)
	w.tr.Register(w.clk.Now(), tracker.Registration{ID: "neversubmitted", Start: testStart})
	w.live(t, 80*time.Hour, time.Hour, nil)
	j, _ := w.tr.Lookup("neversubmitted")
	st := w.tr.Stats()
	if j.Status != tracker.StatusNotFound || st.NotFound != uint64(tracker.DefaultPolicy.MaxNotFound) {
		t.Fatalf("status %q, 404s counted %d", j.Status, st.NotFound)
	}
	if s := w.sched.Stats(); s.State != "polling" || s.LastSuccess.IsZero() || s.Outcomes[scheduler.OutcomeNotFound] == 0 {
		t.Fatalf("scheduler %+v", s)
	}
	if k, _ := w.tr.Lookup("known1"); k.Status != "ok" {
		t.Fatalf("the known journey ended %q", k.Status)
	}
}

// Server errors, maintenance and bodies that do not decode put the journey
// back after the error backoff, unchanged; repeated ones mark the registry
// unavailable; it recovers when the registry does.
func TestFailuresBackOffAndRecover(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		faults simulator.Faults
	}{
		{"server_error", simulator.Faults{ServerErrorRatio: 1}},
		{"maintenance", simulator.Faults{Maintenance: true}},
		{"malformed", simulator.Faults{MalformedRatio: 1}},
		{"truncated", simulator.Faults{TruncatedRatio: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{})
			for i := range 5 {
				w.put(fmt.Sprintf("se%d", i), testStart, simulator.StatusPending)
			}
			w.sim.SetFaults(c.faults)
			w.clk.Advance(time.Hour)
			waitFor(t, 10*time.Second, "unavailable", func() bool { return w.sched.Stats().State == "unavailable" })
			waitFor(t, 10*time.Second, "every journey to fail once", func() bool {
				due, _ := w.tr.DueCount(w.clk.Now(), nil)
				return due == 0 && w.sched.Stats().InFlight == 0
			})
			if outcome(w, scheduler.OutcomeError) < 5 {
				t.Fatalf("errors counted %d", outcome(w, scheduler.OutcomeError))
			}
			if j, _ := w.tr.Lookup("se0"); j.Status != tracker.StatusUnchecked || j.Checks != 0 {
				t.Fatalf("a failed check changed the journey: %+v", j)
			}
			w.sim.SetFaults(simulator.Faults{})
			w.clk.Advance(5 * time.Minute)
			waitFor(t, 10*time.Second, "recovery", func() bool { return w.sched.Stats().State == "polling" })
			w.settle(t)
			if j, _ := w.tr.Lookup("se0"); j.Status != "pending" {
				t.Fatalf("after recovery: %+v", j)
			}
		})
	}
}

// A version the registry no longer serves answers 404 with an empty body:
// polling stops and the state names the cause.
func TestUnsupportedVersionStopsPolling(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{
		sim:    func(c *simulator.Config) { c.Versions = []string{"3.2", "3.3"} },
		client: func(c *registry.Config) { c.Version = "3.1" },
	})
	w.put("v1", testStart, simulator.StatusPending)
	w.clk.Advance(time.Hour)
	waitFor(t, 5*time.Second, "unsupported_version", func() bool { return w.sched.Stats().State == "unsupported_version" })
	if j, _ := w.tr.Lookup("v1"); j.Status == tracker.StatusNotFound {
		t.Fatal("an unsupported version was taken for a vanished journey")
	}
}

// The v2 API follows journeys by the registry's own journey_id, on a
// registry that still serves it.
func TestV2Checker(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{sim: func(c *simulator.Config) { c.Versions = simulator.AllVersions }})
	w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: "v2journey", JourneyID: 4242,
		Status: simulator.StatusOK, StartAt: testStart, CreatedAt: testStart})
	client, err := registry.New(registry.Config{BaseURL: w.url, Auth: registry.Auth{Token: testToken}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scheduler.V2(client).Check(context.Background(), "4242")
	if err != nil || res.Status != "ok" || res.CreatedAt.IsZero() {
		t.Fatalf("v2 check: %+v, %v", res, err)
	}
}

// checkerFunc lets a test decide each answer, to drive the scheduler
// through a credential being fixed, which the simulator cannot do
// mid-run.
type checkerFunc func(ctx context.Context, id string) (tracker.Result, error)

func (f checkerFunc) Check(ctx context.Context, id string) (tracker.Result, error) { return f(ctx, id) }

// While authentication fails, one probe is sent each AuthRetryInterval;
// the first that succeeds resumes polling.
func TestAuthRecoversWithOneProbeAtATime(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(testStart, 0)
	tr := tracker.New(tracker.DefaultPolicy)
	for i := range 10 {
		tr.Register(testStart, tracker.Registration{ID: fmt.Sprint("p", i), Start: testStart})
	}
	var calls, failing atomic.Int64
	failing.Store(1)
	s := scheduler.New(scheduler.Config{
		Checker: checkerFunc(func(context.Context, string) (tracker.Result, error) {
			calls.Add(1)
			if failing.Load() == 1 {
				return tracker.Result{}, &registry.Error{Kind: registry.KindUnauthorized, Endpoint: registry.EndpointJourneyStatus, HTTPStatus: 401}
			}
			return tracker.Result{Status: "pending"}, nil
		}),
		Tracker: tr, Clock: clk, Rate: 1000, Concurrency: 1,
		AuthRetryInterval: 100 * time.Millisecond, ErrorBackoff: time.Minute, MaxDelay: time.Hour,
		Poll: time.Millisecond, Tick: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	clk.Advance(time.Hour)
	waitFor(t, 5*time.Second, "auth_failed", func() bool { return s.Stats().State == "auth_failed" })
	time.Sleep(350 * time.Millisecond)
	if n := calls.Load(); n < 2 || n > 5 {
		t.Fatalf("%d calls in 350 ms of failing authentication, want one probe per 100 ms", n)
	}
	failing.Store(0)
	waitFor(t, 5*time.Second, "polling again", func() bool { return s.Stats().State == "polling" })
	waitFor(t, 5*time.Second, "every journey checked", func() bool {
		return tr.Stats().ByStatus[tracker.Statuses.Index("pending")] == 10
	})
}
