package tracker

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

// disk is what a store would hold: records by id and the last totals.
type disk struct {
	records map[string][]byte
	totals  Totals
	writes  int // records written, upserts and deletes
}

func newDisk() *disk { return &disk{records: map[string][]byte{}} }

// apply writes c as a store does: deletes, then upserts.
func (d *disk) apply(c *Changes) {
	for _, id := range c.Deletes() {
		delete(d.records, id)
		d.writes++
	}
	for i := range c.Len() {
		id, rec := c.Upsert(i)
		d.records[id] = bytes.Clone(rec)
		d.writes++
	}
	d.totals = c.Totals
}

// flush takes every change of tr into d.
func (d *disk) flush(tr *Tracker) {
	var c Changes
	for tr.TakeChanges(&c, 0) {
		d.apply(&c)
	}
	d.apply(&c)
}

func (d *disk) saved() Saved {
	return Saved{
		Gen: 1, Decoder: NewDecoder(map[uint64]Vocabularies{1: CurrentVocabularies()}),
		Records: func(yield func(id, rec []byte) bool) {
			for _, id := range slices.Sorted(maps.Keys(d.records)) {
				if !yield([]byte(id), d.records[id]) {
					return
				}
			}
		},
		Count: len(d.records), Totals: d.totals,
	}
}

