package scheduler_test

import (
	"context"
	"fmt"
	"math"
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
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	benchToken    = "scheduler-bench-token"
	benchOperator = 1
	// benchPerHour journeys are submitted over one simulated hour per
	// iteration (cases that submit several journeys add a few), and
	// followed over their whole lifecycle.
	benchPerHour = 2000
	// benchStep is how far the clock moves between two looks at the
	// queue; checks therefore run up to one step after they are due.
	benchStep = 10 * time.Minute
	// benchHorizon is how long after the submissions the run goes on:
	// past the 72 h settle look of every journey.
	benchHorizon = 80 * time.Hour
	// benchBudget is the default budget, 5 requests a second.
	benchBudget = 5 * 86400
)

// benchEpochs start the hour of submissions: at noon UTC every journey is
// listable (from the next UTC midnight) before the batches can decide it;
// at 22:30 UTC most started late in the UTC day, and are listable only 24
// to 26 h after their start, after the early frame's first batches.
var benchEpochs = []time.Time{time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)}

// benchSources are the ways a journey reaches the exporter, in the order
// of the per-source figures.
var benchSources = []tracker.Source{tracker.SourcePush, tracker.SourceConfig, tracker.SourceDiscovery, tracker.SourceProxy}

// BenchmarkRequestsPerJourney measures the requests the exporter spends
// on one journey over its whole lifecycle, by the source that registered
// it, against the simulated registry over real HTTP: registration, the
// early check, the fraud and anomaly batches, the 72 h settle look.
// policy=per-journey is the scheduler before issue 14 (every look a
// status request); policy=lists reads the verdicts in the registry's
// exact lists and checks on its own only what they leave undecided.
//
// The registry's traffic is simulator.RealisticTraffic: about 90 % ok,
// fraud and anomaly errors, terms refusals (expired included),
// cancellations and acquisition errors at a few percent each. A quarter
// of the journeys comes from each source: push (start known), the
// configuration (start unknown: the schedule is anchored on the
// created_at the first check reads), discovery (registered, without a
// start, once the list can show it: from the Paris midnight after its
// start; refused journeys, which the list shows only until the batches
// check them, go to the configuration's quarter), and the proxy (start and
// the submission's answer known, and the operator's cancels, which it
// relays too). At the end every journey's status,
// labels and reasons must equal the registry's.
//
// Figures: requests/journey by source, list requests shared equally by
// every journey (a round reads the lists once for all of them); the p99
// delay, in hours, from the registry deciding a journey's final status
// (or its registration, when later) to the exporter's clock reading when
// it holds it, over every journey and for the worst source; and the new
// journeys a day a 5 requests/s budget follows without sampling, from the
// most expensive of push, configuration and discovery. The lists' cost per
// journey falls as the volume grows, so that capacity is an
// underestimate above this benchmark's volume (2,000 journeys an hour).
//
// batch=24-30h runs the registry's batches at the servers' example
// settings (DELAY 24 h, FRAME 6 h) instead of the older notes' 48-54 h.
func BenchmarkRequestsPerJourney(b *testing.B) {
	for _, batch := range []struct {
		name  string
		delay time.Duration
	}{{"48-54h", 48 * time.Hour}, {"24-30h", 24 * time.Hour}} {
		for _, epoch := range benchEpochs {
			for _, lists := range []bool{false, true} {
				name := "policy=per-journey"
				if lists {
					name = "policy=lists"
				}
				b.Run(fmt.Sprintf("batch=%s/submitted=%sUTC/%s", batch.name, epoch.Format("15:04"), name), func(b *testing.B) {
					var total benchLifecycle
					for b.Loop() {
						total.add(runBenchLifecycle(b, epoch, batch.delay, lists))
					}
					total.report(b)
				})
			}
		}
	}
}

// benchLifecycle is what one or more runs counted.
type benchLifecycle struct {
	journeys [len(tracker.SourceNames)]int
	gets     [len(tracker.SourceNames)]int
	lists    int
	delays   [len(tracker.SourceNames)][]time.Duration
	// cancels: the delays of the journeys whose final status is canceled.
	cancels     [len(tracker.SourceNames)][]time.Duration
	byStatus    map[string]int
	patterns    map[string]int
	overOneHour []string
	iterations  int
}

