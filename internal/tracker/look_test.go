package tracker

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// lookTimes follows one journey under p, answering every look with the
// given status, and returns its looks as offsets from its start.
func lookTimes(t *testing.T, p Policy, reg Registration, now time.Time, status func(off time.Duration) string) []time.Duration {
	t.Helper()
	tr := New(p)
	tr.Register(now, reg)
	var out []time.Duration
	for range 400 {
		next, ok := tr.NextDue()
		if !ok {
			break
		}
		l, ok := tr.NextLook(next)
		if !ok {
			break // its removal
		}
		off := next.Sub(reg.Start)
		out = append(out, off)
		switch st := status(off); {
		case l.First || !p.Bulk:
			tr.Checked(l.ID, next, Result{Status: st, CreatedAt: reg.Start.Add(time.Hour)})
		case st == l.Status:
			tr.Unchanged(l.ID, next)
		default:
			tr.Listed(l.ID, next, st)
		}
	}
	return out
}

// Under the bulk policy a proxied journey is not checked first; it is
// looked at once the list can hold it, then on the shared half-hour ticks
// of the batch frames, at the settle look and at the confirmation.
func TestBulkLooks(t *testing.T) {
	p := DefaultPolicy.WithBulk()
	start := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC) // listable from 00:00 UTC the next day
	pending := func(time.Duration) string { return "pending" }
	got := lookTimes(t, p, Registration{ID: "p", Source: SourceProxy, Start: start, Status: "pending"}, start.Add(time.Hour), pending)
	// 16h30: the first tick after the list can hold it. 25h: the probe
	// of the early frame (the tracker starts as if batches ran late).
	// 48h to 55h: the late frame, every half hour. 72h: settle; 7 d:
	// confirmation.
	want := []time.Duration{16*time.Hour + 30*time.Minute, 25 * time.Hour}
	for off := 48 * time.Hour; off <= 55*time.Hour; off += 30 * time.Minute {
		want = append(want, off)
	}
	want = append(want, 72*time.Hour, 7*24*time.Hour)
	if !slices.Equal(got, want) {
		t.Errorf("looks of a pending proxied journey %v, want %v", got, want)
	}

	// A pushed journey is checked first; decided ok in the late frame, it
	// is looked at again only to settle and to confirm.
	ok := func(off time.Duration) string {
		if off >= 49*time.Hour {
			return "ok"
		}
		return "pending"
	}
	got = lookTimes(t, p, Registration{ID: "q", Source: SourcePush, Start: start}, start.Add(time.Hour), ok)
	want = []time.Duration{time.Hour + 10*time.Minute, 25 * time.Hour, 48 * time.Hour, 48*time.Hour + 30*time.Minute, 49 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
	if !slices.Equal(got, want) {
		t.Errorf("looks of a pushed journey decided at 49 h %v, want %v", got, want)
	}

	// Without the bulk policy nothing changes: four checks.
	got = lookTimes(t, DefaultPolicy, Registration{ID: "r", Source: SourceProxy, Start: start, Status: "pending"}, start.Add(time.Hour), ok)
	want = []time.Duration{time.Hour + 10*time.Minute, 25 * time.Hour, 49 * time.Hour, 72 * time.Hour}
	if !slices.Equal(got, want) {
		t.Errorf("checks under the per-journey policy %v, want %v", got, want)
	}
}

// A list verdict sets the labels as the registry's own answer would: ok
// has none, a cancel drops fraud and anomaly labels but keeps the terms
// reasons, and neither counts as a check.
func TestListedLabels(t *testing.T) {
	tr := New(DefaultPolicy.WithBulk())
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	tr.Register(now, Registration{ID: "a", Source: SourcePush, Start: now})
	tr.Register(now, Registration{ID: "b", Source: SourcePush, Start: now})
	tr.Checked("a", now, Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	tr.Checked("b", now, Result{Status: "terms_violation_error", TermsReasons: []string{"too_close_trips"}})
	tr.Listed("a", now, "ok")
	tr.Listed("b", now, "canceled")
	a, _ := tr.Lookup("a")
	b, _ := tr.Lookup("b")
	if a.Status != "ok" || a.FraudLabels != nil || a.Checks != 1 {
		t.Errorf("listed ok: %+v", a)
	}
	if b.Status != "canceled" || !slices.Equal(b.TermsReasons, []string{"too_close_trips"}) || b.Checks != 1 {
		t.Errorf("listed canceled: %+v", b)
	}
	if st := tr.Stats(); st.ByFraud[FraudLabels.Index("interoperator_overlap")] != 0 {
		t.Errorf("a fraud label still counted after the list said ok")
	}
}

// A replanning that leaves a journey's next look where it was (the
// registry seen deciding in the early frame) leaves what that look is for
// as well: a pending_interval check stays a check.
func TestReplanKeepsRecheck(t *testing.T) {
	p := DefaultPolicy
	p.PendingInterval = 6 * time.Hour
	tr := New(p.WithBulk())
	t0 := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	tr.Register(t0, Registration{ID: "j", Source: SourcePush, Start: t0})
	tr.Register(t0, Registration{ID: "k", Source: SourcePush, Start: t0.Add(-9 * time.Hour)})
	tr.Checked("k", t0.Add(10*time.Minute), Result{Status: "pending"})
	tr.Checked("j", t0.Add(12*time.Hour), Result{Status: "pending"})
	look := func() (time.Time, bool) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		j := &tr.journeys[tr.index["j"]]
		return time.Unix(j.due, 0).UTC(), j.flags&flagRecheck != 0
	}
	due, recheck := look()
	if want := t0.Add(18 * time.Hour); !due.Equal(want) || !recheck {
		t.Fatalf("after its check at 12 h, j is due at %s, recheck %v; want %s, a recheck", due, recheck, want)
	}
	// k decided 25 h after its start: the early frame decides, and every
	// pending journey's next look is planned again; j's stays put.
	tr.Checked("k", t0.Add(16*time.Hour), Result{Status: "ok"})
	if got, recheck := look(); !got.Equal(due) || !recheck {
		t.Errorf("after the replanning, j is due at %s, recheck %v; want %s, still a recheck", got, recheck, due)
	}
}

// The registration order forgets the journeys that left even when nobody
// lists them: an exporter whose journey API is never read must not keep
// an entry for every journey it ever followed.
func TestOrderCompactsWithoutListing(t *testing.T) {
	p := DefaultPolicy
	p.Retention = time.Minute // below FirstCheckDelay: each is only removed
	tr := New(p)
	t0 := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	const n = 3000
	for round := range 5 {
		at := t0.Add(time.Duration(round) * time.Hour)
		for i := range n {
			tr.Register(at, Registration{ID: fmt.Sprintf("r%d-%d", round, i), Source: SourcePush})
		}
		if id, ok := tr.Next(at.Add(30 * time.Minute)); ok {
			t.Fatalf("round %d: %s handed out; want every journey removed at the end of its retention", round, id)
		}
	}
	tr.mu.Lock()
	kept := len(tr.order.seqs)
	tr.mu.Unlock()
	if tr.Len() != 0 || kept >= 2*1024 {
		t.Errorf("%d journeys tracked, %d entries in the registration order after 5×%d left; want 0 and fewer than %d", tr.Len(), kept, n, 2*1024)
	}
}
