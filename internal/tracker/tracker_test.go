package tracker

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// step takes the due journey id at now and records result, failing if it is
// not the one due.
func step(t *testing.T, tr *Tracker, now time.Time, id string, r Result) {
	t.Helper()
	got, ok := tr.Next(now)
	if !ok || got != id {
		t.Fatalf("at %v: Next = %q, %v; want %q", now.Sub(t0), got, ok, id)
	}
	tr.Checked(id, now, r)
}

func nextCheck(t *testing.T, tr *Tracker, id string) time.Duration {
	t.Helper()
	j, ok := tr.Lookup(id)
	if !ok {
		t.Fatalf("%s not tracked", id)
	}
	if j.NextCheck.IsZero() {
		return -1
	}
	return j.NextCheck.Sub(t0)
}

// The whole life of a journey registered half an hour after it started:
// a first check after normalisation, a check after the early batch frame's
// start (24 h), the late frame's first (48 h) when it decides (the tracker
// has seen no early verdict: TestLearnsTheBatchTiming), the settling
// check, then no more polling until retention.
func TestLifecycleOfAnOKJourney(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	start := t0
	tr.Register(t0.Add(30*time.Minute), Registration{ID: "j1", Source: SourceConfig, Start: start})
	var checks []time.Duration
	for _, c := range []struct {
		at     time.Duration
		status string
	}{
		{40 * time.Minute, "pending"},
		{25 * time.Hour, "pending"},
		{49 * time.Hour, "ok"},
		{72 * time.Hour, "ok"},
	} {
		if got := nextCheck(t, tr, "j1"); got != c.at {
			t.Fatalf("after %v: next check at %v, want %v", checks, got, c.at)
		}
		if _, ok := tr.Next(t0.Add(c.at - time.Second)); ok {
			t.Fatalf("due before %v", c.at)
		}
		step(t, tr, t0.Add(c.at), "j1", Result{Status: c.status})
		checks = append(checks, c.at)
	}
	if got := nextCheck(t, tr, "j1"); got != -1 {
		t.Fatalf("still polled after the settling check: next at %v", got)
	}
	s := tr.Stats()
	if s.Polling != 0 || s.Tracked != 1 || s.ByStatus[Statuses.Index("ok")] != 1 {
		t.Fatalf("stats after settling: %+v", s)
	}
	// Retention: still in the gauges the day before, gone after.
	if _, ok := tr.Next(t0.Add(30*24*time.Hour - time.Hour)); ok || tr.Len() != 1 {
		t.Fatal("forgotten before its retention ended")
	}
	if _, ok := tr.Next(t0.Add(30 * 24 * time.Hour)); ok {
		t.Fatal("Next handed out a journey that was only to be forgotten")
	}
	s = tr.Stats()
	if s.Tracked != 0 || s.Forgotten != 1 || s.ByStatus[Statuses.Index("ok")] != 0 || s.BySource[SourceConfig] != 0 {
		t.Fatalf("stats after retention: %+v", s)
	}
	if s.SeenStatus[Statuses.Index("ok")] != 1 || s.SeenStatus[Statuses.Index("pending")] != 1 {
		t.Fatalf("counters must survive retention: %+v", s.SeenStatus)
	}
	if _, ok := tr.Lookup("j1"); ok {
		t.Fatal("Lookup still finds a forgotten journey")
	}
}

// A journey still pending at the first batch check is checked again after
// the window's end; a journey whose status is decided at registration (a
// 422 at submission) only gets its first and settling checks.
func TestLifecycleVariants(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "late", Start: t0})
	tr.Register(t0, Registration{ID: "terms", Start: t0, Status: "terms_violation_error", TermsReasons: []string{"expired"}})
	tr.Checked("late", t0.Add(10*time.Minute), Result{Status: "pending"})
	tr.Checked("terms", t0.Add(10*time.Minute), Result{Status: "terms_violation_error", TermsReasons: []string{"expired"}})
	if got := nextCheck(t, tr, "terms"); got != 72*time.Hour {
		t.Fatalf("decided journey: next check at %v, want the settling check at 72h", got)
	}
	step(t, tr, t0.Add(25*time.Hour), "late", Result{Status: "pending"})
	step(t, tr, t0.Add(49*time.Hour), "late", Result{Status: "pending"})
	if got := nextCheck(t, tr, "late"); got != 55*time.Hour {
		t.Fatalf("pending at the first batch check: next at %v, want 55h", got)
	}
	step(t, tr, t0.Add(55*time.Hour), "late", Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	if got := nextCheck(t, tr, "late"); got != 72*time.Hour {
		t.Fatalf("next at %v, want 72h", got)
	}
	for _, id := range []string{"late", "terms"} {
		j, _ := tr.Lookup(id)
		if want := map[string]int{"late": 4, "terms": 1}[id]; j.Checks != want {
			t.Errorf("%s: %d checks so far, want %d", id, j.Checks, want)
		}
	}
}

