package tracker

import (
	"testing"
	"time"
)

// A cancel the proxy relayed is applied at once, as a change a check
// finds: a transition at that moment, the gauges and the seen counter
// move. The journey is then left alone until the confirming looks of
// decided journeys: no first-list look, no frame look.
func TestRelayedCancel(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy.WithBulk()
	tr := New(p)
	start := t0.Add(-time.Hour)
	tr.Register(t0, Registration{ID: "c1", Source: SourceProxy, Start: start, Status: "pending"})
	canceled := Statuses.Index("canceled")
	at := t0.Add(20 * time.Minute)
	if tr.Relayed(at, SourceProxy, Change{ID: "c1", Op: Cancel}) {
		t.Fatal("a tracked journey counted as added")
	}
	j, _ := tr.Lookup("c1")
	last := j.Transitions[len(j.Transitions)-1]
	if j.Status != "canceled" || last.Status != "canceled" || !last.At.Equal(at) {
		t.Fatalf("after the cancel: %s, last transition %+v", j.Status, last)
	}
	s := tr.Stats()
	if s.ByStatus[canceled] != 1 || s.ByStatus[statusPending] != 0 || s.SeenStatus[canceled] != 1 {
		t.Fatalf("gauges: canceled %d, pending %d, seen canceled %d", s.ByStatus[canceled], s.ByStatus[statusPending], s.SeenStatus[canceled])
	}
	// Next look: the settle look (72 h after the start), then the 7-day
	// confirmation, both kept.
	if want := start.Add(p.SettleAfter); !j.NextCheck.Equal(want) {
		t.Fatalf("next look at %v after the start, want %v", j.NextCheck.Sub(start), p.SettleAfter)
	}
	if due, _ := tr.DueCount(start.Add(p.SettleAfter-time.Second), nil); due != 0 {
		t.Fatalf("%d checks due before the settle look", due)
	}
	l, ok := tr.NextLook(start.Add(p.SettleAfter))
	if !ok || l.ID != "c1" || !l.Settling || l.Status != "canceled" {
		t.Fatalf("settle look: %+v %v", l, ok)
	}
	tr.Unchanged("c1", start.Add(p.SettleAfter))
	if j, _ := tr.Lookup("c1"); !j.NextCheck.Equal(start.Add(p.ConfirmAfter)) {
		t.Fatalf("after the settle look, next at %v after the start, want %v", j.NextCheck.Sub(start), p.ConfirmAfter)
	}
	// A later check may still change it: a cancel has no time limit, nor
	// does a PATCH.
	tr.Checked("c1", start.Add(p.SettleAfter+time.Hour), Result{Status: "pending"})
	if j, _ := tr.Lookup("c1"); j.Status != "pending" {
		t.Fatalf("a check after the cancel: %s", j.Status)
	}

	// An id the tracker did not follow is registered, from the proxy.
	if !tr.Relayed(at, SourceProxy, Change{ID: "c2", Op: Cancel}) {
		t.Fatal("an untracked journey not added")
	}
	j, _ = tr.Lookup("c2")
	if j.Status != "canceled" || j.Source != "proxy" || len(j.Transitions) != 2 {
		t.Fatalf("new journey: %+v", j)
	}
	if s := tr.Stats(); s.Registered[SourceProxy] != 2 || s.SeenStatus[canceled] != 2 {
		t.Fatalf("registered %d, seen canceled %d", s.Registered[SourceProxy], s.SeenStatus[canceled])
	}
}

