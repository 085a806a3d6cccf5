package discovery

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// A round registers exactly the journeys of its window, once each, with
// the registry's pages stable or reshuffled between requests, in one page
// per slice or split into many.
func TestRoundListsEveryJourneyInWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{traffic: traffic(100)})
	for _, tc := range []struct {
		name     string
		pageSize int
		slice    time.Duration
		shift    bool
	}{
		{"defaults", 0, 0, false},
		{"defaults, shifting pages", 0, 0, true},
		{"pages split", 20, 0, false},
		{"pages split, shifting", 20, 0, true},
		{"whole window asked at once, shifting", 50, 26 * time.Hour, true},
	} {
		// One simulator for all: its traffic takes a while to generate.
		t.Run(tc.name, func(t *testing.T) {
			f.reset()
			d := New(f.config(func(c *Config) { c.PageSize, c.Slice = tc.pageSize, tc.slice }))
			start, end := d.window(f.clock.Now())
			want := f.truth(t, start, end, DefaultStatuses)
			// The list's truth is the submissions' truth.
			if err := sameSet(want, f.storedIn(start, end)); err != nil {
				t.Fatalf("the simulator's list and its submissions disagree: %v", err)
			}
			if before := f.storedIn(start.Add(-4*time.Hour), start.Add(-time.Second)); len(before) == 0 {
				t.Fatal("no journey started before the window: the test would not show its edge")
			}
			f.sim.SetFaults(simulator.Faults{ShiftPages: tc.shift})
			defer f.sim.SetFaults(simulator.Faults{})

			rep, err := d.round(context.Background())
			if err != nil {
				t.Fatalf("round: %v", err)
			}
			if err := sameSet(f.registered(), want); err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if st.Rounds[ResultOK] != 1 || st.Found != uint64(len(want)) || st.New != uint64(len(want)) {
				t.Errorf("stats %+v, want one ok round, %d found and new", st, len(want))
			}
			if got := len(f.lists()); st.ListRequests != uint64(got) || rep.requests != got {
				t.Errorf("%d list requests counted, %d reported, %d sent", st.ListRequests, rep.requests, got)
			}
			if got := f.tracker.Stats().BySource[tracker.SourceDiscovery]; got != int64(len(want)) {
				t.Errorf("tracker follows %d discovered journeys, want %d", got, len(want))
			}
			if st.LastSuccess.IsZero() || st.LastDuration <= 0 {
				t.Errorf("last success %v, duration %v: want both set", st.LastSuccess, st.LastDuration)
			}

			// The next round finds them again but hands the tracker
			// only what it did not register.
			if _, err := d.round(context.Background()); err != nil {
				t.Fatal(err)
			}
			st = d.Stats()
			if st.Found != 2*uint64(len(want)) || st.New != uint64(len(want)) {
				t.Errorf("after a second round: found %d, new %d; want %d and %d", st.Found, st.New, 2*len(want), len(want))
			}
			for id, n := range f.offered {
				if n != 1 {
					t.Fatalf("%s offered %d times", id, n)
				}
			}
			t.Logf("%d journeys in the window, %d list requests a round", len(want), rep.requests)
		})
	}
}

// Journeys submitted late are found as long as their start is within the
// window; one that started today is found from the next UTC midnight, when
// the registry's list reaches the Paris midnight after its start.
func TestRoundFindsLateSubmissions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	now := f.clock.Now()
	if code := f.submit(t, "late20h", now.Add(-20*time.Hour)); code != http.StatusCreated {
		t.Fatalf("a journey submitted 20 h after its start: %d, want accepted", code)
	}
	if code := f.submit(t, "expired25h", now.Add(-25*time.Hour)); code != http.StatusUnprocessableEntity {
		t.Fatalf("a journey submitted 25 h after its start: %d, want refused as expired", code)
	}
	f.putAt("fresh", 1, now.Add(-30*time.Second))
	d := New(f.config(nil))

	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), map[string]bool{"late20h": true, "expired25h": true}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(registry.ListableFrom(now.Add(-30*time.Second)).Sub(now) + registry.ListEndMargin)
	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), map[string]bool{"late20h": true, "expired25h": true, "fresh0": true}); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.New != 3 {
		t.Errorf("%d new, want 3", st.New)
	}
}

