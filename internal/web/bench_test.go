package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

const (
	benchJourneys = 1_000_000
	benchEvery    = 100 // one journey in benchEvery is fraud_error: 1 %
)

var (
	benchOnce    sync.Once
	benchTracker *tracker.Tracker
)

// benchServer serves a tracker of a million journeys, 1 % of them
// fraud_error, the rest pending or ok.
func benchServer(b *testing.B) http.Handler {
	benchOnce.Do(func() {
		tr := tracker.New(tracker.DefaultPolicy)
		tr.Grow(benchJourneys)
		at := now
		for i := range benchJourneys {
			r := tracker.Registration{ID: fmt.Sprintf("%012d", i), Source: tracker.SourcePush, Start: at.Add(-time.Hour), Status: "pending"}
			switch {
			case i%benchEvery == benchEvery/2:
				r.Status = "fraud_error"
			case i%2 == 0:
				r.Status = "ok"
			}
			tr.Register(at, r)
		}
		benchTracker = tr
	})
	mux := http.NewServeMux()
	web.New(web.Options{Registries: func() []web.Registry {
		return []web.Registry{{Name: registryName, Tracker: benchTracker}}
	}}).Register(mux, nil)
	return mux
}

// scrapes stands for Prometheus scraping while a list is served: it
// reads the tracker's aggregates, as a scrape does, over and over, and
// keeps how long each waited.
type scrapes struct {
	stop chan struct{}
	done chan []time.Duration
}

func startScrapes(tr *tracker.Tracker) *scrapes {
	s := &scrapes{stop: make(chan struct{}), done: make(chan []time.Duration)}
	go func() {
		var waits []time.Duration
		for {
			select {
			case <-s.stop:
				s.done <- waits
				return
			default:
			}
			began := time.Now()
			_ = tr.Stats()
			waits = append(waits, time.Since(began))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	return s
}

func (s *scrapes) report(b *testing.B) {
	close(s.stop)
	waits := <-s.done
	if len(waits) == 0 {
		return
	}
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "scrape-wait-p99-µs")
	b.ReportMetric(float64(waits[len(waits)-1].Microseconds()), "scrape-wait-max-µs")
}

func benchGet(b *testing.B, h http.Handler, target string) int {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", target, w.Code, w.Body.String())
	}
	return w.Body.Len()
}

// One page of 1,000 journeys of a status that holds 1 % of a million.
func BenchmarkListPage(b *testing.B) {
	benchList(b, "?status=fraud_error&limit=1000", "bytes/page")
}

// The whole CSV export of that status: 10,000 rows out of a million.
func BenchmarkListCSVExport(b *testing.B) {
	benchList(b, "?status=fraud_error&format=csv", "bytes/export")
}

// benchList serves the list with query while scrapes run, and reports
// the answer's size in unit and how long the scrapes waited.
func benchList(b *testing.B, query, unit string) {
	h := benchServer(b)
	sc := startScrapes(benchTracker)
	b.ReportAllocs()
	b.ResetTimer()
	size := 0
	for b.Loop() {
		size = benchGet(b, h, "/api/v1/journeys/"+registryName+query)
	}
	b.StopTimer()
	b.ReportMetric(float64(size), unit)
	sc.report(b)
}

// The scrape waits alone, no list served: the baseline of the figures
// above.
func BenchmarkScrapeWaitIdle(b *testing.B) {
	benchServer(b)
	sc := startScrapes(benchTracker)
	for b.Loop() {
		time.Sleep(time.Millisecond)
	}
	sc.report(b)
}
