package collector

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const token = "collector-test-token"

func newSimClient(t *testing.T, observer func(registry.Observation)) (*simulator.Simulator, *registry.Client) {
	t.Helper()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: token, OperatorID: 1}},
		Clock:  clock.NewAccelerated(now, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: "known1", Status: "ok", CreatedAt: now})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := registry.New(registry.Config{BaseURL: srv.URL, Auth: registry.Auth{Token: token},
		MaxAttempts: 1, Observer: observer})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestRequestMetricsCountEveryAttempt(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := NewRequestMetrics(reg, "prod")
	sim, c := newSimClient(t, m.Observer("prod"))
	ctx := context.Background()
	if _, err := c.JourneyStatus(ctx, "known1"); err != nil {
		t.Fatal(err)
	}
	_, _ = c.JourneyStatus(ctx, "unknown1")
	sim.SetFaults(simulator.Faults{RateLimitStorm: time.Minute})
	_, _ = c.JourneyStatus(ctx, "known1")

	want := `
# HELP covoiturage_registry_rate_limited_total Registry answers that were 429 Too Many Requests, by endpoint.
# TYPE covoiturage_registry_rate_limited_total counter
covoiturage_registry_rate_limited_total{endpoint="access_token",registry="prod"} 0
covoiturage_registry_rate_limited_total{endpoint="certificate",registry="prod"} 0
covoiturage_registry_rate_limited_total{endpoint="health",registry="prod"} 0
covoiturage_registry_rate_limited_total{endpoint="journey_list",registry="prod"} 0
covoiturage_registry_rate_limited_total{endpoint="journey_status",registry="prod"} 1
covoiturage_registry_rate_limited_total{endpoint="journey_status_v2",registry="prod"} 0
covoiturage_registry_rate_limited_total{endpoint="journey_submit",registry="prod"} 0
# HELP covoiturage_registry_requests_total HTTP requests sent to the registry, by endpoint and HTTP status code (0: no answer).
# TYPE covoiturage_registry_requests_total counter
covoiturage_registry_requests_total{code="200",endpoint="journey_status",registry="prod"} 1
covoiturage_registry_requests_total{code="404",endpoint="journey_status",registry="prod"} 1
covoiturage_registry_requests_total{code="429",endpoint="journey_status",registry="prod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"covoiturage_registry_requests_total", "covoiturage_registry_rate_limited_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.duration, "covoiturage_registry_request_duration_seconds"); n != len(registry.Endpoints) {
		t.Errorf("%d duration series, want one per endpoint (%d)", n, len(registry.Endpoints))
	}
	// The 429 said no request is left in the window.
	if got := testutil.ToFloat64(m.remaining.WithLabelValues("prod", "journey_status")); got != 0 {
		t.Errorf("rate_limit_remaining = %v, want 0", got)
	}
}

func TestBoundedLabels(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{0: "0", 42: "0", 200: "200", 599: "599", 600: "0", -1: "0"} {
		if got := boundedCode(code); got != want {
			t.Errorf("boundedCode(%d) = %s, want %s", code, got, want)
		}
	}
	if got := boundedEndpoint("made_up"); got != "other" {
		t.Errorf("boundedEndpoint(made_up) = %s", got)
	}
}
