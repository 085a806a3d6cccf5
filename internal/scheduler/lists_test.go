package scheduler_test

// These tests run the list-reading scheduler (issue 14) against the
// simulated registry over real HTTP: verdicts read in the exact lists,
// own checks only where the lists cannot tell, the list's rules kept, late
// changes seen at the confirmation.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// listWorld is a world whose scheduler reads the lists, pages of
// pageSize that shift between requests.
func listWorld(t *testing.T, pageSize int, wrap ...func(http.Handler) http.Handler) *world {
	t.Helper()
	o := worldOptions{
		sim: func(sc *simulator.Config) {
			// Batches 24-30 h after the start (the servers' example).
			sc.Lifecycle.CheckFrom, sc.Lifecycle.CheckTo = 24*time.Hour, 30*time.Hour
		},
		policy: func(p *tracker.Policy) { *p = p.WithBulk() },
		lists:  true, listPageSize: pageSize,
	}
	if len(wrap) > 0 {
		o.wrap = wrap[0]
	}
	w := newWorld(t, o)
	w.sim.SetFaults(simulator.Faults{ShiftPages: true})
	return w
}

// idle waits until nothing is due, no check is in flight, and the looks
// gathered for a verdict round wait for a later time.
func (w *world) idle(t *testing.T) {
	t.Helper()
	calm := 0
	waitFor(t, 10*time.Second, "the scheduler to catch up", func() bool {
		now := w.clk.Now()
		due, _ := w.tr.DueCount(now, nil)
		next, queued := w.tr.NextDue()
		st := w.sched.Stats()
		round := w.sched.RoundDue()
		ok := due == 0 && (!queued || next.After(now)) && st.InFlight == st.Gathered && (st.Gathered == 0 || (!round.IsZero() && round.After(now)))
		if ok {
			calm++
		} else {
			calm = 0
		}
		return calm >= 3
	})
}

// liveLists is live with idle.
func (w *world) liveLists(t *testing.T, d, step time.Duration) {
	t.Helper()
	for end := w.clk.Now().Add(d); w.clk.Now().Before(end); {
		w.clk.Advance(step)
		w.sim.Tick()
		w.idle(t)
	}
}

