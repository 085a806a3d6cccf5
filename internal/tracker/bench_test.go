package tracker_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

var benchNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// benchIDs are the two shapes of operator_journey_id an operator uses:
// a prefix and a sequence number (11 characters), or a UUID without its
// dashes (32 hex digits).
var benchIDs = []struct {
	name string
	id   func(i int) string
}{
	{"gen1_7digits", func(i int) string { return fmt.Sprintf("gen1%07d", i) }},
	{"hex32", func(i int) string { return fmt.Sprintf("%016x%016x", benchMix(uint64(i)), benchMix(^uint64(i))) }},
}

// benchMix is splitmix64's finaliser: random-looking, reproducible ids.
func benchMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// benchResults are the check results the journeys get, in turn: mostly
// ok, some pending, some flagged.
var benchResults = []tracker.Result{
	{Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"}, {Status: "ok"},
	{Status: "pending"},
	{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}},
	{Status: "anomaly_error", AnomalyLabels: []string{"distance_duration_anomaly"}},
	{Status: "terms_violation_error", TermsReasons: []string{"distance_too_short"}},
}

// benchFill registers n journeys, as a configuration load does (room made
// first with Grow), and checks each once, as the scheduler does ten
// minutes later.
func benchFill(tb testing.TB, n int, id func(int) string) *tracker.Tracker {
	tr := tracker.New(tracker.DefaultPolicy)
	tr.Grow(n)
	for i := range n {
		tr.Register(benchNow, tracker.Registration{ID: id(i), Source: tracker.SourceConfig,
			Start: benchNow.Add(-time.Duration(i%3600) * time.Second)})
	}
	at := benchNow.Add(tracker.DefaultPolicy.FirstCheckDelay)
	for i := 0; ; i++ {
		id, ok := tr.Next(at)
		if !ok {
			break
		}
		r := benchResults[i%len(benchResults)]
		r.CreatedAt = benchNow
		tr.Checked(id, at, r)
	}
	if tr.Len() != n {
		tb.Fatalf("tracker holds %d journeys, want %d", tr.Len(), n)
	}
	return tr
}

// BenchmarkMemoryPerJourney measures the memory a tracked journey costs,
// id string included: the live heap a tracker of N journeys, each checked
// once, adds (bytes/journey), and what the process holds from the OS for
// it right after the load, garbage of the slices' and map's growth not yet
// returned included (sys-bytes/journey, the difference of Sys minus
// HeapReleased, starting from a heap returned to the OS). ns/op is the
// time to register and check N journeys.
func BenchmarkMemoryPerJourney(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, ids := range benchIDs {
			b.Run(fmt.Sprintf("journeys=%d/id=%s", n, ids.name), func(b *testing.B) {
				var heap, sys float64
				var before, after runtime.MemStats
				for b.Loop() {
					b.StopTimer()
					debug.FreeOSMemory()
					runtime.ReadMemStats(&before)
					b.StartTimer()
					tr := benchFill(b, n, ids.id)
					b.StopTimer()
					runtime.GC()
					runtime.ReadMemStats(&after)
					runtime.KeepAlive(tr)
					heap += float64(after.HeapAlloc) - float64(before.HeapAlloc)
					sys += float64(after.Sys-after.HeapReleased) - float64(before.Sys-before.HeapReleased)
					b.StartTimer()
				}
				b.ReportMetric(heap/float64(b.N)/float64(n), "bytes/journey")
				b.ReportMetric(sys/float64(b.N)/float64(n), "sys-bytes/journey")
			})
		}
	}
}

// benchSteady is a policy under which a pending journey is checked every
// PendingInterval for ever: the batches and the settle check are a
// century away, so a tracker keeps its size however long the benchmark.
var benchSteady = func() tracker.Policy {
	p := tracker.DefaultPolicy
	p.BatchWindowStart, p.BatchWindowEnd = 100*365*24*time.Hour, 100*365*24*time.Hour
	p.SettleAfter, p.Retention = 100*365*24*time.Hour, 100*365*24*time.Hour
	return p
}()

const benchTracked = 1_000_000

// BenchmarkRegister measures registering a new journey in a tracker that
// follows a million, all checked once and due in a day, so a new journey
// (due in FirstCheckDelay) climbs the due queue as it does in production.
// Every 100,000 registrations the new journeys are dropped again, outside
// the timer, so the tracker stays between 1.0 and 1.1 million.
func BenchmarkRegister(b *testing.B) {
	b.Run(fmt.Sprintf("tracked=%d", benchTracked), func(b *testing.B) {
		tr := benchFill(b, benchTracked, benchIDs[0].id)
		tr.SetPolicy(benchSteady)
		const batch = 100_000
		extra := make([]string, batch)
		for i := range extra {
			extra[i] = fmt.Sprintf("new1%07d", i)
		}
		// Dropping: with no retention, a journey handed out and put back
		// is due for removal at once.
		drop := benchSteady
		drop.Retention = 0
		sweep := benchNow.Add(tracker.DefaultPolicy.FirstCheckDelay)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				tr.SetPolicy(drop)
				for {
					id, ok := tr.Next(sweep)
					if !ok {
						break
					}
					tr.Skip(id, sweep)
				}
				tr.SetPolicy(benchSteady)
				if tr.Len() != benchTracked {
					b.Fatalf("tracker holds %d journeys after the sweep, want %d", tr.Len(), benchTracked)
				}
				i = 0
				b.StartTimer()
			}
			if !tr.Register(benchNow, tracker.Registration{ID: extra[i], Source: tracker.SourceConfig}) {
				b.Fatalf("%s: already tracked", extra[i])
			}
			i++
		}
	})
}

// BenchmarkNextChecked measures one check's bookkeeping in a tracker of a
// million pending journeys: Next hands out the earliest due, Checked
// records its result and queues it again a day later.
func BenchmarkNextChecked(b *testing.B) {
	b.Run(fmt.Sprintf("tracked=%d", benchTracked), func(b *testing.B) {
		tr := tracker.New(benchSteady)
		for i := range benchTracked {
			tr.Register(benchNow, tracker.Registration{ID: benchIDs[0].id(i), Source: tracker.SourceConfig,
				Start: benchNow.Add(-time.Duration(i%3600) * time.Second)})
		}
		now, _ := tr.NextDue()
		pending := tracker.Result{Status: "pending", CreatedAt: benchNow}
		b.ReportAllocs()
		for b.Loop() {
			id, ok := tr.Next(now)
			if !ok {
				if now, ok = tr.NextDue(); !ok {
					b.Fatal("nothing queued")
				}
				if id, ok = tr.Next(now); !ok {
					b.Fatal("nothing due at the next due time")
				}
			}
			tr.Checked(id, now, pending)
		}
		if tr.Len() != benchTracked {
			b.Fatalf("tracker holds %d journeys, want %d", tr.Len(), benchTracked)
		}
	})
}