// A lookback beyond what the registry lists and a clock ahead of the
// registry's still give requests it accepts.
func TestRoundWindowStaysWithinRegistryLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	now := f.clock.Now()
	f.putAt("old", 1, f.end().AddDate(0, 0, -89))
	f.putAt("recent", 1, f.end().Add(-2*time.Hour))
	ahead := clock.NewAccelerated(now.Add(50*time.Second), 0)
	d := New(f.config(func(c *Config) { c.Clock, c.Lookback, c.Slice = ahead, 100*24*time.Hour, 30*24*time.Hour }))

	if _, err := d.round(context.Background()); err != nil {
		t.Fatalf("round: %v", err)
	}
	if err := sameSet(f.registered(), map[string]bool{"old0": true, "recent0": true}); err != nil {
		t.Fatal(err)
	}
	for _, q := range f.lists() {
		start, err1 := time.Parse(time.RFC3339, q.Get("start"))
		end, err2 := time.Parse(time.RFC3339, q.Get("end"))
		if err1 != nil || err2 != nil {
			t.Fatalf("query %v: start and end must both be sent", q)
		}
		if limit := registry.ListEndLimit(now); end.After(limit) || start.Before(registry.ListStartLimit(now)) {
			t.Errorf("query %v: outside the registry's %v−90 d..%v", q, limit, limit)
		}
	}
}

// pending also lists canceled and refused journeys until the batches run:
// each id is registered once and counted once.
func TestRoundRegistersOverlappingStatusesOnce(t *testing.T) {
	t.Parallel()
	tr := traffic(60)
	tr.CancelRatio, tr.ShortRatio = 0.2, 0.2
	f := newFixture(t, options{traffic: tr})
	d := New(f.config(nil))
	start, end := d.window(f.clock.Now())
	pending := f.truth(t, start, end, []string{"pending"})
	canceled := f.truth(t, start, end, []string{"canceled"})
	both, sum := 0, 0
	for id := range canceled {
		if pending[id] {
			both++
		}
	}
	want := f.truth(t, start, end, DefaultStatuses)
	for _, s := range DefaultStatuses {
		sum += len(f.truth(t, start, end, []string{s}))
	}
	if both == 0 {
		t.Fatal("no journey listed as both pending and canceled: the test would not show the overlap")
	}

	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), want); err != nil {
		t.Fatal(err)
	}
	for id, n := range f.offered {
		if n != 1 {
			t.Fatalf("%s offered %d times", id, n)
		}
	}
	st := d.Stats()
	if st.Found != uint64(len(want)) || st.New != uint64(len(want)) {
		t.Errorf("found %d, new %d; want %d distinct (%d listed in all, %d both pending and canceled)",
			st.Found, st.New, len(want), sum, both)
	}
	if got := f.tracker.Stats().Registered[tracker.SourceDiscovery]; got != uint64(len(want)) {
		t.Errorf("tracker counts %d discovery registrations, want %d", got, len(want))
	}
}

// More journeys starting within one second than a page holds, the pages
// reshuffled on every request: a larger page lists them exactly.
func TestRoundDenseSecond(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{traffic: traffic(20)})
	f.putAt("dense", 700, f.end().Add(-3*time.Hour).Truncate(time.Second))
	d := New(f.config(func(c *Config) { c.PageSize = 50 }))
	start, end := d.window(f.clock.Now())
	want := f.truth(t, start, end, DefaultStatuses)
	f.sim.SetFaults(simulator.Faults{ShiftPages: true})

	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), want); err != nil {
		t.Fatal(err)
	}
	asked := 0
	for _, q := range f.lists() {
		asked = max(asked, atoi(q.Get("limit")))
	}
	if asked != 800 {
		t.Errorf("largest page asked %d, want 800 (50 × 4 × 4)", asked)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// capLimit makes the registry cut every page at n ids, whatever limit is
// asked (docs/registry.md: 100 is intended, not enforced yet).
func capLimit(n int) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if l := atoi(q.Get("limit")); l == 0 || l > n {
				q.Set("limit", strconv.Itoa(n))
			}
			r.URL.RawQuery = q.Encode()
			h.ServeHTTP(w, r)
		})
	}
}

