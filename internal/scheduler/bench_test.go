package scheduler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	benchToken    = "scheduler-bench-token"
	benchOperator = 1
	// benchJourneys are followed over one whole lifecycle per iteration.
	benchJourneys = 500
	// benchStep is how far the clock moves between two looks at the
	// queue; checks therefore run up to one step after they are due.
	benchStep = 10 * time.Minute
	// benchHorizon is how long after the latest start the run goes on:
	// past the 72 h settle check of every journey.
	benchHorizon = 80 * time.Hour
)

var benchEpoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// BenchmarkRequestsPerJourney measures the status requests the exporter
// spends on one journey over its whole lifecycle with the default policy,
// against the simulated registry over real HTTP: registration, pending
// checks, the 48–54 h fraud and anomaly batches, the 72 h settle check.
//
// For comparison, polling every journey once a minute until it settles at
// 72 h would cost 72 × 60 = 4,320 requests per journey.
//
// Each iteration follows benchJourneys journeys that started over the last
// hour: most end ok, one in ten is flagged distance_duration_anomaly by the
// simulator's batch and one in ten temporal_overlap_anomaly. (fraud_error
// cannot be produced through Simulator.Put: the simulator only knows the
// other operators' trips its traffic generator invents.) At the end every
// journey's tracked status and labels must equal the registry's.
//
// unknown_start registers a share of the journeys without a start time:
// the tracker anchors their schedule on the created_at the first check
// reads.
//
// batch=24-30h runs the registry's batches at the servers' example
// settings (DELAY 24 h, FRAME 6 h) instead of the older notes' 48-54 h.
func BenchmarkRequestsPerJourney(b *testing.B) {
	for _, c := range []struct {
		name       string
		unknownPct int
		batchDelay time.Duration
	}{
		{"unknown_start=0pct", 0, 48 * time.Hour},
		{"unknown_start=50pct", 50, 48 * time.Hour},
		{"batch=24-30h/unknown_start=0pct", 0, 24 * time.Hour},
	} {
		unknownPct := c.unknownPct
		b.Run(c.name, func(b *testing.B) {
			var total benchLifecycle
			for b.Loop() {
				total.add(runBenchLifecycle(b, benchJourneys, unknownPct, c.batchDelay))
			}
			b.ReportMetric(float64(total.requests)/float64(total.journeys), "requests/journey")
			if total.known > 0 && total.unknown > 0 {
				b.ReportMetric(float64(total.knownRequests)/float64(total.known), "requests/known-start-journey")
				b.ReportMetric(float64(total.unknownRequests)/float64(total.unknown), "requests/unknown-start-journey")
			}
			if testing.Verbose() {
				b.Logf("check times from the journey's anchor (start, else created_at), rounded to the step, by journey count:\n%s", total.patternReport())
			}
		})
	}
}

// benchLifecycle is what one or more runs counted.
type benchLifecycle struct {
	journeys, requests             int
	known, unknown                 int
	knownRequests, unknownRequests int
	patterns                       map[string]int
}

func (l *benchLifecycle) add(o benchLifecycle) {
	l.journeys += o.journeys
	l.requests += o.requests
	l.known += o.known
	l.unknown += o.unknown
	l.knownRequests += o.knownRequests
	l.unknownRequests += o.unknownRequests
	if l.patterns == nil {
		l.patterns = map[string]int{}
	}
	for p, n := range o.patterns {
		l.patterns[p] += n
	}
}

func (l *benchLifecycle) patternReport() string {
	keys := make([]string, 0, len(l.patterns))
	for p := range l.patterns {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return l.patterns[keys[i]] > l.patterns[keys[j]] })
	var sb strings.Builder
	for _, p := range keys {
		fmt.Fprintf(&sb, "%7d  %s\n", l.patterns[p], p)
	}
	return sb.String()
}

// benchChecker counts the checks the scheduler starts and notes the
// schedule time of each, so the benchmark can tell when the scheduler is
// idle and explain what it spent.
type benchChecker struct {
	scheduler.Checker
	clock   clock.Clock
	started atomic.Int64
	mu      sync.Mutex
	at      map[string][]time.Time
}

