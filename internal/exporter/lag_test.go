package exporter_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// submissionBody is a v3.3 submission the simulator accepts unless its
// start is more than 24 h old.
func submissionBody(id string, start time.Time) string {
	party := func(key string) map[string]any {
		return map[string]any{"identity_key": key, "operator_user_id": key[:16], "phone_trunc": "+3361234567"}
	}
	b, _ := json.Marshal(map[string]any{
		"operator_journey_id": id, "operator_trip_id": "trip" + id, "operator_class": "C", "incentives": []any{},
		"start":     map[string]any{"datetime": start.UTC().Format(time.RFC3339), "lat": 48.85, "lon": 2.35},
		"end":       map[string]any{"datetime": start.Add(20 * time.Minute).UTC().Format(time.RFC3339), "lat": 48.88, "lon": 2.38},
		"distance":  12000,
		"driver":    map[string]any{"identity": party(strings.Repeat("d", 60) + id[len(id)-4:]), "revenue": 250},
		"passenger": map[string]any{"identity": party(strings.Repeat("p", 60) + id[len(id)-4:]), "contribution": 300, "seats": 1},
	})
	return string(b)
}

// The submission lag of journeys relayed by the proxy and pushed, through
// the exporter, the real proxy and push endpoint, and the simulator over
// HTTP: a known lag lands in its bucket (past 24 h as the registry refuses
// it expired), a journey without a start and one whose start is after its
// submission are counted apart, and a journey pushed again is not counted
// twice.
func TestSubmissionLagFromProxyAndPush(t *testing.T) {
	t.Parallel()
	now := start.Add(72 * time.Hour)
	clk := clock.NewAccelerated(now, 0)
	sim := newSim(t, clk)
	registrySrv := httptest.NewServer(sim.Handler())
	defer registrySrv.Close()
	reg := prometheus.NewPedanticRegistry()
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond})
	defer ex.Close()
	reg.MustRegister(collector.NewJourneys(ex.Snapshots))
	rc := registryConfig("prod", registrySrv.URL)
	rc.Proxy.Enabled = true
	rc.ApplyDefaults()
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	prod := ex.Registry("prod")
	mux.Handle("/proxy/prod/", http.StripPrefix("/proxy/prod", prod.Proxy()))
	lookup := func(name string) (push.Registry, bool) {
		if h := ex.Registry(name); h != nil {
			return h, true
		}
		return nil, false
	}
	mux.Handle("POST /api/v1/journeys/{registry}", push.NewHandler(lookup, push.Options{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(path, contentType, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s = %d, want %d", path, body, resp.StatusCode, want)
		}
	}
	for _, s := range []struct {
		id   string
		lag  time.Duration
		code int
	}{
		{"prox0030", 30 * time.Minute, http.StatusCreated},
		{"prox1830", 18*time.Hour + 30*time.Minute, http.StatusCreated},
		{"prox2500", 25 * time.Hour, http.StatusUnprocessableEntity}, // expired
		{"prox0skw", -10 * time.Minute, http.StatusCreated},          // the operator's clock runs ahead
	} {
		post("/proxy/prod/v3.3/journeys", "application/json", submissionBody(s.id, now.Add(-s.lag)), s.code)
	}
	rfc := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	pushed := fmt.Sprintf(`{"operator_journey_id":"push0100","start":%q}
{"operator_journey_id":"push2000","start":{"datetime":%q,"lat":48.8,"lon":2.3}}
{"operator_journey_id":"push0nostart"}
{"operator_journey_id":"push0skw","start":%q}
{"operator_journey_id":"push0bad","start":"yesterday"}
`, rfc(time.Hour), rfc(20*time.Hour), rfc(-time.Hour))
	post("/api/v1/journeys/prod", "application/x-ndjson", pushed, http.StatusOK)
	// Pushed again an hour later: already tracked, not a new lag.
	clk.Advance(time.Hour)
	post("/api/v1/journeys/prod", "application/x-ndjson", pushed, http.StatusOK)

	var stats tracker.Stats
	for _, s := range ex.Snapshots() {
		stats = s.Journeys
	}
	for _, c := range []struct {
		src               tracker.Source
		count             uint64
		sum               float64
		unknown, negative uint64
		buckets           map[float64]uint64
	}{
		{tracker.SourceProxy, 3, (30*time.Minute + 18*time.Hour + 30*time.Minute + 25*time.Hour).Seconds(), 0, 1,
			map[float64]uint64{1800: 1, 18 * 3600: 1, 19 * 3600: 2, 24 * 3600: 2, 26 * 3600: 3}},
		{tracker.SourcePush, 2, (21 * time.Hour).Seconds(), 1, 1,
			map[float64]uint64{3600: 1, 19 * 3600: 1, 20 * 3600: 2}},
	} {
		h := stats.Lag[c.src]
		if h.Count != c.count || h.Sum != c.sum || stats.LagUnknown[c.src] != c.unknown || stats.LagNegative[c.src] != c.negative {
			t.Errorf("%s: %d lags summing %vs, %d unknown, %d negative; want %d, %vs, %d, %d",
				c.src, h.Count, h.Sum, stats.LagUnknown[c.src], stats.LagNegative[c.src], c.count, c.sum, c.unknown, c.negative)
		}
		got := h.CumulativeOver(tracker.LagBuckets)
		for bound, n := range c.buckets {
			if got[bound] != n {
				t.Errorf("%s: %d lags up to %vs, want %d", c.src, got[bound], bound, n)
			}
		}
	}
	// And on the exposition, as Prometheus reads it.
	want := `
# HELP covoiturage_submission_lag_negative_total Journeys newly registered from their submission whose start is after the moment of their submission: a clock skew between the operator and the exporter, not in covoiturage_submission_lag_seconds. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_submission_lag_negative_total counter
covoiturage_submission_lag_negative_total{registry="prod",source="demo"} 0
covoiturage_submission_lag_negative_total{registry="prod",source="proxy"} 1
covoiturage_submission_lag_negative_total{registry="prod",source="push"} 1
# HELP covoiturage_submission_lag_unknown_total Journeys newly registered from their submission (proxy, push, demo) without a start time: their lag is not known, and not in covoiturage_submission_lag_seconds. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_submission_lag_unknown_total counter
covoiturage_submission_lag_unknown_total{registry="prod",source="demo"} 0
covoiturage_submission_lag_unknown_total{registry="prod",source="proxy"} 0
covoiturage_submission_lag_unknown_total{registry="prod",source="push"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"covoiturage_submission_lag_negative_total", "covoiturage_submission_lag_unknown_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(collector.NewJourneys(ex.Snapshots), "covoiturage_submission_lag_seconds"); n != len(tracker.LagSources) {
		t.Errorf("%d lag histograms, want one per submission source", n)
	}
}