// ignoreOffset makes the registry serve the first page whatever offset is
// asked.
func ignoreOffset(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Del("offset")
		r.URL.RawQuery = q.Encode()
		h.ServeHTTP(w, r)
	})
}

// A registry that cuts pages below the limit asked is noticed, and its
// slices are split until they fit its pages; a second too dense for them
// is walked by offsets.
func TestRoundPagesCutByRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{traffic: traffic(60), wrap: capLimit(20)})
	dense := f.putAt("dense", 50, f.end().Add(-5*time.Hour).Truncate(time.Second))
	for _, shift := range []bool{false, true} {
		t.Run("shift="+strconv.FormatBool(shift), func(t *testing.T) {
			f.reset()
			logs := &records{}
			d := New(f.config(func(c *Config) { c.Logger = logs.logger() }))
			start, end := d.window(f.clock.Now())
			want := f.truth(t, start, end, DefaultStatuses)
			f.sim.SetFaults(simulator.Faults{ShiftPages: shift})
			defer f.sim.SetFaults(simulator.Faults{})

			_, err := d.round(context.Background())
			got := f.registered()
			if !shift {
				// Stable pages: overlapping offsets list the dense second.
				if err != nil {
					t.Fatal(err)
				}
				if err := sameSet(got, want); err != nil {
					t.Fatal(err)
				}
			} else {
				// Offsets over pages reshuffled on every request cannot
				// prove anything; every other slice is still exact.
				if err != nil && !errors.Is(err, ErrIncomplete) {
					t.Fatal(err)
				}
				if err := subset(got, want); err != nil {
					t.Fatal(err)
				}
				for id := range want {
					if !dense[id] && !got[id] {
						t.Fatalf("%s missing", id)
					}
				}
			}
			if n := logs.count("a short list page had more ids after it"); n != 1 {
				t.Errorf("%d warnings about cut pages, want 1", n)
			}
			if _, err := d.round(context.Background()); !shift && err != nil {
				t.Fatal(err)
			}
			if n := logs.count("a short list page had more ids after it"); n != 1 {
				t.Errorf("%d warnings about cut pages after two rounds, want 1", n)
			}
		})
	}
}

// A registry that ignores offset serves the same page again: the walk
// stops, the round says it is incomplete, and the rest of the window is
// still listed.
func TestRoundOffsetIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{traffic: traffic(20), wrap: func(h http.Handler) http.Handler { return capLimit(20)(ignoreOffset(h)) }})
	dense := f.putAt("dense", 50, f.end().Add(-5*time.Hour).Truncate(time.Second))
	d := New(f.config(nil))
	start, end := d.window(f.clock.Now())
	want := f.truth(t, start, end, DefaultStatuses)

	rep, err := d.round(context.Background())
	if !errors.Is(err, ErrIncomplete) || rep.result != ResultIncomplete {
		t.Fatalf("round: %v (%s), want incomplete", err, ResultNames[rep.result])
	}
	got := f.registered()
	if err := subset(got, want); err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if !dense[id] && !got[id] {
			t.Fatalf("%s missing", id)
		}
	}
	if st := d.Stats(); st.Rounds[ResultIncomplete] != 1 || !st.LastSuccess.IsZero() {
		t.Errorf("stats %+v: want one incomplete round and no success", st)
	}
	// The walk stops after maxStalePages repeated pages: a handful of
	// requests with an offset, not a walk to MaxPagesPerRound.
	offsets := 0
	for _, q := range f.lists() {
		if q.Get("offset") != "" {
			offsets++
		}
	}
	if offsets > 10 {
		t.Errorf("%d requests with an offset: the repeating pages were not noticed", offsets)
	}
}

// Pages that never end, never repeat and never come back short: the round
// stops at MaxPagesPerRound.
func TestRoundEndlessPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{wrap: func(h http.Handler) http.Handler { return capLimit(20)(ignoreOffset(h)) }})
	f.putAt("endless", 3000, f.end().Add(-5*time.Hour).Truncate(time.Second))
	f.sim.SetFaults(simulator.Faults{ShiftPages: true})
	d := New(f.config(func(c *Config) { c.MaxPagesPerRound, c.Lookback = 50, 6*time.Hour }))

	rep, err := d.round(context.Background())
	if !errors.Is(err, ErrIncomplete) || rep.result != ResultIncomplete {
		t.Fatalf("round: %v, want incomplete", err)
	}
	if n := len(f.lists()); n != 50 || d.Stats().ListRequests != 50 {
		t.Errorf("%d list requests sent, %d counted; want 50", n, d.Stats().ListRequests)
	}
	if got := len(f.registered()); got == 0 {
		t.Error("nothing registered from the pages that were listed")
	}
}

