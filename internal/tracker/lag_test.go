package tracker

import (
	"reflect"
	"testing"
	"time"
)

// The submission lag is observed once per journey newly registered from
// its submission: known lags in the histogram of their source, an
// unknown start and a start after the submission counted apart, and the
// configuration's and discovery's registrations not at all.
func TestSubmissionLag(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	now := t0.Add(48 * time.Hour)
	for _, r := range []Registration{
		{ID: "proxy-30m", Source: SourceProxy, Start: now.Add(-30 * time.Minute)},
		{ID: "proxy-18h30", Source: SourceProxy, Start: now.Add(-18*time.Hour - 30*time.Minute)},
		{ID: "proxy-nostart", Source: SourceProxy},
		{ID: "push-25h", Source: SourcePush, Start: now.Add(-25 * time.Hour)},
		{ID: "push-skew", Source: SourcePush, Start: now.Add(time.Minute)},
		{ID: "push-nostart", Source: SourcePush},
		// The demo's history: submitted long before it is registered.
		{ID: "demo-1h", Source: SourceDemo, Start: t0, SubmittedAt: t0.Add(time.Hour)},
		{ID: "config", Source: SourceConfig, Start: t0},
		{ID: "discovered", Source: SourceDiscovery, Start: t0},
		{ID: "discovered-nostart", Source: SourceDiscovery},
	} {
		tr.Register(now, r)
	}
	// Registered again, even with a start it lacked: not a new submission.
	tr.Register(now.Add(time.Hour), Registration{ID: "proxy-30m", Source: SourceProxy, Start: now.Add(-30 * time.Minute)})
	tr.Register(now.Add(time.Hour), Registration{ID: "push-nostart", Source: SourcePush, Start: now})

	s := tr.Stats()
	type want struct {
		count             uint64
		sum               float64
		buckets           map[float64]uint64
		unknown, negative uint64
	}
	for src, w := range map[Source]want{
		SourceProxy: {2, 19 * 3600, map[float64]uint64{1800: 1, 18 * 3600: 1, 19 * 3600: 2, 30 * 3600: 2}, 1, 0},
		SourcePush:  {1, 25 * 3600, map[float64]uint64{24 * 3600: 0, 26 * 3600: 1}, 1, 1},
		SourceDemo:  {1, 3600, map[float64]uint64{1800: 0, 3600: 1}, 0, 0},
	} {
		h := s.Lag[src]
		if h.Count != w.count || h.Sum != w.sum || s.LagUnknown[src] != w.unknown || s.LagNegative[src] != w.negative {
			t.Errorf("%s: count %d sum %v unknown %d negative %d, want %d %v %d %d",
				src, h.Count, h.Sum, s.LagUnknown[src], s.LagNegative[src], w.count, w.sum, w.unknown, w.negative)
		}
		c := h.CumulativeOver(LagBuckets)
		for bound, n := range w.buckets {
			if c[bound] != n {
				t.Errorf("%s: %d observations up to %vs, want %d", src, c[bound], bound, n)
			}
		}
	}
	for _, src := range []Source{SourceConfig, SourceDiscovery} {
		if s.Lag[src].Count != 0 || s.LagUnknown[src] != 0 || s.LagNegative[src] != 0 {
			t.Errorf("%s: a lag observed for a journey that was not registered from its submission", src)
		}
	}
}

// A lag of exactly 24 h is not late: it is counted at or under the 24 h
// bound, which the lateness share reads.
func TestSubmissionLagBounds(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0.Add(24*time.Hour), Registration{ID: "a", Source: SourcePush, Start: t0})
	tr.Register(t0.Add(24*time.Hour+time.Second), Registration{ID: "b", Source: SourcePush, Start: t0})
	tr.Register(t0.Add(40*time.Hour), Registration{ID: "c", Source: SourcePush, Start: t0})
	c := tr.Stats().Lag[SourcePush].CumulativeOver(LagBuckets)
	if c[24*3600] != 1 || c[26*3600] != 2 || c[30*3600] != 2 {
		t.Fatalf("buckets %v", c)
	}
}

// The lag counts survive a restart through the totals, and a bound a
// later release dropped moves to the next larger one.
func TestSubmissionLagTotals(t *testing.T) {
	t.Parallel()
	a := New(DefaultPolicy)
	a.Register(t0.Add(20*time.Hour), Registration{ID: "a", Source: SourceProxy, Start: t0})
	a.Register(t0, Registration{ID: "b", Source: SourcePush})
	a.Register(t0, Registration{ID: "c", Source: SourceDemo, Start: t0.Add(time.Hour)})
	b := New(DefaultPolicy)
	if _, err := b.Restore(Saved{Totals: a.Totals(), Records: func(func(id, rec []byte) bool) {}}); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Stats(), b.Stats()
	if !reflect.DeepEqual(sa.Lag, sb.Lag) || sa.LagUnknown != sb.LagUnknown || sa.LagNegative != sb.LagNegative {
		t.Fatalf("restored lag %+v %v %v, want %+v %v %v", sb.Lag, sb.LagUnknown, sb.LagNegative, sa.Lag, sa.LagUnknown, sa.LagNegative)
	}

	c := New(DefaultPolicy)
	tot := Totals{Lag: map[string]SettleTotals{
		"proxy":           {Buckets: []BucketCount{{UpperBound: 18.5 * 3600, Count: 2}}, Sum: 37 * 3600, Count: 2},
		"a_future_source": {Buckets: []BucketCount{{UpperBound: 60, Count: 1}}, Sum: 30, Count: 1},
	}, LagNegative: map[string]uint64{"push": 3}}
	if _, err := c.Restore(Saved{Totals: tot, Records: func(func(id, rec []byte) bool) {}}); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if got := s.Lag[SourceProxy].CumulativeOver(LagBuckets); got[18*3600] != 0 || got[19*3600] != 2 {
		t.Errorf("a dropped bound: %v", got)
	}
	if s.LagNegative[SourcePush] != 3 || s.Lag[SourceConfig].Count != 1 {
		t.Errorf("restored %+v", s)
	}
}

