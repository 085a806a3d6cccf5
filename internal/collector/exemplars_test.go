package collector_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// The seen counters carry the latest journey that increased them as an
// OpenMetrics exemplar, with the same timestamp from scrape to scrape
// until another journey takes its place.
func TestSeenCountersCarryTheLatestJourney(t *testing.T) {
	t.Parallel()
	tr := tracker.New(tracker.DefaultPolicy)
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for _, id := range []string{"first", "second"} {
		tr.Register(t0, tracker.Registration{ID: id})
		tr.Checked(id, t0.Add(time.Hour), tracker.Result{Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewJourneys(func() []collector.Snapshot {
		return []collector.Snapshot{{Registry: "prod", Journeys: tr.Stats(), Latest: tr.Latest()}}
	}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	scrape := func() string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	status := regexp.MustCompile(`covoiturage_journeys_seen_total\{registry="prod",status="fraud_error"\} 2\.0 # \{journey_id="second"\} 1\.0 (\S+)`)
	label := regexp.MustCompile(`covoiturage_journeys_fraud_labels_seen_total\{label="interoperator_overlap",registry="prod"\} 2\.0 # \{journey_id="second"\} 1\.0`)
	first := scrape()
	m := status.FindStringSubmatch(first)
	if m == nil || !label.MatchString(first) {
		t.Fatalf("no exemplar naming the latest journey:\n%s", first)
	}
	if regexp.MustCompile(`status="anomaly_error"\} 0\.0 #`).MatchString(first) {
		t.Error("a counter never increased has an exemplar")
	}
	if again := status.FindStringSubmatch(scrape()); again == nil || again[1] != m[1] {
		t.Errorf("the exemplar's timestamp moved between scrapes: %v then %v", m, again)
	}
	// In the classic text format, nothing changes.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); regexp.MustCompile(`journey_id`).Match(b) {
		t.Error("the text format carries exemplars")
	}
}