func (l *benchLifecycle) add(o benchLifecycle) {
	for i := range l.journeys {
		l.journeys[i] += o.journeys[i]
		l.gets[i] += o.gets[i]
		l.delays[i] = append(l.delays[i], o.delays[i]...)
		l.cancels[i] = append(l.cancels[i], o.cancels[i]...)
	}
	l.lists += o.lists
	if l.byStatus == nil {
		l.byStatus, l.patterns = map[string]int{}, map[string]int{}
	}
	for k, v := range o.byStatus {
		l.byStatus[k] += v
	}
	for k, v := range o.patterns {
		l.patterns[k] += v
	}
	l.overOneHour = append(l.overOneHour, o.overOneHour...)
	l.iterations++
}

func (l *benchLifecycle) report(b *testing.B) {
	all := 0
	var delays []time.Duration
	for _, s := range benchSources {
		all += l.journeys[s]
		delays = append(delays, l.delays[s]...)
	}
	listShare := float64(l.lists) / float64(all)
	worst, worstDelay := 0.0, time.Duration(0)
	for _, s := range benchSources {
		rpj := float64(l.gets[s])/float64(l.journeys[s]) + listShare
		b.ReportMetric(rpj, "requests/journey:"+s.String())
		if s != tracker.SourceProxy {
			worst = max(worst, rpj)
		}
		worstDelay = max(worstDelay, p99(l.delays[s]))
		b.ReportMetric(p99(l.delays[s]).Hours(), "p99-verdict-delay-h:"+s.String())
	}
	b.ReportMetric(listShare, "list-requests/journey")
	b.ReportMetric(p99(delays).Hours(), "p99-verdict-delay-h")
	b.ReportMetric(worstDelay.Hours(), "p99-verdict-delay-worst-source-h")
	within := 0
	for _, d := range delays {
		if d <= time.Hour {
			within++
		}
	}
	b.ReportMetric(100*float64(within)/float64(len(delays)), "pct-seen-within-1h")
	b.ReportMetric(benchBudget/worst, "journeys/day@5rps")
	// A cancel the operator sends through the proxy is seen from the
	// registry's answer; the other sources see it at a look.
	b.ReportMetric(p99(l.cancels[tracker.SourceProxy]).Hours(), "p99-cancel-delay-h:proxy")
	b.ReportMetric(p99(l.cancels[tracker.SourcePush]).Hours(), "p99-cancel-delay-h:push")
	if testing.Verbose() {
		b.Logf("final statuses: %v", l.byStatus)
		b.Logf("seen more than 1 h after the registry decided (source status delay): %v", l.overOneHour[:min(len(l.overOneHour), 40)])
		keys := make([]string, 0, len(l.patterns))
		for p := range l.patterns {
			keys = append(keys, p)
		}
		sort.Slice(keys, func(i, j int) bool { return l.patterns[keys[i]] > l.patterns[keys[j]] })
		var sb strings.Builder
		for _, p := range keys[:min(len(keys), 30)] {
			fmt.Fprintf(&sb, "%7d  %s\n", l.patterns[p], p)
		}
		b.Logf("own checks from the journey's registration, by source and final status:\n%s", sb.String())
	}
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Ceil(0.99*float64(len(s))))-1]
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

// benchJourney is what the benchmark knows of one submitted journey.
type benchJourney struct {
	source     tracker.Source
	sub        simulator.Submission
	registered time.Time
	status     string    // as the tracker last held it
	changed    time.Time // when the tracker's status last changed
}

