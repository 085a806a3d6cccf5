package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

var discoveryFamilies = []string{
	"covoiturage_discovery_rounds_total",
	"covoiturage_discovery_list_requests_total",
	"covoiturage_discovery_journeys_found_total",
	"covoiturage_discovery_journeys_new_total",
	"covoiturage_discovery_last_success_timestamp_seconds",
	"covoiturage_discovery_round_duration_seconds",
}

const discoveryHelp = `
# HELP covoiturage_discovery_journeys_found_total Journey ids listed by discovery, counted once per round however many statuses and pages listed them. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_journeys_found_total counter
# HELP covoiturage_discovery_journeys_new_total Journeys discovery registered that the exporter did not follow yet. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_journeys_new_total counter
# HELP covoiturage_discovery_last_success_timestamp_seconds When a discovery round last listed its whole window, in Unix seconds; absent before the first. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_last_success_timestamp_seconds gauge
# HELP covoiturage_discovery_list_requests_total Requests to the registry's list endpoint made by discovery, failed ones included; they spend the registry's budget shared with status checks. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_list_requests_total counter
# HELP covoiturage_discovery_round_duration_seconds How long the last discovery round took, in seconds; absent before the first. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_round_duration_seconds gauge
# HELP covoiturage_discovery_rounds_total Discovery rounds, by result (ok: every journey that started in the window was listed; incomplete: the round ran out of pages or met a slice it could not list to the end; error: the registry or the registration failed). Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_rounds_total counter
`

