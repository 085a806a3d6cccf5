package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// restored returns a registry restored from s.
func restored(t *testing.T, s *Store, name string) Registry {
	t.Helper()
	r := Registry{Name: name, Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
	if _, err := s.Restore(name, r.Tracker, r.Counters); err != nil {
		t.Fatal(err)
	}
	return r
}

var results = []tracker.Result{
	{Status: "ok"}, {Status: "pending", CreatedAt: t0},
	{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}},
	{Status: "anomaly_error", AnomalyLabels: []string{"distance_duration_anomaly"}},
	{Status: "terms_violation_error", TermsReasons: []string{"expired"}},
}

// fill registers n journeys in r and checks them once.
func fill(r Registry, prefix string, n int) {
	for i := range n {
		r.Tracker.Register(t0, tracker.Registration{ID: fmt.Sprintf("%s%04d", prefix, i), Source: tracker.Source(i % 5), Start: t0.Add(-time.Hour)})
	}
	now := t0.Add(10 * time.Minute)
	for i := 0; ; i++ {
		id, ok := r.Tracker.Next(now)
		if !ok {
			return
		}
		if i%7 == 6 {
			r.Tracker.NotFound(id, now)
			continue
		}
		r.Tracker.Checked(id, now, results[i%len(results)])
	}
}

// What a registry's tracker and counters hold comes back after a close
// and an open: every journey, gauge and total.
func TestStateSurvivesReopening(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	a := restored(t, s, "prod")
	fill(a, "a", 300)
	a.Counters.Restore(scheduler.CounterTotals{
		Outcomes:          map[string]uint64{"checked": 257, "not_found": 43, "error": 5},
		CertificateChecks: map[string]uint64{"ok": 3},
		ListVerdicts:      map[string]uint64{"ok": 40, "unchanged": 17},
		LastSuccess:       t0.Add(time.Hour),
	})
	if err := s.Flush([]Registry{a}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Flushes != 1 || st.SizeBytes == 0 || st.LastFlush.IsZero() {
		t.Fatalf("stats after one flush: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, Options{})
	b := restored(t, s, "prod")
	if got, want := b.Tracker.Stats(), a.Tracker.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("tracker stats after reopening:\n got %+v\nwant %+v", got, want)
	}
	if got, want := b.Counters.Totals(), a.Counters.Totals(); !reflect.DeepEqual(got, want) {
		t.Fatalf("counters after reopening: %+v, want %+v", got, want)
	}
	// The seen counters' exemplars too: a restart does not blank them.
	if got, want := b.Tracker.Latest(), a.Tracker.Latest(); !reflect.DeepEqual(got, want) || want.Terms[tracker.TermsReasons.Index("expired")] == "" {
		t.Fatalf("exemplars after reopening:\n got %+v\nwant %+v", got, want)
	}
	for i := range 300 {
		id := fmt.Sprintf("a%04d", i)
		ja, _ := a.Tracker.Lookup(id)
		if jb, ok := b.Tracker.Lookup(id); !ok || !reflect.DeepEqual(ja, jb) {
			t.Fatalf("%s: %+v, want %+v", id, jb, ja)
		}
	}
	// Registering a stored id again is not new.
	if b.Tracker.Register(t0.Add(time.Hour), tracker.Registration{ID: "a0001"}) {
		t.Fatal("a restored journey registered as new")
	}
}

// A flush writes only what changed: a journey checked since, and the
// totals; nothing at all when nothing changed.
func TestFlushWritesOnlyChanges(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	r := restored(t, s, "prod")
	fill(r, "a", 50)
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Flushes; n != 1 {
		t.Fatalf("%d transactions for one change set, want 1: a flush with nothing to write must not write", n)
	}
	r.Tracker.Register(t0, tracker.Registration{ID: "late"})
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	var records int
	var got []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		jb := tx.Bucket(bucketRegistries).Bucket([]byte("prod")).Bucket(bucketJourneys)
		records = jb.Stats().KeyN
		got = bytes.Clone(jb.Get([]byte("late")))
		return nil
	})
	if records != 51 || got == nil || s.Stats().Flushes != 2 {
		t.Fatalf("%d records, late=%x, %d flushes", records, got, s.Stats().Flushes)
	}
}