// Without a start time the schedule hangs on the registry's created_at,
// and without that on the registration.
func TestAnchorFallsBackToCreatedAt(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	created := t0.Add(-40 * time.Hour)
	tr.Register(t0, Registration{ID: "nostart"})
	step(t, tr, t0.Add(10*time.Minute), "nostart", Result{Status: "pending", CreatedAt: created})
	if got, want := nextCheck(t, tr, "nostart"), 9*time.Hour; got != want {
		t.Fatalf("next check at %v, want created_at+49h = %v", got, want)
	}
	// A later registration that knows the start takes over.
	tr.Register(t0, Registration{ID: "nostart", Start: created.Add(-time.Hour)})
	j, _ := tr.Lookup("nostart")
	if !j.Start.Equal(created.Add(-time.Hour)) || !j.CreatedAt.Equal(created) {
		t.Fatalf("start %v created %v", j.Start, j.CreatedAt)
	}
}

// Statuses and labels the registry invents are folded into other, and
// the gauges follow every change of a journey's labels.
func TestUnknownValuesFoldIntoOther(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	for i := range 3 {
		tr.Register(t0, Registration{ID: fmt.Sprint("j", i), Start: t0})
	}
	now := t0.Add(10 * time.Minute)
	tr.Checked("j0", now, Result{Status: "brand_new_status"})
	tr.Checked("j1", now, Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap", "new_fraud", "other_new_fraud"}})
	tr.Checked("j2", now, Result{Status: "anomaly_error", AnomalyLabels: []string{"temporal_overlap_anomaly", "new_anomaly"}, TermsReasons: []string{"weird"}})
	s := tr.Stats()
	other := func(v *Vocabulary) int { return int(v.Index(Other)) }
	checks := []struct {
		name      string
		got, want int64
	}{
		{"status other", s.ByStatus[other(Statuses)], 1},
		{"fraud overlap", s.ByFraud[FraudLabels.Index("interoperator_overlap")], 1},
		{"fraud other", s.ByFraud[other(FraudLabels)], 1},
		{"anomaly other", s.ByAnomaly[other(AnomalyLabels)], 1},
		{"terms other", s.ByTerms[other(TermsReasons)], 1},
		{"unchecked", s.ByStatus[Statuses.Index(StatusUnchecked)], 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(s.ByStatus) != Statuses.Len() || Statuses.Names()[Statuses.Len()-1] != Other {
		t.Fatal("status vocabulary must end with other")
	}
	// A PATCH on the operator's side resets the journey to pending: the
	// label gauges drop, the first-seen counters do not.
	tr.Checked("j1", now, Result{Status: "pending"})
	s = tr.Stats()
	if s.ByFraud[FraudLabels.Index("interoperator_overlap")] != 0 || s.SeenFraud[FraudLabels.Index("interoperator_overlap")] != 1 {
		t.Fatalf("after reset: gauge %d, counter %d", s.ByFraud[0], s.SeenFraud[0])
	}
	tr.Checked("j1", now, Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	if got := tr.Stats().SeenFraud[FraudLabels.Index("interoperator_overlap")]; got != 1 {
		t.Fatalf("the same label seen again on the same journey counted twice: %d", got)
	}
}

// Registration is idempotent and counted by source.
func TestRegisterIsIdempotent(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	if !tr.Register(t0, Registration{ID: "a", Source: SourceDemo}) {
		t.Fatal("first registration not new")
	}
	if tr.Register(t0.Add(time.Hour), Registration{ID: "a", Source: SourceConfig}) {
		t.Fatal("second registration counted as new")
	}
	s := tr.Stats()
	if s.Tracked != 1 || s.BySource[SourceDemo] != 1 || s.BySource[SourceConfig] != 0 || s.Registered[SourceDemo] != 1 {
		t.Fatalf("stats: %+v", s)
	}
	j, _ := tr.Lookup("a")
	if j.Source != "demo" || j.Status != StatusUnchecked || !j.RegisteredAt.Equal(t0) {
		t.Fatalf("journey: %+v", j)
	}
}

// 404s keep the journey as not_found and stop polling after MaxNotFound in
// a row; an answer in between resets the count.
func TestNotFound(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "gone", Start: t0})
	for i := 0; i < DefaultPolicy.MaxNotFound; i++ {
		due := nextCheck(t, tr, "gone")
		if due < 0 {
			t.Fatalf("polling stopped after %d 404s", i)
		}
		now := t0.Add(due)
		id, ok := tr.Next(now)
		if !ok || id != "gone" {
			t.Fatalf("not due at %v", due)
		}
		tr.NotFound(id, now)
	}
	if got := nextCheck(t, tr, "gone"); got != -1 {
		t.Fatalf("still polled after %d 404s: next at %v", DefaultPolicy.MaxNotFound, got)
	}
	s := tr.Stats()
	if s.NotFound != uint64(DefaultPolicy.MaxNotFound) || s.ByStatus[Statuses.Index(StatusNotFound)] != 1 {
		t.Fatalf("stats: notfound %d, gauge %d", s.NotFound, s.ByStatus[Statuses.Index(StatusNotFound)])
	}
}

// A skipped check moves to the next planned one; a journey never checked
// whose checks all passed is offered again rather than given up.
func TestSkip(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "young", Start: t0})
	tr.Register(t0, Registration{ID: "old", Start: t0.Add(-100 * time.Hour)})
	now := t0.Add(10 * time.Minute)
	for range 2 {
		id, ok := tr.Next(now)
		if !ok {
			t.Fatal("nothing due")
		}
		tr.Skip(id, now)
	}
	if got := nextCheck(t, tr, "young"); got != 25*time.Hour {
		t.Fatalf("young: next at %v", got)
	}
	if got := nextCheck(t, tr, "old"); got != 10*time.Minute+DefaultPolicy.RetryAfterSkip {
		t.Fatalf("old: next at %v, want another offer an hour later", got)
	}
	if j, _ := tr.Lookup("old"); j.Checks != 0 || j.Status != StatusUnchecked {
		t.Fatalf("a skip changed what is known: %+v", j)
	}
}