// Bad answers fail the round cleanly: counted, nothing registered from a
// page that did not decode.
func TestRoundBadAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults simulator.Faults
		kind   registry.Kind
	}{
		{"malformed", simulator.Faults{MalformedRatio: 1}, registry.KindDecode},
		{"truncated", simulator.Faults{TruncatedRatio: 1}, registry.KindDecode},
		{"server error", simulator.Faults{ServerErrorRatio: 1}, registry.KindServerError},
		{"maintenance", simulator.Faults{Maintenance: true}, registry.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, options{})
			f.putAt("j", 5, f.end().Add(-time.Hour))
			f.sim.SetFaults(tc.faults)
			d := New(f.config(nil))
			rep, err := d.round(context.Background())
			if registry.KindOf(err) != tc.kind || rep.result != ResultError {
				t.Fatalf("round: %v (%s), want %s error", err, ResultNames[rep.result], tc.kind)
			}
			if f.registrarCalls() != 0 || len(f.registered()) != 0 {
				t.Errorf("%d registrations from failed pages", len(f.registered()))
			}
			st := d.Stats()
			if st.Rounds[ResultError] != 1 || st.Rounds[ResultOK] != 0 || !st.LastSuccess.IsZero() || st.ListRequests != 1 {
				t.Errorf("stats %+v: want one error round after one request", st)
			}
		})
	}
}

// A round that fails part way registers what its complete pages listed,
// and the next round the rest.
func TestRoundFailingPartWay(t *testing.T) {
	t.Parallel()
	var f *fixture
	var calls atomic.Int32
	breakAfter := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 30 {
				f.sim.SetFaults(simulator.Faults{MalformedRatio: 1})
			}
			h.ServeHTTP(w, r)
		})
	}
	f = newFixture(t, options{traffic: traffic(30), wrap: breakAfter})
	d := New(f.config(func(c *Config) { c.PageSize = 10 }))
	start, end := d.window(f.clock.Now())
	want := f.truth(t, start, end, DefaultStatuses)

	_, err := d.round(context.Background())
	if registry.KindOf(err) != registry.KindDecode {
		t.Fatalf("round: %v, want a decode error", err)
	}
	got := f.registered()
	if err := subset(got, want); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) == len(want) {
		t.Fatalf("%d of %d registered: want the complete pages' ids only", len(got), len(want))
	}
	first := len(got)

	f.sim.SetFaults(simulator.Faults{})
	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), want); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.New != uint64(len(want)) || st.Rounds[ResultError] != 1 || st.Rounds[ResultOK] != 1 {
		t.Errorf("stats %+v: want %d new (%d then %d), one error and one ok round", st, len(want), first, len(want)-first)
	}
}

// A registration that fails fails the round; the ids are offered again
// next round.
func TestRoundRegistrarFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	want := f.putAt("j", 5, f.end().Add(-time.Hour))
	f.failRegist = errors.New("disk full")
	d := New(f.config(nil))
	rep, err := d.round(context.Background())
	if err == nil || rep.result != ResultError || !errors.Is(err, f.failRegist) {
		t.Fatalf("round: %v (%s), want the registrar's error", err, ResultNames[rep.result])
	}
	f.mu.Lock()
	f.failRegist = nil
	f.mu.Unlock()
	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), want); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.New != 5 || st.Rounds[ResultError] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Ids the registry could not hold (here longer than 256 characters) are
// skipped, never registered.
func TestRoundSkipsInvalidIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	f.putAt("good", 2, f.end().Add(-time.Hour))
	f.putAt(strings.Repeat("x", 257), 1, f.end().Add(-time.Hour))
	logs := &records{}
	d := New(f.config(func(c *Config) { c.Logger = logs.logger() }))
	if _, err := d.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sameSet(f.registered(), map[string]bool{"good0": true, "good1": true}); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("not operator_journey_ids"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}