// ownChecks counts the per-journey status requests the registry answered,
// by id, and the list requests, refused ones apart.
func ownChecks(w *world) (byID map[string]int, lists, refused int) {
	byID = map[string]int{}
	for _, r := range w.sim.Requests() {
		if r.Group != "status" || r.Method != http.MethodGet {
			continue
		}
		i := strings.Index(r.Path, "/journeys/")
		if i < 0 {
			lists++
			if r.Status != http.StatusOK {
				refused++
			}
			continue
		}
		byID[r.Path[i+len("/journeys/"):]]++
	}
	return byID, lists, refused
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Journeys whose verdicts the registry gives in its batches end with the
// registry's status, labels and reasons; the lists settle ok, canceled and
// acquisition errors, and only fraud and anomaly errors (whose labels the
// lists do not give) cost a request of their own, beside the first check
// of journeys registered without their status. Pages are small and shift
// between requests; no list request is refused.
func TestListsSettleVerdicts(t *testing.T) {
	t.Parallel()
	w := listWorld(t, 7)
	type jr struct {
		id       string
		final    simulator.Journey
		proxy    bool // registered with its status and start, as the proxy does
		knownOwn int  // own checks expected
	}
	var js []jr
	for i := range 40 {
		start := testStart.Add(-time.Duration(i) * 3 * time.Minute)
		j := simulator.Journey{OperatorID: testOperator, OperatorJourneyID: fmt.Sprintf("List %02d/%s", i, []string{"ok", "x"}[i%2]),
			Status: simulator.StatusOK, CreatedAt: start.Add(40 * time.Minute), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 8000}
		own := 0
		switch i % 8 {
		case 1:
			j.Status = simulator.StatusCanceled
		case 2:
			j.Status = simulator.StatusAcquisitionError
		case 3:
			j.Status, j.FraudLabels = simulator.StatusFraudError, []string{simulator.FraudOverlap}
			own = 1
		case 4:
			j.Status, j.Anomalies = simulator.StatusAnomalyError, []simulator.Anomaly{{Label: simulator.AnomalyDistanceDuration}}
			own = 1
		}
		proxy := i%3 != 0
		if !proxy {
			own++ // the first check
		}
		js = append(js, jr{id: j.OperatorJourneyID, final: j, proxy: proxy, knownOwn: own})
		pending := j
		pending.Status, pending.FraudLabels, pending.Anomalies = simulator.StatusPending, nil, nil
		w.sim.Put(pending)
		reg := tracker.Registration{ID: j.OperatorJourneyID, Source: tracker.SourceConfig}
		if proxy {
			reg = tracker.Registration{ID: j.OperatorJourneyID, Source: tracker.SourceProxy, Start: start, Status: "pending"}
		}
		w.tr.Register(w.clk.Now(), reg)
	}
	// A refused journey pushed without its status shows within minutes.
	refused := simulator.Journey{OperatorID: testOperator, OperatorJourneyID: "late-one", Status: simulator.StatusTermsViolationError,
		TermsViolations: []string{simulator.TermsExpired}, CreatedAt: testStart, StartAt: testStart.Add(-30 * time.Hour),
		EndAt: testStart.Add(-29 * time.Hour), DistanceMeters: 8000}
	w.sim.Put(refused)
	w.tr.Register(w.clk.Now(), tracker.Registration{ID: "late-one", Source: tracker.SourcePush})
	w.liveLists(t, 20*time.Minute, 10*time.Minute)
	if j, _ := w.tr.Lookup("late-one"); j.Status != simulator.StatusTermsViolationError || !sameSet(j.TermsReasons, []string{"expired"}) {
		t.Fatalf("a refusal 20 minutes after registration: %s %v", j.Status, j.TermsReasons)
	}

	// The registry decides 25 h after the starts.
	w.liveLists(t, 25*time.Hour, 10*time.Minute)
	for _, j := range js {
		w.sim.Put(j.final)
	}
	w.liveLists(t, 60*time.Hour, 10*time.Minute)

	byID, lists, refusedLists := ownChecks(w)
	for _, j := range js {
		tj, _ := w.tr.Lookup(j.id)
		var anomalies []string
		for _, a := range j.final.Anomalies {
			anomalies = append(anomalies, a.Label)
		}
		if tj.Status != j.final.Status || !sameSet(tj.FraudLabels, j.final.FraudLabels) || !sameSet(tj.AnomalyLabels, anomalies) {
			t.Errorf("%s: tracked %s %v %v, the registry says %s %v %v", j.id, tj.Status, tj.FraudLabels, tj.AnomalyLabels,
				j.final.Status, j.final.FraudLabels, anomalies)
		}
		if byID[j.id] != j.knownOwn || tj.Checks != j.knownOwn {
			t.Errorf("%s (%s): %d own checks (%d recorded), want %d", j.id, j.final.Status, byID[j.id], tj.Checks, j.knownOwn)
		}
	}
	if refusedLists != 0 {
		t.Errorf("%d of %d list requests refused", refusedLists, lists)
	}
	if st := w.sched.Stats(); st.ListRequests != uint64(lists) || lists == 0 || st.Listed == 0 {
		t.Errorf("the scheduler counted %d list requests and %d listed looks, the registry answered %d", st.ListRequests, st.Listed, lists)
	}
	// Each ok, canceled and acquisition_error journey got its verdict
	// from a list (at least once: a confirming look reads it again), and
	// the pending ones were seen unchanged; every verdict is a listed look.
	st := w.sched.Stats()
	var verdicts uint64
	for i, least := range map[scheduler.ListVerdict]uint64{scheduler.ListVerdictOK: 20, scheduler.ListVerdictCanceled: 5, scheduler.ListVerdictAcquisitionError: 5, scheduler.ListVerdictUnchanged: 1} {
		if st.ListVerdicts[i] < least {
			t.Errorf("%d %s verdicts from lists, want at least %d", st.ListVerdicts[i], scheduler.ListVerdictNames[i], least)
		}
	}
	for _, n := range st.ListVerdicts {
		verdicts += n
	}
	if verdicts > st.Listed {
		t.Errorf("%d list verdicts, more than the %d listed looks", verdicts, st.Listed)
	}
	t.Logf("%d journeys: %d own checks, %d list requests (pages of 7 that shift), list verdicts %v", len(js)+1, w.requests.Load(), lists, st.ListVerdicts)
}

// Verdicts change late: a cancel or a PATCH whose new checks found fraud,
// days after the journey settled, shows at the confirming look; the
// cancel costs no request of its own, the fraud error one for its labels.
func TestLateChangesSeenAtConfirmation(t *testing.T) {
	t.Parallel()
	w := listWorld(t, 0)
	var ids []string
	for i := range 6 {
		start := testStart.Add(-time.Duration(i) * 7 * time.Minute)
		id := fmt.Sprintf("settled%d", i)
		ids = append(ids, id)
		w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: id, Status: simulator.StatusPending,
			CreatedAt: start.Add(40 * time.Minute), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 8000})
		w.tr.Register(w.clk.Now(), tracker.Registration{ID: id, Source: tracker.SourcePush, Start: start})
	}
	w.liveLists(t, 80*time.Hour, 30*time.Minute)
	before, _, _ := ownChecks(w)
	for _, id := range ids {
		if j, _ := w.tr.Lookup(id); j.Status != simulator.StatusOK {
			t.Fatalf("%s: %s after 80 h", id, j.Status)
		}
	}
	canceled, _ := w.sim.Journey(ids[0])
	canceled.Status = simulator.StatusCanceled
	w.sim.Put(canceled)
	patched, _ := w.sim.Journey(ids[1])
	patched.Status, patched.FraudLabels = simulator.StatusFraudError, []string{simulator.FraudTooCloseTrips}
	w.sim.Put(patched)

	w.liveLists(t, 6*24*time.Hour, time.Hour)
	if j, _ := w.tr.Lookup(ids[0]); j.Status != simulator.StatusCanceled {
		t.Errorf("canceled after settling: tracked %s", j.Status)
	}
	if j, _ := w.tr.Lookup(ids[1]); j.Status != simulator.StatusFraudError || !sameSet(j.FraudLabels, patched.FraudLabels) {
		t.Errorf("fraud after settling: tracked %s %v", j.Status, j.FraudLabels)
	}
	after, _, _ := ownChecks(w)
	for _, id := range ids {
		want := before[id]
		if id == ids[1] {
			want++
		}
		if after[id] != want {
			t.Errorf("%s: %d own checks after settling, want %d", id, after[id]-before[id], want-before[id])
		}
	}
	for _, id := range ids {
		if j, _ := w.tr.Lookup(id); !j.NextCheck.IsZero() {
			t.Errorf("%s: still looked at after its confirmation (next %v)", id, j.NextCheck)
		}
	}
}