// DueCount walks the due part of the queue only and applies the filter.
func TestDueCount(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	for i := range 100 {
		tr.Register(t0.Add(time.Duration(i)*time.Minute), Registration{ID: fmt.Sprint("j", i), Start: t0})
	}
	now := t0.Add(10*time.Minute + 49*time.Minute)
	due, sampled := tr.DueCount(now, func(h uint64) bool { return h%2 == 0 })
	if due != 50 {
		t.Fatalf("due = %d, want 50", due)
	}
	want := 0
	for i := range 50 {
		if Hash(fmt.Sprint("j", i))%2 == 0 {
			want++
		}
	}
	if sampled != want {
		t.Fatalf("sampled = %d, want %d", sampled, want)
	}
}

// The id hash is stable, and spread evenly enough that a ratio r
// follows about r of the journeys.
func TestHashSpread(t *testing.T) {
	t.Parallel()
	first, again, other := Hash("gen10000001"), Hash("gen10000001"), Hash("gen10000002")
	if first != again || first == other {
		t.Fatal("Hash is not a function of the id")
	}
	const n = 100000
	for _, r := range []float64{0.01, 0.1, 0.5} {
		in := 0
		for i := range n {
			if float64(Hash(fmt.Sprintf("gen1%07d", i))) < r*math.Exp2(64) {
				in++
			}
		}
		if got := float64(in) / n; math.Abs(got-r) > 0.01 {
			t.Errorf("ratio %.2f selects %.4f of the ids", r, got)
		}
	}
}

// Many journeys with interleaved events come out of the queue in order,
// and slots freed by retention are reused.
func TestQueueOrderAndSlotReuse(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy
	tr := New(p)
	for i := range 500 {
		tr.Register(t0.Add(time.Duration((i*7919)%500)*time.Second), Registration{ID: fmt.Sprint("j", i), Start: t0.Add(-80 * time.Hour)})
	}
	var dues []time.Time
	for {
		now := t0.Add(time.Hour)
		id, ok := tr.Next(now)
		if !ok {
			break
		}
		j, _ := tr.Lookup(id)
		dues = append(dues, j.RegisteredAt)
		tr.Checked(id, now, Result{Status: "ok"})
	}
	if len(dues) != 500 || !slices.IsSortedFunc(dues, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("%d journeys, sorted by due: %v", len(dues), slices.IsSortedFunc(dues, func(a, b time.Time) int { return a.Compare(b) }))
	}
	// Past settle and retention: all forgotten, their slots reused.
	if _, ok := tr.Next(t0.Add(p.Retention)); ok || tr.Len() != 0 {
		t.Fatalf("%d journeys left after retention", tr.Len())
	}
	slots := len(tr.journeys)
	for i := range 500 {
		tr.Register(t0.Add(p.Retention), Registration{ID: fmt.Sprint("k", i)})
	}
	if len(tr.journeys) != slots {
		t.Fatalf("slots grew from %d to %d instead of being reused", slots, len(tr.journeys))
	}
}