// A large first load is written in transactions of ChunkSize journeys.
func TestLargeFlushesAreChunked(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{ChunkSize: 10})
	r := restored(t, s, "prod")
	for i := range 35 {
		r.Tracker.Register(t0, tracker.Registration{ID: fmt.Sprint(i)})
	}
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Flushes; n != 4 {
		t.Fatalf("35 journeys in chunks of 10: %d transactions, want 4", n)
	}
	b := Registry{Name: "prod", Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
	s.flushMu.Lock()
	delete(s.regs, "prod")
	s.flushMu.Unlock()
	if res, err := s.Restore("prod", b.Tracker, b.Counters); err != nil || res.Journeys != 35 {
		t.Fatalf("restored %+v %v, want 35 journeys", res, err)
	}
}

// A flush that fails returns its error and loses nothing: the changes
// are written by the next flush that succeeds.
func TestFailedFlushKeepsTheChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	r := restored(t, s, "prod")
	fill(r, "a", 20)
	broken := errors.New("disk full")
	s.writeHook = func() error { return broken }
	if err := s.Flush([]Registry{r}); !errors.Is(err, broken) {
		t.Fatalf("flush: %v, want the write's error", err)
	}
	if st := s.Stats(); st.FailedFlushes != 1 || st.Flushes != 0 {
		t.Fatalf("stats %+v", st)
	}
	s.writeHook = nil
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = open(t, dir, Options{})
	b := restored(t, s, "prod")
	if b.Tracker.Len() != 20 || !reflect.DeepEqual(b.Tracker.Stats(), r.Tracker.Stats()) {
		t.Fatalf("after a failed flush and a good one: %d journeys, stats %+v, want %+v", b.Tracker.Len(), b.Tracker.Stats(), r.Tracker.Stats())
	}
}

// Sync returns once a flush that began after it has written what was
// registered before it; concurrent callers share flushes; a failed flush
// fails its callers; after Close, Sync fails at once.
func TestSync(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{FlushInterval: time.Hour})
	r := restored(t, s, "prod")
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(ctx, func() []Registry { return []Registry{r} })
	}()
	stored := func(id string) bool {
		var ok bool
		_ = s.db.View(func(tx *bolt.Tx) error {
			if jb := tx.Bucket(bucketRegistries).Bucket([]byte("prod")).Bucket(bucketJourneys); jb != nil {
				ok = jb.Get([]byte(id)) != nil
			}
			return nil
		})
		return ok
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("g%d-%d", g, i)
				r.Tracker.Register(t0, tracker.Registration{ID: id, Source: tracker.SourcePush})
				if err := s.Sync(context.Background()); err != nil {
					t.Errorf("Sync: %v", err)
					return
				}
				// The flush interval is an hour: only Sync can have
				// written it.
				if !stored(id) {
					t.Errorf("%s not on disk when Sync returned", id)
				}
			}
		})
	}
	wg.Wait()
	if n := s.Stats().Flushes; n == 0 || n > 160 {
		t.Fatalf("%d flushes for 160 Sync calls", n)
	}

	s.flushMu.Lock()
	s.writeHook = func() error { return errors.New("disk full") }
	s.flushMu.Unlock()
	r.Tracker.Register(t0, tracker.Registration{ID: "unlucky"})
	if err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Sync over a failing flush: %v", err)
	}
	s.flushMu.Lock()
	s.writeHook = nil
	s.flushMu.Unlock()
	if err := s.Sync(context.Background()); err != nil || !stored("unlucky") {
		t.Fatalf("Sync once the disk works again: %v, stored %v", err, stored("unlucky"))
	}

	cancel()
	<-ran
	if err := s.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after the flusher stopped: %v, want ErrClosed", err)
	}
}

// A second process on the same path is refused within a second or so,
// with an error that says why.
func TestOneProcessAtATime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open(t, dir, Options{})
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "locked by another covoiturage_exporter") {
		t.Fatalf("second Open: %v", err)
	}
}