// A PATCH after the batch window began puts the journey back to pending
// and plans its looks as if its window started again at the PATCH; one
// before it keeps the journey's own plan. Neither counts as overdue.
func TestRelayedPatchReplans(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy.WithBulk()
	tr := New(p)
	start := t0.Add(-100 * time.Hour)
	tr.Register(t0.Add(-99*time.Hour), Registration{ID: "old", Source: SourceProxy, Start: start, Status: "pending"})
	tr.Listed("old", t0.Add(-60*time.Hour), "ok")
	tr.Register(t0, Registration{ID: "young", Source: SourceProxy, Start: t0.Add(-2 * time.Hour), Status: "pending"})
	young, _ := tr.Lookup("young")

	ok := Statuses.Index("ok")
	tr.Relayed(t0, SourceProxy, Change{ID: "old", Op: Patch})
	j, _ := tr.Lookup("old")
	if j.Status != "pending" || !j.Transitions[len(j.Transitions)-1].At.Equal(t0) {
		t.Fatalf("after the PATCH: %+v", j)
	}
	s := tr.Stats()
	if s.ByStatus[ok] != 0 || s.ByStatus[statusPending] != 2 || s.PendingOverdue != 0 {
		t.Fatalf("gauges: ok %d, pending %d, overdue %d", s.ByStatus[ok], s.ByStatus[statusPending], s.PendingOverdue)
	}
	// The registry's checks restart: the window's looks (on list ticks,
	// by its start plus batch_check_delay) from the PATCH, not the 7-day
	// confirmation three days away.
	if latest := t0.Add(p.BatchCheckDelay + p.ListInterval); !j.NextCheck.After(t0) || j.NextCheck.After(latest) {
		t.Fatalf("next look %v after the PATCH, want by %v", j.NextCheck.Sub(t0), latest.Sub(t0))
	}
	// Before its window, a PATCH leaves the plan as it was.
	tr.Relayed(t0.Add(time.Minute), SourceProxy, Change{ID: "young", Op: Patch})
	if j, _ := tr.Lookup("young"); !j.NextCheck.Equal(young.NextCheck) || j.Status != "pending" {
		t.Fatalf("young after the PATCH: next %v, was %v", j.NextCheck, young.NextCheck)
	}
	// The start a PATCH stored is the one the registry lists it by.
	moved := t0.Add(-3 * time.Hour)
	tr.Relayed(t0.Add(2*time.Minute), SourceProxy, Change{ID: "young", Op: Patch, Start: moved})
	if j, _ := tr.Lookup("young"); !j.Start.Equal(moved) {
		t.Fatalf("young's start after a PATCH moving it: %v", j.Start)
	}
	l, _ := tr.NextLook(j.NextCheck)
	if l.ID != "old" || l.Settling || l.Status != "pending" {
		t.Fatalf("look after the PATCH: %+v", l)
	}
	tr.Unchanged("old", j.NextCheck)
	// Still pending a frame later: not overdue; the settle look comes
	// SettleAfter − BatchWindowStart after the PATCH.
	if s := tr.Stats(); s.PendingOverdue != 0 {
		t.Fatalf("overdue after the PATCH's first look: %d", s.PendingOverdue)
	}
	for now := j.NextCheck; ; {
		l, ok := tr.NextLook(now.Add(time.Hour))
		if !ok {
			now = now.Add(time.Hour)
			if now.After(t0.Add(10 * 24 * time.Hour)) {
				t.Fatal("no settle look")
			}
			continue
		}
		if l.Settling {
			if want := t0.Add(p.SettleAfter - p.BatchWindowStart); l.ID != "old" || now.Add(time.Hour).Before(want) {
				t.Fatalf("settle look of %s at %v after the PATCH, want %v", l.ID, now.Add(time.Hour).Sub(t0), want.Sub(t0))
			}
			break
		}
		tr.Unchanged(l.ID, now.Add(time.Hour))
		now = now.Add(time.Hour)
	}

}

// A change relayed while the journey's check or look is under way wins
// over what that check read, which may predate it; the check still
// counts, and the journey is planned from the change.
func TestRelayedWhileHandedOut(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy.WithBulk()
	tr := New(p)
	start := t0.Add(-30 * time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		tr.Register(t0.Add(-29*time.Hour), Registration{ID: id, Source: SourceProxy, Start: start, Status: "pending"})
	}
	var out []string
	for {
		l, ok := tr.NextLook(t0)
		if !ok {
			break
		}
		out = append(out, l.ID)
	}
	if len(out) != 3 {
		t.Fatalf("handed out %v", out)
	}
	tr.Relayed(t0, SourceProxy, Change{ID: "a", Op: Cancel})
	tr.Relayed(t0, SourceProxy, Change{ID: "b", Op: Cancel})
	tr.Relayed(t0, SourceProxy, Change{ID: "c", Op: Cancel})
	if _, ok := tr.NextLook(t0.Add(time.Hour)); ok {
		t.Fatal("a journey handed out went back to the queue before its look ended")
	}
	tr.Checked("a", t0.Add(time.Minute), Result{Status: "pending"})
	tr.Listed("b", t0.Add(time.Minute), "ok")
	tr.Retry("c", t0.Add(2*time.Minute))
	for _, id := range out {
		j, _ := tr.Lookup(id)
		if j.Status != "canceled" || !j.NextCheck.Equal(start.Add(p.SettleAfter)) {
			t.Errorf("%s after its stale look: %s, next %v", id, j.Status, j.NextCheck)
		}
	}
	if j, _ := tr.Lookup("a"); j.Checks != 1 {
		t.Errorf("the stale check is not counted: %d checks", j.Checks)
	}
	// Once back, the next answers count again.
	tr.Checked("a", start.Add(p.SettleAfter), Result{Status: "ok"})
	if j, _ := tr.Lookup("a"); j.Status != "ok" {
		t.Errorf("a check after the change: %s", j.Status)
	}
}

// A cancel or a PATCH of a journey the tracker did not follow registers
// it, but it is not the journey's submission, which came earlier at a
// time unknown: no submission lag is counted for it, not even as unknown.
// A PATCH of a week-old journey would otherwise count a week's lag.
func TestRelayedCountsNoLag(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy.WithBulk())
	tr.Relayed(t0, SourceProxy, Change{ID: "canceled", Op: Cancel})
	tr.Relayed(t0, SourceProxy, Change{ID: "patched", Op: Patch, Start: t0.Add(-7 * 24 * time.Hour)})
	s := tr.Stats()
	if s.Registered[SourceProxy] != 2 {
		t.Fatalf("registered %d, want 2", s.Registered[SourceProxy])
	}
	if s.Lag[SourceProxy].Count != 0 || s.LagUnknown[SourceProxy] != 0 || s.LagNegative[SourceProxy] != 0 {
		t.Errorf("lag counted for relayed changes: %d observed, %d unknown, %d negative",
			s.Lag[SourceProxy].Count, s.LagUnknown[SourceProxy], s.LagNegative[SourceProxy])
	}
}