// A registry that refuses the lists (a 400 it should not give) still has
// every verdict read, by checks of their own: a pending journey is checked
// at most once every 6 hours while lists rest.
func TestRefusedListsFallBackToChecks(t *testing.T) {
	t.Parallel()
	var lists atomic.Int64
	w := listWorld(t, 0, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/journeys") && r.Method == http.MethodGet {
				lists.Add(1)
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusBadRequest)
				_, _ = rw.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"data":"nope","code":-32602,"message":"Invalid params"}}`))
				return
			}
			h.ServeHTTP(rw, r)
		})
	})
	var ids []string
	for i := range 8 {
		start := testStart.Add(-time.Duration(i) * 5 * time.Minute)
		id := fmt.Sprintf("refused-lists-%d", i)
		ids = append(ids, id)
		j := simulator.Journey{OperatorID: testOperator, OperatorJourneyID: id, Status: simulator.StatusPending,
			CreatedAt: start.Add(40 * time.Minute), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 8000}
		if i%4 == 1 {
			j.DistanceMeters = 100 // distance_duration_anomaly
		}
		w.sim.Put(j)
		w.tr.Register(w.clk.Now(), tracker.Registration{ID: id, Source: tracker.SourceProxy, Start: start, Status: "pending"})
	}
	w.sim.Tick()
	w.liveLists(t, 80*time.Hour, 10*time.Minute)
	byID, _, _ := ownChecks(w)
	for _, id := range ids {
		sj, _ := w.sim.Journey(id)
		tj, _ := w.tr.Lookup(id)
		if tj.Status != sj.Status {
			t.Errorf("%s: tracked %s, the registry says %s", id, tj.Status, sj.Status)
		}
		if byID[id] > 12 {
			t.Errorf("%s: %d own checks over 80 h while lists are refused", id, byID[id])
		}
	}
	t.Logf("own checks by journey %v, %d refused list requests", byID, lists.Load())
	if n := lists.Load(); n == 0 || n > 20 {
		t.Errorf("%d list requests over 80 h, want a few: lists rest 6 h after a refusal", n)
	}
}

// Thousands of journeys looked at on the same tick are no backlog: the
// lists read them in a few requests, and a budget of 5 requests a second
// follows them all, without sampling.
func TestLooksDoNotCountAsBacklog(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{
		policy: func(p *tracker.Policy) { *p = p.WithBulk() },
		lists:  true,
		sched:  func(c *scheduler.Config) { c.Rate = 5 },
	})
	const n = 3000
	for i := range n {
		start := testStart.Add(-time.Duration(i) * time.Second)
		id := fmt.Sprintf("many%05d", i)
		w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: id, Status: simulator.StatusPending,
			CreatedAt: start.Add(40 * time.Minute), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 8000})
		w.tr.Register(w.clk.Now(), tracker.Registration{ID: id, Source: tracker.SourceProxy, Start: start, Status: "pending"})
	}
	w.liveLists(t, 52*time.Hour, 10*time.Minute)
	st := w.sched.Stats()
	if st.SamplingRatio != 1 || st.Outcomes[scheduler.OutcomeSkipped] != 0 {
		t.Errorf("sampling ratio %v, %d skipped: looks read in lists counted as a backlog", st.SamplingRatio, st.Outcomes[scheduler.OutcomeSkipped])
	}
	if got := w.tr.Stats().ByStatus[tracker.Statuses.Index("ok")]; got != n {
		t.Errorf("%d of %d journeys ok after 52 h", got, n)
	}
	t.Logf("%d journeys, %d list requests, %d own checks", n, st.ListRequests, w.requests.Load())
}

// A scheduler stopped (a reload) while looks wait for their round gives
// them back to the tracker, due: none is lost to the queue.
func TestStoppedSchedulerGivesLooksBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{policy: func(p *tracker.Policy) { *p = p.WithBulk() }, lists: true,
		sched: func(c *scheduler.Config) { c.Tracker = tracker.New(tracker.DefaultPolicy) }}) // the world's own scheduler idles apart
	client, err := registry.New(registry.Config{BaseURL: w.url, Auth: registry.Auth{Token: testToken}, Rate: 1e6, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// The proxied journey's first look is at the first tick after the
	// list can hold it (00:30 UTC the next day); the pushed one's first
	// check 5 minutes later keeps the round waiting.
	look := testStart.Add(16*time.Hour + 30*time.Minute)
	w.sim.Put(simulator.Journey{OperatorID: testOperator, OperatorJourneyID: "proxied", Status: simulator.StatusPending,
		CreatedAt: testStart, StartAt: testStart.Add(-time.Hour), EndAt: testStart.Add(-30 * time.Minute), DistanceMeters: 8000})
	w.tr.Register(w.clk.Now(), tracker.Registration{ID: "proxied", Source: tracker.SourceProxy, Start: testStart.Add(-time.Hour), Status: "pending"})
	w.clk.Advance(look.Add(-5 * time.Minute).Sub(w.clk.Now()))
	w.tr.Register(w.clk.Now(), tracker.Registration{ID: "pushed", Source: tracker.SourcePush})
	if next, _ := w.tr.NextDue(); !next.Equal(look) {
		t.Fatalf("first look due %v, want %v", next, look)
	}
	sched := scheduler.New(scheduler.Config{Name: "stopped", Checker: scheduler.V3(client), Lister: client, Tracker: w.tr, Clock: w.clk,
		Rate: 1e6, Concurrency: 2, MaxDelay: time.Hour, ErrorBackoff: time.Minute, AuthRetryInterval: time.Hour,
		Poll: time.Millisecond, Tick: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	w.clk.Advance(5 * time.Minute)
	waitFor(t, 5*time.Second, "the look to be gathered", func() bool { return sched.Stats().Gathered == 1 })
	cancel()
	<-done
	if next, ok := w.tr.NextDue(); !ok || next.After(w.clk.Now()) {
		t.Errorf("after the stop the earliest due is %v (queued %v), want the gathered look, due now (%v)", next, ok, w.clk.Now())
	}
	if st := sched.Stats(); st.InFlight != 0 || st.Gathered != 0 {
		t.Errorf("in flight %d, gathered %d after the stop", st.InFlight, st.Gathered)
	}
}