// A store of another format version is refused, naming both versions,
// and left as it is; so are files that are not stores.
func TestForeignFilesAreRefused(t *testing.T) {
	t.Parallel()
	future := t.TempDir()
	s := open(t, future, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(future, FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
	})
	_ = db.Close()
	_, err = Open(future, Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("format version %d,", FormatVersion+1)) || !strings.Contains(err.Error(), fmt.Sprintf("format versions %d to %d", OldestFormatVersion, FormatVersion)) {
		t.Fatalf("Open of a version %d store: %v", FormatVersion+1, err)
	}

	alien := t.TempDir()
	db, err = bolt.Open(filepath.Join(alien, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("someone_else")); return err })
	_ = db.Close()
	if _, err := Open(alien, Options{}); err == nil || !strings.Contains(err.Error(), "not a covoiturage_exporter store") {
		t.Fatalf("Open of another program's bbolt file: %v", err)
	}

	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, FileName), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage, Options{}); err == nil || !strings.Contains(err.Error(), "not a readable covoiturage_exporter store") {
		t.Fatalf("Open of a garbage file: %v", err)
	}
}

// Unreadable records are skipped and counted; the rest loads.
func TestCorruptRecordsAreSkipped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	r := restored(t, s, "prod")
	fill(r, "a", 30)
	if err := s.Flush([]Registry{r}); err != nil {
		t.Fatal(err)
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		jb := tx.Bucket(bucketRegistries).Bucket([]byte("prod")).Bucket(bucketJourneys)
		if err := jb.Put([]byte("a0003"), []byte{1, 1, 0xff}); err != nil {
			return err
		}
		if _, err := jb.CreateBucket([]byte("a_bucket_among_records")); err != nil {
			return err
		}
		// A count no file could hold must not make room for it.
		return tx.Bucket(bucketRegistries).Bucket([]byte("prod")).Put(keyCount, binary.AppendUvarint(nil, 1<<62))
	})
	_ = s.Close()

	s = open(t, dir, Options{})
	b := Registry{Name: "prod", Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
	res, err := s.Restore("prod", b.Tracker, b.Counters)
	if err != nil || res.Journeys != 29 || res.Corrupt != 2 {
		t.Fatalf("Restore: %+v %v, want 29 journeys and 2 corrupt", res, err)
	}
	if _, ok := b.Tracker.Lookup("a0003"); ok {
		t.Fatal("the corrupt record was loaded")
	}
	if n := s.Stats().CorruptRecords; n != 2 {
		t.Fatalf("corrupt records counted: %d, want 2", n)
	}
}

// A registry the flushes do not name (no longer configured) keeps its
// state on disk untouched.
func TestUnnamedRegistriesAreLeftAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	a, b := restored(t, s, "a"), restored(t, s, "b")
	fill(a, "a", 10)
	fill(b, "b", 10)
	if err := s.Flush([]Registry{a, b}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	dump := func(s *Store, name string) map[string]string {
		out := map[string]string{}
		_ = s.db.View(func(tx *bolt.Tx) error {
			rb := tx.Bucket(bucketRegistries).Bucket([]byte(name))
			return rb.ForEachBucket(func(k []byte) error {
				return rb.Bucket(k).ForEach(func(id, v []byte) error {
					out[string(k)+"/"+string(id)] = string(v)
					return nil
				})
			})
		})
		return out
	}
	s = open(t, dir, Options{})
	before := dump(s, "b")
	a = restored(t, s, "a")
	a.Tracker.Register(t0, tracker.Registration{ID: "more"})
	if err := s.Flush([]Registry{a}); err != nil {
		t.Fatal(err)
	}
	if names, err := s.Names(); err != nil || !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Fatalf("Names: %v %v", names, err)
	}
	if after := dump(s, "b"); !reflect.DeepEqual(before, after) || len(after) < 10 {
		t.Fatalf("registry b changed though no flush named it: %d records before, %d after", len(before), len(after))
	}
}

// A store of format version 1 opens: its journeys load, and it is marked
// version 2, so that a release that reads version 1 only refuses it
// instead of counting the newer records corrupt.
func TestVersion1StoreIsUpgraded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	a := restored(t, s, "prod")
	fill(a, "a", 50)
	if err := s.Flush([]Registry{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	format := func() uint32 {
		db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v uint32
		_ = db.View(func(tx *bolt.Tx) error { v = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(keyFormat)); return nil })
		return v
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, 1))
	})
	_ = db.Close()

	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of a version 1 store: %v", err)
	}
	b := restored(t, s2, "prod")
	if got, want := b.Tracker.Stats(), a.Tracker.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats from the upgraded store:\n got %+v\nwant %+v", got, want)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if v := format(); v != FormatVersion {
		t.Fatalf("format after opening: %d, want %d", v, FormatVersion)
	}
}
