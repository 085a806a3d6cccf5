package tracker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func story(j Journey) string {
	var parts []string
	for _, t := range j.Transitions {
		p := t.Status
		for _, l := range [][]string{t.FraudLabels, t.AnomalyLabels, t.TermsReasons} {
			if len(l) > 0 {
				p += "[" + strings.Join(l, "+") + "]"
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// A journey's story has its registration and each change of status,
// labels or reasons, at the check that saw it; a check that sees nothing
// new adds nothing.
func TestTransitions(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	tr.Register(t0, Registration{ID: "a", Source: SourcePush})
	tr.Checked("a", t0.Add(time.Hour), Result{Status: "pending"})
	tr.Checked("a", t0.Add(2*time.Hour), Result{Status: "pending"})
	tr.Checked("a", t0.Add(50*time.Hour), Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	tr.Checked("a", t0.Add(51*time.Hour), Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap", "interoperator_too_close_trips"}})
	tr.NotFound("a", t0.Add(52*time.Hour))
	j, _ := tr.Lookup("a")
	want := "unchecked pending fraud_error[interoperator_overlap] fraud_error[interoperator_overlap+interoperator_too_close_trips] not_found"
	if got := story(j); got != want || j.EarlierDropped {
		t.Fatalf("story %q, want %q", got, want)
	}
	for i, at := range []time.Duration{0, time.Hour, 50 * time.Hour, 51 * time.Hour, 52 * time.Hour} {
		if !j.Transitions[i].At.Equal(t0.Add(at)) {
			t.Errorf("transition %d at %v, want %v", i, j.Transitions[i].At, t0.Add(at))
		}
	}
	// A registration that knows the status (a submission's answer) starts
	// there.
	tr.Register(t0, Registration{ID: "b", Status: "pending"})
	if j, _ := tr.Lookup("b"); story(j) != "unchecked pending" {
		t.Errorf("registered pending: %q", story(j))
	}
}

// However often a journey flips, its story keeps the latest
// MaxTransitions, says earlier ones were dropped, and survives its
// record.
func TestTransitionsAreBounded(t *testing.T) {
	t.Parallel()
	tr := followed(t, DefaultPolicy)
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	tr.Register(t0, Registration{ID: "flip"})
	for i := range 40 {
		status := []string{"pending", "ok"}[i%2]
		tr.Checked("flip", t0.Add(time.Duration(i+1)*time.Minute), Result{Status: status})
	}
	j, _ := tr.Lookup("flip")
	if len(j.Transitions) != MaxTransitions || !j.EarlierDropped {
		t.Fatalf("%d transitions, earlier dropped %v", len(j.Transitions), j.EarlierDropped)
	}
	if last := j.Transitions[MaxTransitions-1]; last.Status != "ok" || !last.At.Equal(t0.Add(40*time.Minute)) {
		t.Fatalf("latest transition %+v", last)
	}
	d := newDisk()
	d.flush(tr)
	b := New(DefaultPolicy)
	if _, err := b.Restore(d.saved()); err != nil {
		t.Fatal(err)
	}
	if k, _ := b.Lookup("flip"); story(k) != story(j) || !k.EarlierDropped {
		t.Fatalf("restored story %q, want %q", story(k), story(j))
	}
}

// Records of version 1, written before stories were kept, still load:
// the journey is whole, its story starts at its next change.
func TestVersion1RecordsLoad(t *testing.T) {
	t.Parallel()
	a := followed(t, DefaultPolicy)
	busyTracker(t, a)
	d := newDisk()
	d.flush(a)
	v1 := newDisk()
	for id, rec := range d.records {
		v1.records[id] = toVersion1(t, rec)
	}
	b := New(a.policy)
	res, err := b.Restore(v1.saved())
	if err != nil || res.Corrupt != 0 || res.Journeys != len(d.records) {
		t.Fatalf("Restore of version 1 records: %+v %v", res, err)
	}
	storied := 0
	for id := range d.records {
		ja, _ := a.Lookup(id)
		jb, _ := b.Lookup(id)
		if len(ja.Transitions) > 1 {
			storied++
		}
		if len(jb.Transitions) != 1 || jb.Transitions[0].Status != StatusUnchecked || jb.EarlierDropped {
			t.Errorf("%s from a version 1 record: story %q", id, story(jb))
		}
		ja.Transitions, jb.Transitions = nil, nil
		if fmt.Sprint(ja) != fmt.Sprint(jb) {
			t.Errorf("%s from a version 1 record:\n got %+v\nwant %+v", id, jb, ja)
		}
	}
	if storied == 0 {
		t.Fatal("no journey had a story to lose")
	}
	// The next change starts the story, and the record written then is
	// a version 2 one.
	id := slices.Sorted(maps.Keys(d.records))[0]
	b.NotFound(id, time.Now())
	if j, _ := b.Lookup(id); len(j.Transitions) != 2 {
		t.Errorf("after a change: %q", story(j))
	}
}

// toVersion1 rewrites a version 2 or 3 record as the first release wrote
// it: no history, no flag of a cut one, no PATCH time.
func toVersion1(t *testing.T, rec []byte) []byte {
	t.Helper()
	var j journey
	if err := NewDecoder(map[uint64]Vocabularies{1: CurrentVocabularies()}).decode(rec, &j); err != nil {
		t.Fatal(err)
	}
	j.history = ""
	j.flags &^= flagHistoryCut
	j.rebatch = 0 // version 3, since
	out := appendRecord(nil, 1, &j)
	out = out[:len(out)-1] // the history's length, 0
	out[0] = recordVersion1
	return out
}

// A history that a release could not have written makes its record
// corrupt, never a panic or a time that cannot be printed.
func TestCorruptHistories(t *testing.T) {
	t.Parallel()
	d := NewDecoder(map[uint64]Vocabularies{1: CurrentVocabularies()})
	base := journey{registered: 1.7e9, seenStatus: 1 << statusPending, status: statusPending}
	entry := func(off int64, status uint8) string {
		return string(appendTransition(nil, base.registered, transition{at: base.registered + off, status: status}))
	}
	cases := map[string]string{
		"truncated":     entry(60, statusPending)[:2],
		"status":        entry(60, 200),
		"far future":    entry(1<<40, statusPending),
		"too many":      strings.Repeat(entry(60, statusPending), MaxTransitions+1),
		"varint":        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		"fraud outside": string(appendTransition(nil, base.registered, transition{at: base.registered, status: statusPending, fraud: 0x80})),
	}
	for name, h := range cases {
		j := base
		j.history = h
		var got journey
		if err := d.decode(appendRecord(nil, 1, &j), &got); err == nil {
			t.Errorf("%s: decoded as %+v", name, got)
		}
	}
	j := base
	j.history = strings.Repeat(entry(60, statusPending), MaxTransitions)
	var got journey
	if err := d.decode(appendRecord(nil, 1, &j), &got); err != nil || got.history != j.history {
		t.Errorf("a full history: %v", err)
	}
}