// The lag filter selects the journeys the lag metrics count, by the time
// from their start to their registration: only those registered from
// their submission, with a known start not after it.
func TestLagFilter(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	now := t0.Add(48 * time.Hour)
	for _, r := range []Registration{
		{ID: "proxy-30m", Source: SourceProxy, Start: now.Add(-30 * time.Minute)},
		{ID: "proxy-18h", Source: SourceProxy, Start: now.Add(-18 * time.Hour)},
		{ID: "proxy-nostart", Source: SourceProxy},
		{ID: "push-25h", Source: SourcePush, Start: now.Add(-25 * time.Hour)},
		{ID: "push-skew", Source: SourcePush, Start: now.Add(time.Minute)},
		{ID: "demo-19h", Source: SourceDemo, Start: now.Add(-19 * time.Hour)},
		{ID: "demo-0", Source: SourceDemo, Start: now},
		// The demo's history, reported at the exporter's start: 2 h late
		// when it was submitted, two days before.
		{ID: "demo-backlog-2h", Source: SourceDemo, Start: now.Add(-50 * time.Hour), SubmittedAt: now.Add(-48 * time.Hour)},
		{ID: "config-30h", Source: SourceConfig, Start: now.Add(-30 * time.Hour)},
		{ID: "discovered-30h", Source: SourceDiscovery, Start: now.Add(-30 * time.Hour)},
	} {
		tr.Register(now, r)
	}
	for _, c := range []struct {
		lag  LagRange
		want []string
	}{
		{LagRange{}, []string{"proxy-30m", "proxy-18h", "proxy-nostart", "push-25h", "push-skew", "demo-19h", "demo-0", "demo-backlog-2h", "config-30h", "discovered-30h"}},
		{LagRange{Set: true}, []string{"proxy-30m", "proxy-18h", "push-25h", "demo-19h", "demo-0", "demo-backlog-2h"}},
		{LagRange{From: 18 * time.Hour, Set: true}, []string{"proxy-18h", "push-25h", "demo-19h"}},
		{LagRange{From: 18 * time.Hour, To: 24 * time.Hour, Set: true}, []string{"proxy-18h", "demo-19h"}},
		{LagRange{To: 18 * time.Hour, Set: true}, []string{"proxy-30m", "demo-0", "demo-backlog-2h"}},
		{LagRange{From: time.Second, To: 18*time.Hour + time.Second, Set: true}, []string{"proxy-30m", "proxy-18h", "demo-backlog-2h"}},
		{LagRange{From: 2 * time.Hour, To: 2*time.Hour + time.Second, Set: true}, []string{"demo-backlog-2h"}},
	} {
		var got []string
		if err := tr.Find(Filter{Lag: c.lag}, Cursor{}, func(j Journey, _ Cursor) bool {
			got = append(got, j.ID)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("lag %+v: %v, want %v", c.lag, got, c.want)
		}
	}
}

// A submission reported after it was made (the demo's history, at the
// exporter's start) is registered at the submission, with the answer it
// got then, and is checked from now on, not planned in the past; one
// reported from the tracker's future is registered now.
func TestRegisteredAtTheSubmission(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	now := t0.Add(96 * time.Hour)
	submitted := now.Add(-48 * time.Hour)
	tr.Register(now, Registration{ID: "backlog", Source: SourceDemo, Start: submitted.Add(-2 * time.Hour), SubmittedAt: submitted, Status: "pending"})
	tr.Register(now, Registration{ID: "skewed", Source: SourceDemo, Start: now, SubmittedAt: now.Add(time.Minute)})
	j, _ := tr.Lookup("backlog")
	if !j.RegisteredAt.Equal(submitted) {
		t.Errorf("registered at %v, want at its submission %v", j.RegisteredAt, submitted)
	}
	if len(j.Transitions) == 0 || !j.Transitions[len(j.Transitions)-1].At.Equal(submitted) || j.Transitions[len(j.Transitions)-1].Status != "pending" {
		t.Errorf("story %+v, want pending from the submission %v", j.Transitions, submitted)
	}
	if due, ok := tr.NextDue(); !ok || due.Before(now) {
		t.Errorf("next event at %v (%v), want none before now %v", due, ok, now)
	}
	if j, _ := tr.Lookup("skewed"); !j.RegisteredAt.Equal(now) {
		t.Errorf("a submission after now registered at %v, want now %v", j.RegisteredAt, now)
	}
}