// The settle histogram observes the time from registration to the first
// decided status, once per journey.
func TestSettleHistogram(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "a", Start: t0})
	tr.Register(t0, Registration{ID: "b", Start: t0, Status: "terms_violation_error"})
	tr.Checked("a", t0.Add(10*time.Minute), Result{Status: "pending"})
	tr.Checked("b", t0.Add(10*time.Minute), Result{Status: "terms_violation_error"})
	tr.Checked("a", t0.Add(49*time.Hour), Result{Status: "ok"})
	h := tr.Stats().Settle
	if h.Count != 2 || h.Sum != 49*3600 {
		t.Fatalf("count %d sum %v, want 2 and 49h", h.Count, h.Sum)
	}
	c := h.Cumulative()
	if c[600] != 1 || c[48*3600] != 1 || c[54*3600] != 2 {
		t.Fatalf("buckets %v", c)
	}
}

// A journey still pending at its check after the batch window counts as
// overdue until the registry decides it, and leaves the count when it is
// forgotten.
func TestPendingOverdue(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "late", Source: SourceConfig, Start: t0})
	tr.Register(t0, Registration{ID: "fine", Source: SourceConfig, Start: t0})
	overdue := func() int64 { return tr.Stats().PendingOverdue }
	for _, at := range []time.Duration{10 * time.Minute, 25 * time.Hour, 49 * time.Hour} {
		step(t, tr, t0.Add(at), "late", Result{Status: "pending"})
		step(t, tr, t0.Add(at), "fine", Result{Status: "pending"})
		if got := overdue(); got != 0 {
			t.Fatalf("pending at %v, inside the window: overdue %d, want 0", at, got)
		}
	}
	step(t, tr, t0.Add(55*time.Hour), "late", Result{Status: "pending"})
	step(t, tr, t0.Add(55*time.Hour), "fine", Result{Status: "ok"})
	if got := overdue(); got != 1 {
		t.Fatalf("one journey pending after the window: overdue %d, want 1", got)
	}
	step(t, tr, t0.Add(72*time.Hour), "late", Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	if got := overdue(); got != 0 {
		t.Fatalf("decided at last: overdue %d, want 0", got)
	}

	tr.Register(t0, Registration{ID: "stuck", Source: SourceConfig, Start: t0.Add(-80 * time.Hour), Status: "pending"})
	if got := overdue(); got != 1 {
		t.Fatalf("registered pending long after its window: overdue %d, want 1", got)
	}
	end := t0.Add(31 * 24 * time.Hour)
	for {
		id, ok := tr.Next(end)
		if !ok {
			break
		}
		tr.Checked(id, end, Result{Status: "pending"})
	}
	if got, n := overdue(), tr.Len(); got != 0 || n != 0 {
		t.Fatalf("after retention: overdue %d, tracked %d, want 0 and 0", got, n)
	}
}

// The tracker learns the registry's batch timing from its checks. It
// starts checking the late frame only (the older notes); one early verdict
// (pending to decided at the check after the early frame's start) brings
// the check after the early frame's end back, for the journeys already
// planned too; earlyFrameMisses journeys in a row still pending there
// drop it again, for the journeys already waiting for it too.
func TestLearnsTheBatchTiming(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	id := func(i int) string { return fmt.Sprintf("j%02d", i) }
	check := func(i int, at time.Duration, status string) {
		t.Helper()
		tr.Checked(id(i), t0.Add(at), Result{Status: status})
	}
	const n = earlyFrameMisses + 3
	for i := range n {
		tr.Register(t0, Registration{ID: id(i), Start: t0})
		check(i, 10*time.Minute, "pending")
	}
	for i := range n - 1 {
		check(i, 25*time.Hour, "pending")
		if got := nextCheck(t, tr, id(i)); got != 49*time.Hour {
			t.Fatalf("nothing learnt: next at %v, want 49h", got)
		}
	}
	// An early verdict: the registry decides in the early frame.
	check(n-1, 25*time.Hour, "ok")
	for i := range n - 1 {
		if got := nextCheck(t, tr, id(i)); got != 31*time.Hour {
			t.Fatalf("%s after an early verdict: next at %v, want 31h", id(i), got)
		}
	}
	// Still pending after the early frame, a few in a row: it does not.
	for i := range earlyFrameMisses {
		check(i, 31*time.Hour, "pending")
	}
	if got := nextCheck(t, tr, id(0)); got != 49*time.Hour {
		t.Fatalf("after the misses: next at %v, want 49h", got)
	}
	// The ones still planned at 31 h are passed without a request.
	if got, ok := tr.Next(t0.Add(31 * time.Hour)); ok {
		t.Fatalf("Next handed out %s at 31h", got)
	}
	for i := earlyFrameMisses; i < n-1; i++ {
		if got := nextCheck(t, tr, id(i)); got != 49*time.Hour {
			t.Fatalf("%s, planned before: next at %v, want 49h", id(i), got)
		}
		if j, _ := tr.Lookup(id(i)); j.Checks != 2 {
			t.Fatalf("%s: %d checks, want 2", id(i), j.Checks)
		}
	}
}
