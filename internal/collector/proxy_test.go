package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
)

// Every known series exists at zero once a registry is declared; codes and
// reasons outside the known ones are folded, so a peer cannot mint series.
func TestProxyMetricsExposition(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := NewProxyMetrics(reg)
	m.Declare("prod")
	m.Submission("prod", 201)
	m.Submission("prod", 201)
	m.Submission("prod", 422)
	m.Submission("prod", 418)
	m.Submission("prod", 0)
	m.Submission("prod", 1<<30)
	m.Tracked("prod", 1, 0)
	m.Tracked("prod", 0, 1)
	m.Tracked("prod", 1, 0)
	m.TrackingFailed("prod", proxy.TrackingTimeout)
	m.TrackingFailed("prod", "made-up reason")
	m.Forwarded("prod")
	m.Changed("prod", proxy.CallCancel)
	m.Changed("prod", proxy.CallCancel)
	m.Changed("prod", proxy.CallPatch)
	m.Changed("prod", "made-up call")
	m.AddedLatency("prod", 300*time.Microsecond)
	m.AddedLatency("prod", -time.Second) // a clock step never gives a negative observation

	want := `
# HELP covoiturage_proxy_added_latency_seconds Time the proxy added to a submission: its whole handling minus the registry's round trip (reading the body, tracking, relaying).
# TYPE covoiturage_proxy_added_latency_seconds histogram
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.0001"} 1
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.00025"} 1
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.0005"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.001"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.0025"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.005"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.01"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.025"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.05"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.1"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.25"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="0.5"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="1"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="2.5"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="5"} 2
covoiturage_proxy_added_latency_seconds_bucket{registry="prod",le="+Inf"} 2
covoiturage_proxy_added_latency_seconds_sum{registry="prod"} 0.0003
covoiturage_proxy_added_latency_seconds_count{registry="prod"} 2
# HELP covoiturage_proxy_changes_total Cancels and PATCHes (call) the registry accepted through the proxy, applied to their journey at once: canceled, or pending with its checks planned again.
# TYPE covoiturage_proxy_changes_total counter
covoiturage_proxy_changes_total{call="cancel",registry="prod"} 2
covoiturage_proxy_changes_total{call="patch",registry="prod"} 1
# HELP covoiturage_proxy_requests_total Requests other than submissions forwarded untouched by the proxy (status, cancel, token, …).
# TYPE covoiturage_proxy_requests_total counter
covoiturage_proxy_requests_total{registry="prod"} 1
# HELP covoiturage_proxy_submissions_total Journey submissions (POST /v3.x/journeys) relayed by the proxy, by the HTTP code the operator got (other: any other code, or the operator hung up first).
# TYPE covoiturage_proxy_submissions_total counter
covoiturage_proxy_submissions_total{code="201",registry="prod"} 2
covoiturage_proxy_submissions_total{code="400",registry="prod"} 0
covoiturage_proxy_submissions_total{code="401",registry="prod"} 0
covoiturage_proxy_submissions_total{code="403",registry="prod"} 0
covoiturage_proxy_submissions_total{code="404",registry="prod"} 0
covoiturage_proxy_submissions_total{code="408",registry="prod"} 0
covoiturage_proxy_submissions_total{code="409",registry="prod"} 0
covoiturage_proxy_submissions_total{code="413",registry="prod"} 0
covoiturage_proxy_submissions_total{code="422",registry="prod"} 1
covoiturage_proxy_submissions_total{code="429",registry="prod"} 0
covoiturage_proxy_submissions_total{code="500",registry="prod"} 0
covoiturage_proxy_submissions_total{code="502",registry="prod"} 0
covoiturage_proxy_submissions_total{code="503",registry="prod"} 0
covoiturage_proxy_submissions_total{code="504",registry="prod"} 0
covoiturage_proxy_submissions_total{code="other",registry="prod"} 3
# HELP covoiturage_proxy_tracked_total Journeys the proxy registered from a submission the registry answered 201, 409 or 422: new, or already tracked.
# TYPE covoiturage_proxy_tracked_total counter
covoiturage_proxy_tracked_total{registry="prod",result="already_tracked"} 1
covoiturage_proxy_tracked_total{registry="prod",result="new"} 2
# HELP covoiturage_proxy_tracking_failures_total Submissions, and cancels and PATCHes the registry accepted, relayed without being tracked because registering them failed (error) or took longer than the tracking timeout (timeout).
# TYPE covoiturage_proxy_tracking_failures_total counter
covoiturage_proxy_tracking_failures_total{reason="error",registry="prod"} 1
covoiturage_proxy_tracking_failures_total{reason="timeout",registry="prod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// Forget drops one registry's series and keeps the others'.
func TestProxyMetricsForget(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := NewProxyMetrics(reg)
	m.Declare("prod")
	m.Declare("demo")
	m.Submission("prod", 201)
	m.Submission("demo", 201)
	collectors := []prometheus.Collector{m.submissions, m.tracked, m.failures, m.requests, m.added}
	before := make([]int, len(collectors))
	for i, c := range collectors {
		before[i] = testutil.CollectAndCount(c)
	}
	m.Forget("prod")
	for i, c := range collectors {
		if n := testutil.CollectAndCount(c); before[i] == 0 || n != before[i]/2 {
			t.Errorf("collector %d: %d series left of %d, want demo's half", i, n, before[i])
		}
	}
	if got := testutil.ToFloat64(m.submissions.WithLabelValues("demo", "201")); got != 1 {
		t.Errorf("demo's count became %v", got)
	}
}

// The proxy's metrics are optional: a nil *ProxyMetrics does nothing.
func TestNilProxyMetrics(t *testing.T) {
	t.Parallel()
	var m *ProxyMetrics
	m.Declare("prod")
	m.Submission("prod", 201)
	m.Tracked("prod", 1, 0)
	m.TrackingFailed("prod", proxy.TrackingError)
	m.Forwarded("prod")
	m.AddedLatency("prod", time.Millisecond)
	m.Forget("prod")
}