func (c *benchChecker) Check(ctx context.Context, id string) (tracker.Result, error) {
	c.started.Add(1)
	c.mu.Lock()
	c.at[id] = append(c.at[id], c.clock.Now())
	c.mu.Unlock()
	return c.Checker.Check(ctx, id)
}

// runBenchLifecycle follows n journeys from registration until well past
// their settle check and returns what it cost.
func runBenchLifecycle(b *testing.B, n, unknownPct int, batchDelay time.Duration) benchLifecycle {
	b.Helper()
	// The registry and the exporter read two clocks moved in step: the
	// registry's moves first and runs its batches, so a check never races
	// the batch of the same instant.
	simClock := clock.NewAccelerated(benchEpoch, 0)
	c := clock.NewAccelerated(benchEpoch, 0)
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: benchToken, OperatorID: benchOperator}},
		Clock:  simClock,
		// The benchmark counts the scheduler's requests, not 429s.
		Limits:    simulator.Limits{Status: simulator.Limit{Requests: 1e7, Window: time.Minute}},
		Lifecycle: simulator.Lifecycle{CheckFrom: batchDelay, CheckTo: batchDelay + 6*time.Hour},
		Seed:      1,
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	var requests atomic.Int64
	client, err := registry.New(registry.Config{
		BaseURL: srv.URL, Auth: registry.Auth{Token: benchToken}, Rate: 1e6, Burst: 1000,
		Observer: func(o registry.Observation) {
			if o.Endpoint == registry.EndpointJourneyStatus {
				requests.Add(1)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}

	now := c.Now()
	tr := tracker.New(tracker.DefaultPolicy)
	ids := make([]string, n)
	known := make([]bool, n)
	anchors := make([]time.Time, n)
	latest := time.Time{}
	for i := range n {
		id := fmt.Sprintf("bench%07d", i)
		start := now.Add(-time.Duration(i) * time.Hour / time.Duration(n))
		end := start.Add(15 * time.Minute)
		created := end.Add(2 * time.Minute)
		if created.After(now) {
			created = now
		}
		j := simulator.Journey{
			OperatorID: benchOperator, OperatorJourneyID: id, Status: simulator.StatusPending,
			CreatedAt: created, StartAt: start, EndAt: end, DistanceMeters: 5000,
			DriverKey: fmt.Sprintf("driver%d", i), PassengerKey: fmt.Sprintf("passenger%d", i),
		}
		switch i % 10 {
		case 3:
			j.DistanceMeters = 100 // distance_duration_anomaly
		case 7:
			// The same passenger as the journey before, at almost the
			// same time: temporal_overlap_anomaly on this, the later one.
			j.PassengerKey = fmt.Sprintf("passenger%d", i-1)
		}
		sim.Put(j)
		ids[i] = id
		known[i] = tracker.Hash(id)%100 >= uint64(unknownPct)
		reg := tracker.Registration{ID: id, Source: tracker.SourceConfig}
		anchors[i] = created
		if known[i] {
			reg.Start = start
			anchors[i] = start
		}
		tr.Register(now, reg)
		if start.After(latest) {
			latest = start
		}
	}
	sim.Tick() // the first batch runs now, then every hour

	chk := &benchChecker{Checker: scheduler.V3(client), clock: c, at: map[string][]time.Time{}}
	sched := scheduler.New(scheduler.Config{
		Name: "bench", Checker: chk, Tracker: tr, Clock: c,
		Rate: 1e6, Concurrency: 8, MaxDelay: time.Hour, ErrorBackoff: 5 * time.Minute,
		AuthRetryInterval: time.Minute, Poll: time.Millisecond, Tick: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	end := latest.Add(benchHorizon)
	for c.Now().Before(end) {
		simClock.Advance(benchStep)
		sim.Tick()
		c.Advance(benchStep)
		waitBenchIdle(b, tr, sched, chk, c)
	}
	cancel()
	<-done
	srv.Close() // waits for the simulator to log every answer

	st := sched.Stats()
	if st.Outcomes[scheduler.OutcomeSkipped] != 0 || st.SamplingRatio != 1 {
		b.Fatalf("the scheduler sampled (ratio %v, %d skipped): the figure would not be the full lifecycle's",
			st.SamplingRatio, st.Outcomes[scheduler.OutcomeSkipped])
	}
	for _, o := range []scheduler.Outcome{scheduler.OutcomeNotFound, scheduler.OutcomeRateLimited, scheduler.OutcomeAuthFailed, scheduler.OutcomeError} {
		if st.Outcomes[o] != 0 {
			b.Fatalf("%d checks ended %s", st.Outcomes[o], scheduler.OutcomeNames[o])
		}
	}

	// Requests as the registry saw them, by journey.
	perID := map[string]int{}
	simRequests := 0
	for _, r := range sim.Requests() {
		if r.Group == "status" && r.Method == http.MethodGet {
			simRequests++
			perID[path.Base(r.Path)]++
		}
	}
	if got := int(requests.Load()); got != simRequests {
		b.Fatalf("the client made %d status requests, the registry answered %d", got, simRequests)
	}

	out := benchLifecycle{journeys: n, requests: simRequests, patterns: map[string]int{}}
	byStatus := map[string]int{}
	for i, id := range ids {
		tj, ok := tr.Lookup(id)
		if !ok {
			b.Fatalf("%s: no longer tracked", id)
		}
		sj, ok := sim.Journey(id)
		if !ok {
			b.Fatalf("%s: unknown to the registry", id)
		}
		var anomalies []string
		for _, a := range sj.Anomalies {
			anomalies = append(anomalies, a.Label)
		}
		if tj.Status != sj.Status || !benchSameSet(tj.FraudLabels, sj.FraudLabels) || !benchSameSet(tj.AnomalyLabels, anomalies) {
			b.Fatalf("%s: tracked as %s %v %v, the registry says %s %v %v", id,
				tj.Status, tj.FraudLabels, tj.AnomalyLabels, sj.Status, sj.FraudLabels, anomalies)
		}
		if tj.Checks != perID[id] {
			b.Fatalf("%s: %d checks recorded, %d requests", id, tj.Checks, perID[id])
		}
		byStatus[sj.Status]++
		if known[i] {
			out.known++
			out.knownRequests += perID[id]
		} else {
			out.unknown++
			out.unknownRequests += perID[id]
		}
		out.patterns[benchPattern(known[i], anchors[i], chk.at[id])]++
	}
	if byStatus[simulator.StatusOK] == 0 || byStatus[simulator.StatusAnomalyError] == 0 {
		b.Fatalf("statuses %v: want both ok and anomaly_error", byStatus)
	}
	return out
}

// waitBenchIdle waits until nothing is due at the clock's time and no
// check is in flight. A journey taken from the queue is in the scheduler's
// hands for a few instructions before its check starts, so the idle state
// must hold on two looks a millisecond apart (the scheduler's Poll).
func waitBenchIdle(b *testing.B, tr *tracker.Tracker, sched *scheduler.Scheduler, chk *benchChecker, c clock.Clock) {
	deadline := time.Now().Add(30 * time.Second)
	for calm := 0; calm < 2; {
		if time.Now().After(deadline) {
			b.Fatalf("the scheduler did not catch up at %v", c.Now())
		}
		now := c.Now()
		due, _ := tr.DueCount(now, nil)
		next, queued := tr.NextDue()
		o := sched.Stats().Outcomes
		answered := o[scheduler.OutcomeChecked] + o[scheduler.OutcomeNotFound] + o[scheduler.OutcomeRateLimited] +
			o[scheduler.OutcomeAuthFailed] + o[scheduler.OutcomeError]
		if due == 0 && (!queued || next.After(now)) && uint64(chk.started.Load()) == answered {
			calm++
		} else {
			calm = 0
		}
		time.Sleep(time.Millisecond)
	}
}

// benchPattern renders a journey's check times from its anchor.
func benchPattern(known bool, anchor time.Time, at []time.Time) string {
	var sb strings.Builder
	if known {
		sb.WriteString("start  ")
	} else {
		sb.WriteString("unknown")
	}
	for _, t := range at {
		d := t.Sub(anchor).Round(benchStep)
		fmt.Fprintf(&sb, " +%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return sb.String()
}

func benchSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
