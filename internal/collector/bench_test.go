package collector_test

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// BenchmarkScrape measures one scrape of the journey metrics (Gather on a
// registry holding only the journeys collector) with one registry's
// tracker holding 100,000 and then 1,000,000 journeys in a mix of statuses,
// labels and sources. The collector reads the tracker's fixed-size
// aggregates, so the cost per scrape, and the series it exposes, must not
// grow with the number of journeys.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("journeys=%d", n), func(b *testing.B) {
			tr := benchScrapeTracker(b, n)
			if got := tr.Len(); got != n {
				b.Fatalf("tracker holds %d journeys, want %d", got, n)
			}
			j := collector.NewJourneys(func() []collector.Snapshot {
				return []collector.Snapshot{{
					Registry: "bench",
					Journeys: tr.Stats(),
					Scheduler: scheduler.Stats{
						State: scheduler.StateNames[scheduler.StatePolling], SamplingRatio: 1,
					},
					Certificates: scheduler.CertificateStats{
						ByResult: make([]int64, len(scheduler.CertificateResults)),
						Checks:   make([]uint64, len(scheduler.CertificateResults)),
					},
				}}
			})
			reg := prometheus.NewRegistry()
			reg.MustRegister(j)
			// The series a scrape exposes: a histogram is its buckets
			// (+Inf included), _sum and _count.
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			series := 0
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					h := m.GetHistogram()
					if h == nil {
						series++
						continue
					}
					buckets := h.GetBucket()
					series += len(buckets) + 2
					if len(buckets) == 0 || !math.IsInf(buckets[len(buckets)-1].GetUpperBound(), 1) {
						series++
					}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(series), "series/scrape")
		})
	}
}

// benchScrapeTrackers are built once per size and process: a million
// journeys take a couple of seconds, and -count repeats the benchmark.
// The scrape only reads them.
var benchScrapeTrackers struct {
	sync.Mutex
	m map[int]*tracker.Tracker
}

func benchScrapeTracker(b *testing.B, n int) *tracker.Tracker {
	b.Helper()
	benchScrapeTrackers.Lock()
	defer benchScrapeTrackers.Unlock()
	if tr := benchScrapeTrackers.m[n]; tr != nil {
		return tr
	}
	tr := buildBenchScrapeTracker(b, n)
	if benchScrapeTrackers.m == nil {
		benchScrapeTrackers.m = map[int]*tracker.Tracker{}
	}
	benchScrapeTrackers.m[n] = tr
	return tr
}

// buildBenchScrapeTracker registers n journeys and checks 95% of them once,
// as the scheduler would, with results spread over every kind of status
// and label, unknown values included.
func buildBenchScrapeTracker(b *testing.B, n int) *tracker.Tracker {
	b.Helper()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tr := tracker.New(tracker.DefaultPolicy)
	for i := range n {
		r := tracker.Registration{ID: fmt.Sprintf("gen1%07d", i), Source: tracker.SourceConfig, Start: now.Add(-time.Duration(i%3600) * time.Second)}
		if i%7 == 0 {
			r.Source = tracker.SourceDemo
		}
		tr.Register(now, r)
	}
	at := now.Add(tracker.DefaultPolicy.FirstCheckDelay)
	for {
		id, ok := tr.Next(at)
		if !ok {
			break
		}
		i, err := strconv.Atoi(id[len("gen1"):])
		if err != nil {
			b.Fatal(err)
		}
		switch i % 20 {
		case 0:
			tr.Retry(id, at.Add(time.Hour)) // still unchecked
		case 14:
			tr.Checked(id, at, tracker.Result{Status: "pending", CreatedAt: now})
		case 15:
			tr.Checked(id, at, tracker.Result{Status: "fraud_error", CreatedAt: now,
				FraudLabels: []string{"interoperator_overlap", "interoperator_too_close_trips"}})
		case 16:
			tr.Checked(id, at, tracker.Result{Status: "anomaly_error", CreatedAt: now,
				AnomalyLabels: []string{"distance_duration_anomaly"}})
		case 17:
			tr.Checked(id, at, tracker.Result{Status: "terms_violation_error", CreatedAt: now,
				TermsReasons: []string{"distance_too_short", "too_many_trips_by_day"}})
		case 18:
			tr.NotFound(id, at)
		case 19:
			tr.Checked(id, at, tracker.Result{Status: "a_status_from_the_future", CreatedAt: now,
				AnomalyLabels: []string{"a_label_from_the_future"}})
		default:
			tr.Checked(id, at, tracker.Result{Status: "ok", CreatedAt: now})
		}
	}
	return tr
}