// The whole exposition of two registries, one before its first round:
// every result is there at 0, the timestamp and the duration are not.
func TestDiscoveryExposition(t *testing.T) {
	t.Parallel()
	snaps := []DiscoverySnapshot{
		{Registry: "production", Stats: discovery.Stats{
			Rounds:       [3]uint64{12, 1, 2},
			ListRequests: 1017, Found: 61_204, New: 5_120,
			LastSuccess:  time.Date(2026, 3, 2, 12, 0, 0, 500_000_000, time.UTC),
			LastDuration: 2500 * time.Millisecond,
		}},
		{Registry: "demo"},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewDiscovery(func() []DiscoverySnapshot { return snaps }))
	want := discoveryHelp + `
covoiturage_discovery_journeys_found_total{registry="demo"} 0
covoiturage_discovery_journeys_found_total{registry="production"} 61204
covoiturage_discovery_journeys_new_total{registry="demo"} 0
covoiturage_discovery_journeys_new_total{registry="production"} 5120
covoiturage_discovery_last_success_timestamp_seconds{registry="production"} 1.7724528005e+09
covoiturage_discovery_list_requests_total{registry="demo"} 0
covoiturage_discovery_list_requests_total{registry="production"} 1017
covoiturage_discovery_round_duration_seconds{registry="production"} 2.5
covoiturage_discovery_rounds_total{registry="demo",result="error"} 0
covoiturage_discovery_rounds_total{registry="demo",result="incomplete"} 0
covoiturage_discovery_rounds_total{registry="demo",result="ok"} 0
covoiturage_discovery_rounds_total{registry="production",result="error"} 2
covoiturage_discovery_rounds_total{registry="production",result="incomplete"} 1
covoiturage_discovery_rounds_total{registry="production",result="ok"} 12
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), discoveryFamilies...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg, discoveryFamilies...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Every HELP text says the values are cached.
func TestDiscoveryHelpSaysCached(t *testing.T) {
	t.Parallel()
	ch := make(chan *prometheus.Desc)
	go func() {
		NewDiscovery(nil).Describe(ch)
		close(ch)
	}()
	n := 0
	for d := range ch {
		n++
		if !strings.Contains(d.String(), "Cached:") {
			t.Errorf("%s: HELP does not say the value is cached", d)
		}
	}
	if n != len(discoveryFamilies) {
		t.Errorf("%d descriptors, %d families listed", n, len(discoveryFamilies))
	}
}

// A real round against the simulator shows in the metrics.
func TestDiscoveryMetricsFromSimulator(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	clk := clock.NewAccelerated(now, 0)
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: id, Status: "pending", StartAt: registry.ListEndLimit(now).Add(-2 * time.Hour)})
	}
	sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: "c1", Status: "pending", StartAt: registry.ListEndLimit(now).Add(-3 * time.Hour)})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	// Canceled before the batches ran: listed as pending and as canceled.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3.3/journeys/c1/cancel", strings.NewReader(`{"code":"driver_no_show"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %s", resp.Status)
	}
	c, err := registry.New(registry.Config{BaseURL: srv.URL, Auth: registry.Auth{Token: token}, MaxAttempts: 1, Rate: 1000, Burst: 100})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracker.New(tracker.DefaultPolicy)
	tr.Register(now, tracker.Registration{ID: "a1", Source: tracker.SourceConfig})
	d := discovery.New(discovery.Config{
		Name: "prod", Lister: c, Clock: clk, Poll: time.Millisecond,
		Register: func(_ context.Context, regs []tracker.Registration) (int, error) {
			n := 0
			for _, r := range regs {
				if tr.Register(clk.Now(), r) {
					n++
				}
			}
			return n, nil
		},
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewDiscovery(func() []DiscoverySnapshot { return []DiscoverySnapshot{{Registry: "prod", Stats: d.Stats()}} }))
	if n, err := testutil.GatherAndCount(reg, "covoiturage_discovery_last_success_timestamp_seconds", "covoiturage_discovery_round_duration_seconds"); err != nil || n != 0 {
		t.Errorf("%d timestamp and duration series before the first round (%v), want none", n, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	testkit.WaitUntil(t, 20*time.Second, time.Millisecond, "a discovery round to end", func() bool {
		return d.Stats().Rounds[discovery.ResultOK] > 0
	})
	cancel()
	<-done

	// 50 h in 6 h slices, 6 statuses: 54 pages, and a probe behind each
	// short page larger than any before it (c1 as pending, then a1-a3).
	// a1 was already followed; c1 is listed as pending and canceled but
	// counted once.
	want := `
# HELP covoiturage_discovery_journeys_found_total Journey ids listed by discovery, counted once per round however many statuses and pages listed them. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_journeys_found_total counter
covoiturage_discovery_journeys_found_total{registry="prod"} 4
# HELP covoiturage_discovery_journeys_new_total Journeys discovery registered that the exporter did not follow yet. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_journeys_new_total counter
covoiturage_discovery_journeys_new_total{registry="prod"} 3
# HELP covoiturage_discovery_list_requests_total Requests to the registry's list endpoint made by discovery, failed ones included; they spend the registry's budget shared with status checks. Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_list_requests_total counter
covoiturage_discovery_list_requests_total{registry="prod"} 56
# HELP covoiturage_discovery_rounds_total Discovery rounds, by result (ok: every journey that started in the window was listed; incomplete: the round ran out of pages or met a slice it could not list to the end; error: the registry or the registration failed). Cached: refreshed in the background, a scrape never calls the registry.
# TYPE covoiturage_discovery_rounds_total counter
covoiturage_discovery_rounds_total{registry="prod",result="error"} 0
covoiturage_discovery_rounds_total{registry="prod",result="incomplete"} 0
covoiturage_discovery_rounds_total{registry="prod",result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), discoveryFamilies[:4]...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "covoiturage_discovery_last_success_timestamp_seconds", "covoiturage_discovery_round_duration_seconds"); err != nil || n != 2 {
		t.Errorf("%d timestamp and duration series after a round (%v), want 2", n, err)
	}
	if got := tr.Stats().Registered[tracker.SourceDiscovery]; got != 3 {
		t.Errorf("tracker counts %d discovery registrations, want 3", got)
	}
}