// followed returns an empty tracker a store follows.
func followed(t *testing.T, p Policy) *Tracker {
	t.Helper()
	tr := New(p)
	if _, err := tr.Restore(Saved{Gen: 1}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// busyTracker gives journeys every kind of state: statuses, labels,
// reasons, 404s, a skip, a start filled in later, a status at
// registration, a settled time, an overdue pending one, removals at
// retention and a slot reused since.
func busyTracker(t *testing.T, tr *Tracker) time.Time {
	t.Helper()
	results := []Result{
		{Status: "ok", CreatedAt: t0.Add(-time.Hour)},
		{Status: "pending"},
		{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap", "a_label_it_invented"}},
		{Status: "anomaly_error", AnomalyLabels: []string{"distance_duration_anomaly"}},
		{Status: "terms_violation_error", TermsReasons: []string{"expired", "distance_too_short"}},
		{Status: "a_status_it_invented"},
	}
	for i := range 40 {
		r := Registration{ID: fmt.Sprintf("j%02d", i), Source: Source(i % int(numSources))}
		if i%3 != 0 {
			r.Start = t0.Add(-time.Duration(i) * time.Hour)
		}
		if i == 7 {
			r.Status, r.TermsReasons = "terms_violation_error", []string{"expired"}
		}
		tr.Register(t0, r)
	}
	tr.Register(t0, Registration{ID: "j00", Start: t0.Add(-30 * time.Minute)}) // fills in a start
	now := t0.Add(10 * time.Minute)
	for i := 0; ; i++ {
		id, ok := tr.Next(now)
		if !ok {
			break
		}
		switch {
		case i%11 == 5:
			tr.NotFound(id, now)
		case i%13 == 4:
			tr.Skip(id, now)
		case i%17 == 3:
			tr.Retry(id, now.Add(time.Minute))
		default:
			tr.Checked(id, now, results[i%len(results)])
		}
	}
	// A day later the pending ones are checked again, after their batch
	// window for the oldest: overdue.
	now = t0.Add(60 * time.Hour)
	for {
		id, ok := tr.Next(now)
		if !ok {
			break
		}
		tr.Checked(id, now, Result{Status: "pending"})
	}
	// A short retention forgets some, and a new journey reuses a slot.
	p := tr.policy
	p.Retention = 62 * time.Hour
	tr.SetPolicy(p)
	for {
		id, ok := tr.Next(t0.Add(61 * time.Hour))
		if !ok {
			break
		}
		tr.Checked(id, t0.Add(61*time.Hour), Result{Status: "ok"})
	}
	for {
		id, ok := tr.Next(t0.Add(63 * time.Hour))
		if !ok {
			break
		}
		tr.Checked(id, t0.Add(63*time.Hour), Result{Status: "ok"})
	}
	tr.Register(t0.Add(63*time.Hour), Registration{ID: "late1", Source: SourcePush})
	// The proxy relays cancels and PATCHes, of tracked journeys and of
	// new ones.
	for i, id := range []string{"j38", "j39", "relayed1", "relayed2"} {
		tr.Relayed(t0.Add(63*time.Hour), SourceProxy, Change{ID: id, Op: Operation(i%2 + 1)})
	}
	return t0.Add(63 * time.Hour)
}

// A tracker restored from what its changes wrote is the same tracker:
// every journey as Lookup shows it, every gauge and total, and the due
// queue, which hands out the same journeys in the same order.
func TestRestoreRebuildsTheTracker(t *testing.T) {
	t.Parallel()
	a := followed(t, DefaultPolicy)
	now := busyTracker(t, a)
	d := newDisk()
	d.flush(a)
	if s := a.Stats(); s.Forgotten == 0 || s.NotFound == 0 || s.PendingOverdue == 0 || s.Settle.Count == 0 {
		t.Fatalf("the scenario misses a case: %+v", s)
	}

	b := New(a.policy)
	res, err := b.Restore(d.saved())
	if err != nil {
		t.Fatal(err)
	}
	if res.Journeys != a.Len() || res.Corrupt != 0 {
		t.Fatalf("restored %+v, want %d journeys", res, a.Len())
	}
	if got, want := b.Stats(), a.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats after restore:\n got %+v\nwant %+v", got, want)
	}
	if got, want := b.Latest(), a.Latest(); !reflect.DeepEqual(got, want) || want.Status[Statuses.Index("ok")] == "" || want.Fraud[FraudLabels.Index(Other)] == "" {
		t.Fatalf("exemplars after restore:\n got %+v\nwant %+v", got, want)
	}
	for id := range d.records {
		ja, _ := a.Lookup(id)
		jb, ok := b.Lookup(id)
		if !ok || !reflect.DeepEqual(ja, jb) {
			t.Errorf("%s: restored %+v, want %+v", id, jb, ja)
		}
	}
	// Drain both queues to the end of retention: the same journeys due at
	// the same times (their order among equal due times is the heap's),
	// the same final stats.
	drain := func(tr *Tracker, at time.Time) []string {
		var ids []string
		for {
			id, ok := tr.Next(at)
			if !ok {
				slices.Sort(ids)
				return ids
			}
			ids = append(ids, id)
			tr.Checked(id, at, Result{Status: "ok"})
		}
	}
	handedOut := 0
	for at := now; at.Before(now.Add(40 * 24 * time.Hour)); at = at.Add(time.Hour) {
		ida, idb := drain(a, at), drain(b, at)
		if !slices.Equal(ida, idb) {
			t.Fatalf("at %v: Next hands out %v on the original, %v restored", at, ida, idb)
		}
		handedOut += len(ida)
	}
	if handedOut == 0 {
		t.Fatal("no journey was due after the restore")
	}
	if got, want := b.Stats(), a.Stats(); !reflect.DeepEqual(got, want) || want.Tracked != 0 {
		t.Fatalf("stats after retention:\n got %+v\nwant %+v", got, want)
	}
}

// Changes list each changed journey once however often it changed, a
// removed one as a delete, one forgotten and registered again as both,
// and nothing that did not change.
func TestTakeChangesListsWhatChanged(t *testing.T) {
	t.Parallel()
	tr := followed(t, DefaultPolicy)
	for _, id := range []string{"a", "b", "c"} {
		tr.Register(t0, Registration{ID: id, Start: t0})
	}
	var c Changes
	if tr.TakeChanges(&c, 0) || c.Len() != 3 || len(c.Deletes()) != 0 {
		t.Fatalf("after 3 registrations: %d upserts, %v deletes", c.Len(), c.Deletes())
	}
	if tr.TakeChanges(&c, 0); !c.Empty() {
		t.Fatalf("nothing changed, yet %d upserts, %v deletes", c.Len(), c.Deletes())
	}
	tr.Register(t0, Registration{ID: "a", Start: t0}) // idempotent: no change
	now := t0.Add(10 * time.Minute)
	for range 3 {
		id, _ := tr.Next(now)
		tr.Checked(id, now, Result{Status: "pending"})
	}
	tr.Retry("b", now.Add(time.Hour))
	if tr.TakeChanges(&c, 0); c.Len() != 3 || c.Totals.SeenStatus["pending"] != 3 || c.Tracked != 3 {
		t.Fatalf("after checking the 3: %d upserts, totals %+v", c.Len(), c.Totals)
	}

	p := DefaultPolicy
	p.Retention = 0
	tr.SetPolicy(p)
	tr.Skip("c", now) // due for removal at once
	if id, ok := tr.Next(now); ok {
		t.Fatalf("Next handed out %s", id)
	}
	tr.SetPolicy(DefaultPolicy)
	tr.Register(now, Registration{ID: "c"})
	tr.TakeChanges(&c, 0)
	var upserts []string
	for i := range c.Len() {
		id, _ := c.Upsert(i)
		upserts = append(upserts, id)
	}
	if !slices.Equal(c.Deletes(), []string{"c"}) || !slices.Equal(upserts, []string{"c"}) {
		t.Fatalf("forgotten then registered again: upserts %v, deletes %v", upserts, c.Deletes())
	}
}

// A take limited to a chunk leaves the rest for the next, oldest first,
// and says so; the changes put back after a failed write come again,
// except a journey removed since, which stays deleted.
func TestChunksAndPutBack(t *testing.T) {
	t.Parallel()
	tr := followed(t, DefaultPolicy)
	for i := range 10 {
		tr.Register(t0.Add(time.Duration(i)*time.Second), Registration{ID: fmt.Sprintf("j%d", i)})
	}
	var c Changes
	var taken []string
	for more := true; more; {
		more = tr.TakeChanges(&c, 4)
		if c.Len() > 4 {
			t.Fatalf("a take of at most 4 gave %d", c.Len())
		}
		for i := range c.Len() {
			id, _ := c.Upsert(i)
			taken = append(taken, id)
		}
	}
	want := []string{"j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"}
	if !slices.Equal(taken, want) {
		t.Fatalf("chunks gave %v, want %v", taken, want)
	}

	// A take whose write fails: j0 is removed meanwhile, j1 is not.
	now := t0.Add(10*time.Minute + time.Second)
	for range 2 {
		id, _ := tr.Next(now)
		tr.Checked(id, now, Result{Status: "ok"})
	}
	tr.TakeChanges(&c, 0)
	if c.Len() != 2 {
		t.Fatalf("%d upserts, want 2", c.Len())
	}
	p := DefaultPolicy
	p.Retention = 0
	tr.SetPolicy(p)
	tr.Skip("j0", now)
	tr.SetPolicy(DefaultPolicy)
	tr.Next(now) // forgets j0
	tr.PutBack(&c)
	var again Changes
	tr.TakeChanges(&again, 0)
	var ids []string
	for i := range again.Len() {
		id, _ := again.Upsert(i)
		ids = append(ids, id)
	}
	if !slices.Equal(ids, []string{"j1"}) || !slices.Equal(again.Deletes(), []string{"j0"}) {
		t.Fatalf("after PutBack: upserts %v deletes %v, want [j1] and [j0]", ids, again.Deletes())
	}
}

// A tracker no store follows records nothing: its list of changes would
// grow for ever.
func TestNoChangesWithoutAStore(t *testing.T) {
	t.Parallel()
	tr := New(DefaultPolicy)
	tr.Register(t0, Registration{ID: "a"})
	var c Changes
	if tr.TakeChanges(&c, 0); !c.Empty() || c.Totals.Registered["config"] != 1 {
		t.Fatalf("%d upserts, totals %+v", c.Len(), c.Totals)
	}
	if len(tr.changes.dirty) != 0 || tr.journeys[0].flags&flagDirty != 0 {
		t.Fatal("a tracker without a store marks journeys dirty")
	}
	if _, err := tr.Restore(Saved{}); err == nil {
		t.Fatal("Restore into a tracker in use succeeded")
	}
}

// Records written under another release's vocabularies are read by name:
// a status or label at another index lands on its own, one this release
// no longer knows on other, a source it does not know on config.
func TestRestoreRemapsVocabularies(t *testing.T) {
	t.Parallel()
	old := Vocabularies{
		Statuses:      []string{"unchecked", "a_status_since_dropped", "ok", "pending", "fraud_error"},
		FraudLabels:   []string{"dropped_label", "interoperator_overlap"},
		AnomalyLabels: []string{"temporal_overlap_anomaly"},
		TermsReasons:  []string{"distance_too_short", "expired"},
		Sources:       []string{"push", "a_future_source", "config"},
	}
	rec := func(status, fraud, terms, source uint8, seen uint16) []byte {
		j := journey{registered: t0.Unix(), due: t0.Add(time.Hour).Unix(), status: status, seenStatus: seen,
			fraud: fraud, seenFraud: fraud, terms: terms, seenTerms: terms, source: Source(source)}
		return appendRecord(nil, 7, &j)
	}
	records := map[string][]byte{
		"fraud": rec(4, 0b11, 0, 0, 1<<0|1<<4),
		"gone":  rec(1, 0, 0b10, 1, 1<<1),
		"ok":    rec(2, 0, 0b01, 2, 1<<3|1<<2),
	}
	tr := New(DefaultPolicy)
	res, err := tr.Restore(Saved{
		Gen: 8, Decoder: NewDecoder(map[uint64]Vocabularies{7: old}),
		Records: func(yield func(id, rec []byte) bool) {
			for id, r := range records {
				if !yield([]byte(id), r) {
					return
				}
			}
		},
		Totals: Totals{
			SeenStatus:  map[string]uint64{"ok": 5, "a_status_since_dropped": 2, "other": 1},
			Registered:  map[string]uint64{"push": 4, "a_future_source": 3},
			SeenFraud:   map[string]uint64{"dropped_label": 1},
			Settle:      SettleTotals{Buckets: []BucketCount{{UpperBound: 600, Count: 2}, {UpperBound: 700, Count: 3}, {UpperBound: 1e9, Count: 1}}, Sum: 10, Count: 6},
			NotFound:    9,
			Forgotten:   8,
			SeenAnomaly: map[string]uint64{"temporal_overlap_anomaly": 2},
			// A dropped status's example stands for other, which has
			// none; other's own wins over a dropped label's.
			LatestStatus: map[string]string{"ok": "ok", "a_status_since_dropped": "gone", "zzz_dropped_too": "older"},
			LatestFraud:  map[string]string{"dropped_label": "fraud", "other": "fraud2"},
		},
	})
	if err != nil || res.Journeys != 3 || res.Corrupt != 0 {
		t.Fatalf("Restore: %+v %v", res, err)
	}
	check := func(id, status, source string, fraud, terms []string) {
		t.Helper()
		j, ok := tr.Lookup(id)
		if !ok || j.Status != status || j.Source != source || !slices.Equal(j.FraudLabels, fraud) || !slices.Equal(j.TermsReasons, terms) {
			t.Errorf("%s: %+v, want status %s source %s fraud %v terms %v", id, j, status, source, fraud, terms)
		}
	}
	check("fraud", "fraud_error", "push", []string{"interoperator_overlap", "other"}, nil)
	check("gone", "other", "config", nil, []string{"expired"})
	check("ok", "ok", "config", nil, []string{"distance_too_short"})
	s := tr.Stats()
	if s.SeenStatus[Statuses.Index("ok")] != 5 || s.SeenStatus[Statuses.Index(Other)] != 3 {
		t.Errorf("seen statuses %v", s.SeenStatus)
	}
	if s.Registered[SourcePush] != 4 || s.Registered[SourceConfig] != 3 {
		t.Errorf("registered %v", s.Registered)
	}
	if s.SeenFraud[FraudLabels.Index(Other)] != 1 || s.NotFound != 9 || s.Forgotten != 8 {
		t.Errorf("totals %+v", s)
	}
	l := tr.Latest()
	if l.Status[Statuses.Index("ok")] != "ok" || l.Status[Statuses.Index(Other)] != "gone" || l.Fraud[FraudLabels.Index(Other)] != "fraud2" ||
		slices.ContainsFunc(l.Anomaly, func(id string) bool { return id != "" }) {
		t.Errorf("exemplars %+v", l)
	}
	// 600 stays, 700 moves up to 3600, above every bound only in Count.
	if s.Settle.Counts[0] != 2 || s.Settle.Counts[1] != 3 || s.Settle.Count != 6 || s.Settle.Sum != 10 {
		t.Errorf("settle %+v", s.Settle)
	}
	if s.ByFraud[FraudLabels.Index("interoperator_overlap")] != 1 || s.ByStatus[Statuses.Index(Other)] != 1 {
		t.Errorf("gauges %+v", s)
	}
	// Changes are written under the new generation.
	tr.Register(t0, Registration{ID: "new"})
	var c Changes
	tr.TakeChanges(&c, 0)
	if _, r := c.Upsert(0); c.Len() != 1 || r[1] != 8 {
		t.Fatalf("record of a new journey: % x, want generation 8", r)
	}
}

// Records that cannot be read are skipped and counted; the others load.
func TestRestoreSkipsCorruptRecords(t *testing.T) {
	t.Parallel()
	a := followed(t, DefaultPolicy)
	busyTracker(t, a)
	d := newDisk()
	d.flush(a)
	good := len(d.records)
	kept := slices.Sorted(maps.Keys(d.records))[0]
	valid := d.records[kept]
	d.records["truncated"] = valid[:len(valid)-3]
	d.records["version"] = append([]byte{99}, valid[1:]...)
	d.records["generation"] = append([]byte{1, 42}, valid[2:]...)
	d.records["empty"] = nil
	d.records["trailing"] = append(bytes.Clone(valid), 0)
	bad := appendRecord(nil, 1, &journey{registered: 1e9, seenStatus: 1}) // no history: flags, then its length 0
	bad[len(bad)-2] = 0xff                                                // flags no release wrote
	d.records["flags"] = bad
	d.records[""] = valid
	b := New(DefaultPolicy)
	res, err := b.Restore(d.saved())
	if err != nil || res.Journeys != good || res.Corrupt != 7 {
		t.Fatalf("Restore: %+v %v; want %d journeys and 7 corrupt", res, err, good)
	}
	if _, ok := b.Lookup(kept); !ok {
		t.Fatal("a good record was lost")
	}
}

// Every field of a journey survives its record, offsets before and after
// registration and unknown times included.
func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	d := NewDecoder(map[uint64]Vocabularies{3: CurrentVocabularies()})
	for _, j := range []journey{
		{registered: 1_790_000_000, status: statusUnchecked, seenStatus: 1 << statusUnchecked, heapIdx: -1},
		{registered: 1_790_000_000, start: 1_789_990_000, createdAt: 1_790_000_001, lastCheck: 1_790_000_600,
			due: 1_792_592_000, status: 3, seenStatus: 0b1011, fraud: 0b101, seenFraud: 0b111, anomaly: 1, seenAnomaly: 1,
			terms: 0b10, seenTerms: 0b11, source: SourceProxy, checks: 255, misses: 3, flags: storedFlags, heapIdx: -1},
		{registered: -5, start: 1 << 40, due: 1, status: statusNotFound, seenStatus: 1 << statusNotFound, heapIdx: -1},
		{registered: 1_790_000_000, start: 1_789_990_000, due: 1_790_100_000, status: statusPending,
			seenStatus: 1<<statusPending | 1<<statusUnchecked, source: SourceProxy, rebatch: 400_000, heapIdx: -1},
	} {
		rec := appendRecord(nil, 3, &j)
		var got journey
		if err := d.decode(rec, &got); err != nil || got != j {
			t.Errorf("round trip of %+v: %+v, %v", j, got, err)
		}
	}
}

// FuzzDecodeRecord: no input makes the decoder panic, and what it accepts
// is a journey whose record reads back the same.
func FuzzDecodeRecord(f *testing.F) {
	tr := New(DefaultPolicy)
	if _, err := tr.Restore(Saved{Gen: 1}); err != nil {
		f.Fatal(err)
	}
	busyFuzzSeed(tr)
	var c Changes
	tr.TakeChanges(&c, 0)
	for i := range c.Len() {
		_, rec := c.Upsert(i)
		f.Add(bytes.Clone(rec))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0x80})
	d := NewDecoder(map[uint64]Vocabularies{1: CurrentVocabularies(), 2: {Statuses: []string{"ok", "x"}, Sources: []string{"push"}}})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var j journey
		if d.decode(rec, &j) != nil {
			return
		}
		if int(j.status) >= Statuses.Len() || j.source >= numSources || j.flags&^storedFlags != 0 {
			t.Fatalf("decoded out of range: %+v", j)
		}
		again := appendRecord(nil, 1, &j)
		var k journey
		if err := d.decode(again, &k); err != nil || k != j {
			t.Fatalf("%x decoded to %+v, which reads back as %+v (%v)", rec, j, k, err)
		}
	})
}

// busyFuzzSeed gives a tracker a few journeys in varied states without a
// *testing.T.
func busyFuzzSeed(tr *Tracker) {
	for i, r := range []Result{{Status: "ok"}, {Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}},
		{Status: "terms_violation_error", TermsReasons: []string{"expired"}}, {Status: "pending", CreatedAt: t0}} {
		tr.Register(t0, Registration{ID: fmt.Sprint(i), Start: t0.Add(-time.Hour), Source: SourcePush})
		now := t0.Add(time.Hour)
		id, _ := tr.Next(now)
		tr.Checked(id, now, r)
	}
	tr.Register(t0, Registration{ID: "nf"})
	tr.NotFound("nf", t0.Add(time.Hour))
	tr.Relayed(t0.Add(2*time.Hour), SourceProxy, Change{ID: "0", Op: Patch})
	tr.Relayed(t0.Add(2*time.Hour), SourceProxy, Change{ID: "1", Op: Cancel})
}