// runBenchLifecycle follows an hour of submissions from registration
// until well past their settle look and returns what it cost.
func runBenchLifecycle(b *testing.B, epoch time.Time, batchDelay time.Duration, lists bool) benchLifecycle {
	b.Helper()
	// The registry and the exporter read two clocks moved in step: the
	// registry's moves first, submits and runs its batches, so a check
	// never races the batch of the same instant.
	simClock := clock.NewAccelerated(epoch, 0)
	c := clock.NewAccelerated(epoch, 0)
	var (
		subsMu sync.Mutex
		subs   []simulator.Submission
	)
	traffic := simulator.RealisticTraffic()
	traffic.PerHour = benchPerHour
	traffic.OnSubmit = func(s simulator.Submission) {
		subsMu.Lock()
		subs = append(subs, s)
		subsMu.Unlock()
	}
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: benchToken, OperatorID: benchOperator}},
		Clock:  simClock,
		// The benchmark counts the scheduler's requests, not 429s.
		Limits:    simulator.Limits{Status: simulator.Limit{Requests: 1e7, Window: time.Minute}},
		Lifecycle: simulator.Lifecycle{CheckFrom: batchDelay, CheckTo: batchDelay + 6*time.Hour},
		Traffic:   &traffic,
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
			if o.Endpoint == registry.EndpointJourneyStatus || o.Endpoint == registry.EndpointJourneyList {
				requests.Add(1)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}

	policy := tracker.DefaultPolicy
	var lister discovery.Lister
	if lists {
		policy, lister = policy.WithBulk(), client
	}
	tr := tracker.New(policy)
	// Restored, the tracker records its changes: the benchmark reads when
	// each journey's status changed from them.
	if _, err := tr.Restore(tracker.Saved{}); err != nil {
		b.Fatal(err)
	}
	chk := &benchChecker{Checker: scheduler.V3(client), clock: c, at: map[string][]time.Time{}}
	sched := scheduler.New(scheduler.Config{
		Name: "bench", Checker: chk, Lister: lister, Tracker: tr, Clock: c,
		Rate: 1e6, Concurrency: 8, MaxDelay: time.Hour, ErrorBackoff: 5 * time.Minute,
		AuthRetryInterval: time.Minute, Poll: time.Millisecond, Tick: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()

	journeys := map[string]*benchJourney{}
	var order []string
	var undiscovered []*benchJourney
	register := func(j *benchJourney, at time.Time) {
		reg := tracker.Registration{ID: j.sub.OperatorJourneyID, Source: j.source}
		switch j.source {
		case tracker.SourcePush:
			reg.Start, reg.SubmittedAt = j.sub.StartAt, j.sub.SubmittedAt
		case tracker.SourceProxy:
			reg.Start, reg.Status = j.sub.StartAt, "pending"
			if j.sub.HTTPStatus == http.StatusUnprocessableEntity {
				reg.Status, reg.TermsReasons = "terms_violation_error", j.sub.TermsLabels
			}
		}
		j.registered, j.changed = at, at
		tr.Register(at, reg)
		if l, ok := tr.Lookup(reg.ID); ok {
			j.status = l.Status
		}
	}
	var changes tracker.Changes
	end := epoch.Add(benchHorizon)
	for c.Now().Before(end) {
		if simClock.Now().Sub(epoch) >= time.Hour {
			if _, err := sim.UpdateTraffic(func(t *simulator.Traffic) { t.PerHour = 0 }); err != nil {
				b.Fatal(err)
			}
		}
		simClock.Advance(benchStep)
		sim.Tick()
		now := simClock.Now()
		subsMu.Lock()
		fresh := subs
		subs = nil
		subsMu.Unlock()
		for _, s := range fresh {
			if s.HTTPStatus != http.StatusCreated && s.HTTPStatus != http.StatusUnprocessableEntity {
				continue
			}
			id := s.OperatorJourneyID
			j := &benchJourney{source: benchSources[tracker.Hash(id)%uint64(len(benchSources))], sub: s}
			if j.source == tracker.SourceDiscovery && s.HTTPStatus != http.StatusCreated {
				j.source = tracker.SourceConfig
			}
			journeys[id] = j
			order = append(order, id)
			if j.source == tracker.SourceDiscovery {
				undiscovered = append(undiscovered, j)
				continue
			}
			register(j, s.SubmittedAt)
			if sj, ok := sim.Journey(id); ok && j.source == tracker.SourceProxy && sj.Status == simulator.StatusCanceled {
				// The operator canceled it through the proxy as well:
				// applied from the registry's answer, at its moment.
				at, _ := sim.StatusSince(id)
				tr.Relayed(at, tracker.SourceProxy, tracker.Change{ID: id, Op: tracker.Cancel})
				j.status, j.changed = sj.Status, at
			}
		}
		// Discovery lists a journey from the first round (every 10
		// minutes) after the list's end passed its start.
		listEnd := registry.SafeListWindow(now).End
		undiscovered = slices.DeleteFunc(undiscovered, func(j *benchJourney) bool {
			if j.sub.StartAt.Before(listEnd) {
				register(j, now)
				return true
			}
			return false
		})
		c.Advance(benchStep)
		waitBenchIdle(b, tr, sched, chk, c)
		for more := true; more; {
			more = tr.TakeChanges(&changes, 0)
			for i := range changes.Len() {
				id, _ := changes.Upsert(i)
				if l, ok := tr.Lookup(id); ok && journeys[id] != nil && l.Status != journeys[id].status {
					journeys[id].status, journeys[id].changed = l.Status, c.Now()
				}
			}
		}
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
	if len(undiscovered) > 0 {
		b.Fatalf("%d journeys never listable", len(undiscovered))
	}

	// Requests as the registry saw them, by journey.
	perID := map[string]int{}
	simRequests, listRequests := 0, 0
	for _, r := range sim.Requests() {
		if r.Group != "status" || r.Method != http.MethodGet {
			continue
		}
		simRequests++
		if path.Base(r.Path) == "journeys" {
			listRequests++
		} else {
			perID[path.Base(r.Path)]++
		}
	}
	if got := int(requests.Load()); got != simRequests {
		b.Fatalf("the client made %d status and list requests, the registry answered %d", got, simRequests)
	}
	if uint64(listRequests) != st.ListRequests {
		b.Fatalf("the scheduler counted %d list requests, the registry answered %d", st.ListRequests, listRequests)
	}

	out := benchLifecycle{lists: listRequests, byStatus: map[string]int{}, patterns: map[string]int{}}
	for _, id := range order {
		j := journeys[id]
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
		if tj.Status != sj.Status || !sameSet(tj.FraudLabels, sj.FraudLabels) ||
			!sameSet(tj.AnomalyLabels, anomalies) || !sameSet(tj.TermsReasons, sj.TermsViolations) {
			b.Fatalf("%s (%s): tracked as %s %v %v %v, the registry says %s %v %v %v", id, j.source,
				tj.Status, tj.FraudLabels, tj.AnomalyLabels, tj.TermsReasons, sj.Status, sj.FraudLabels, anomalies, sj.TermsViolations)
		}
		if tj.Checks != perID[id] {
			b.Fatalf("%s: %d checks recorded, %d requests", id, tj.Checks, perID[id])
		}
		decided, _ := sim.StatusSince(id)
		delay := j.changed.Sub(later(decided, j.registered))
		if delay > time.Hour {
			out.overOneHour = append(out.overOneHour, fmt.Sprintf("%s %s %v", j.source, sj.Status, delay))
		}
		out.byStatus[sj.Status]++
		out.journeys[j.source]++
		out.gets[j.source] += perID[id]
		out.delays[j.source] = append(out.delays[j.source], max(delay, 0))
		if sj.Status == simulator.StatusCanceled {
			out.cancels[j.source] = append(out.cancels[j.source], max(delay, 0))
		}
		out.patterns[benchPattern(j, sj.Status, chk.at[id])]++
	}
	total := 0
	for _, n := range out.byStatus {
		total += n
	}
	if ok := out.byStatus[simulator.StatusOK]; ok < total*8/10 || ok > total*95/100 {
		b.Fatalf("statuses %v: want about 90 %% ok", out.byStatus)
	}
	for _, s := range []string{simulator.StatusFraudError, simulator.StatusAnomalyError, simulator.StatusTermsViolationError,
		simulator.StatusCanceled, simulator.StatusAcquisitionError} {
		if out.byStatus[s] == 0 {
			b.Fatalf("statuses %v: want some %s", out.byStatus, s)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitBenchIdle waits until nothing is due at the clock's time, no check
// is in flight, and the looks gathered for a verdict round, if any, wait
// for a later time. A journey taken from the queue is in the scheduler's
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
		st := sched.Stats()
		o := st.Outcomes
		answered := o[scheduler.OutcomeChecked] + o[scheduler.OutcomeNotFound] + o[scheduler.OutcomeRateLimited] +
			o[scheduler.OutcomeAuthFailed] + o[scheduler.OutcomeError]
		round := sched.RoundDue()
		gathered := st.InFlight == st.Gathered && (st.Gathered == 0 || (!round.IsZero() && round.After(now)))
		if due == 0 && (!queued || next.After(now)) && uint64(chk.started.Load()) == answered && gathered {
			calm++
		} else {
			calm = 0
		}
		time.Sleep(time.Millisecond)
	}
}

// benchPattern renders a journey's own checks from its registration.
func benchPattern(j *benchJourney, status string, at []time.Time) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-9s %-21s", j.source, status)
	for _, t := range at {
		d := t.Sub(j.registered).Round(benchStep)
		fmt.Fprintf(&sb, " +%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return sb.String()
}
