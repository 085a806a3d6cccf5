package storage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const benchJourneys = 1_000_000

var benchNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// benchID is an operator_journey_id of the UUID-without-dashes shape: 32
// hex digits, random-looking, reproducible (splitmix64).
func benchID(i int) string {
	mix := func(x uint64) uint64 {
		x += 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		return x ^ x>>31
	}
	return fmt.Sprintf("%016x%016x", mix(uint64(i)), mix(^uint64(i)))
}

// benchResults: mostly ok, some pending, some flagged.
var benchResults = []tracker.Result{
	{Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"},
	{Status: "pending"},
	{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}},
	{Status: "anomaly_error", AnomalyLabels: []string{"distance_duration_anomaly"}},
	{Status: "terms_violation_error", TermsReasons: []string{"distance_too_short"}},
}

// benchRegistry is a registry of n journeys, registered and checked once
// each, whose changes are all still to be written.
func benchRegistry(tb testing.TB, s *Store, n int) Registry {
	r := Registry{Name: "prod", Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
	if _, err := s.Restore(r.Name, r.Tracker, r.Counters); err != nil {
		tb.Fatal(err)
	}
	r.Tracker.Grow(n)
	for i := range n {
		r.Tracker.Register(benchNow, tracker.Registration{ID: benchID(i), Source: tracker.SourceConfig,
			Start: benchNow.Add(-time.Duration(i%3600) * time.Second)})
	}
	at := benchNow.Add(tracker.DefaultPolicy.FirstCheckDelay)
	for i := 0; ; i++ {
		id, ok := r.Tracker.Next(at)
		if !ok {
			break
		}
		res := benchResults[i%len(benchResults)]
		res.CreatedAt = benchNow
		r.Tracker.Checked(id, at, res)
	}
	r.Counters.Restore(scheduler.CounterTotals{Outcomes: map[string]uint64{"checked": uint64(n)}})
	return r
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixture is a store of a million journeys, built once for the
// benchmarks that read it.
func fixture(b *testing.B) string {
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "covoiturage-storage-bench-")
		if fixtureErr != nil {
			return
		}
		s, err := Open(fixtureDir, Options{})
		if err != nil {
			fixtureErr = err
			return
		}
		r := benchRegistry(b, s, benchJourneys)
		if fixtureErr = s.Flush([]Registry{r}); fixtureErr == nil {
			fixtureErr = s.Close()
		}
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixtureDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		_ = os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// BenchmarkFirstFlush writes a million journeys never written before, as
// the first flush after a configuration of a million ids does, in chunks
// of DefaultChunkSize: ns/op is that flush, disk-bytes/journey the size
// of the file it leaves, free pages included.
func BenchmarkFirstFlush(b *testing.B) {
	b.Run(fmt.Sprintf("journeys=%d", benchJourneys), func(b *testing.B) {
		var size float64
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			r := benchRegistry(b, s, benchJourneys)
			runtime.GC()
			b.StartTimer()
			if err := s.Flush([]Registry{r}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			size += float64(s.Stats().SizeBytes)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(size/float64(b.N)/benchJourneys, "disk-bytes/journey")
	})
}

// BenchmarkStartup measures a start on a store of a million journeys
// (32-hex ids, checked once, mixed statuses): opening the file and
// restoring the registry's tracker and counters (ns/op). It reports what
// the restored state holds, per journey: the Go heap it adds
// (heap-bytes/journey), the resident memory the process gains
// (rss-bytes/journey, from /proc/self/statm, the store's file pages the
// restore read included, as they stay mapped) and its anonymous part
// (rss-anon-bytes/journey: resident minus shared); and the file's size
// (disk-bytes/journey).
func BenchmarkStartup(b *testing.B) {
	b.Run(fmt.Sprintf("journeys=%d", benchJourneys), func(b *testing.B) {
		dir := fixture(b)
		st, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			b.Fatal(err)
		}
		var heap, rss, anon float64
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			debug.FreeOSMemory()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rss0, shared0 := statm(b)
			b.StartTimer()
			s, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			tr, c := tracker.New(tracker.DefaultPolicy), &scheduler.Counters{}
			res, err := s.Restore("prod", tr, c)
			if err != nil || res.Journeys != benchJourneys {
				b.Fatalf("restored %+v %v", res, err)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			rss1, shared1 := statm(b)
			heap += float64(after.HeapAlloc) - float64(before.HeapAlloc)
			rss += float64(rss1 - rss0)
			anon += float64((rss1 - shared1) - (rss0 - shared0))
			runtime.KeepAlive(tr)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		per := float64(b.N) * benchJourneys
		b.ReportMetric(heap/per, "heap-bytes/journey")
		b.ReportMetric(rss/per, "rss-bytes/journey")
		b.ReportMetric(anon/per, "rss-anon-bytes/journey")
		b.ReportMetric(float64(st.Size())/benchJourneys, "disk-bytes/journey")
	})
}

// statm returns the process's resident and shared memory, in bytes.
func statm(b *testing.B) (resident, shared int64) {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm:", err)
	}
	f := strings.Fields(string(raw))
	res, err1 := strconv.ParseInt(f[1], 10, 64)
	sh, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/self/statm: %q", raw)
	}
	page := int64(os.Getpagesize())
	return res * page, sh * page
}

// BenchmarkSteadyFlush measures the flush of a running exporter that
// follows a million journeys: each op records a check of 1,000 journeys
// drawn at random, as the ids' hashes spread them over the file (a second
// of a busy budget is 33 checks), and writes the changes in one
// transaction, fsync included.
func BenchmarkSteadyFlush(b *testing.B) {
	b.Run(fmt.Sprintf("journeys=%d/changed=1000", benchJourneys), func(b *testing.B) {
		s, err := Open(fixture(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		r := Registry{Name: "prod", Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
		if _, err := s.Restore(r.Name, r.Tracker, r.Counters); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		at := benchNow.Add(time.Hour)
		b.ReportAllocs()
		for b.Loop() {
			at = at.Add(time.Second)
			for range 1000 {
				r.Tracker.Checked(benchID(rng.IntN(benchJourneys)), at, benchResults[rng.IntN(len(benchResults))])
			}
			if err := s.Flush([]Registry{r}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpenChecks measures what the checks at open cost on a store of
// a million journeys: verify's walk of every page (verify-seconds) and
// bbolt's consistency check (check-seconds); ns/op is the whole Open.
func BenchmarkOpenChecks(b *testing.B) {
	b.Run(fmt.Sprintf("journeys=%d", benchJourneys), func(b *testing.B) {
		dir := fixture(b)
		path := filepath.Join(dir, FileName)
		var verifying, checking time.Duration
		for b.Loop() {
			b.StopTimer()
			began := time.Now()
			if err := verify(path); err != nil {
				b.Fatal(err)
			}
			verifying += time.Since(began)
			db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			began = time.Now()
			if err := check(db, path); err != nil {
				b.Fatal(err)
			}
			checking += time.Since(began)
			_ = db.Close()
			b.StartTimer()
			s, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
		b.ReportMetric(verifying.Seconds()/float64(b.N), "verify-seconds")
		b.ReportMetric(checking.Seconds()/float64(b.N), "check-seconds")
	})
}
