package collector

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The values of the reason label of tracking failures: the proxy's
// reasons (proxy.TrackingError, proxy.TrackingTimeout).
const (
	trackingError   = "error"
	trackingTimeout = "timeout"
)

// proxyCalls are the values of the call label of changes: the proxy's
// calls (proxy.CallCancel, proxy.CallPatch).
var proxyCalls = []string{"cancel", "patch"}

// proxyCodes are the answers an operator can get for a submission through
// the proxy: the registry's own (docs/registry.md) and the proxy's 408, 413,
// 502 and 504. Anything else is counted as "other", so a misbehaving peer cannot
// mint series.
var proxyCodes = []int{201, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504}

// ProxyMetrics meters the submission proxy: it is the proxy's Observer.
// Its methods accept a nil receiver.
type ProxyMetrics struct {
	submissions *prometheus.CounterVec
	tracked     *prometheus.CounterVec
	failures    *prometheus.CounterVec
	changes     *prometheus.CounterVec
	requests    *prometheus.CounterVec
	added       *prometheus.HistogramVec
}

// NewProxyMetrics registers the proxy's metrics with reg.
func NewProxyMetrics(reg prometheus.Registerer) *ProxyMetrics {
	m := &ProxyMetrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "submissions_total",
			Help: "Journey submissions (POST /v3.x/journeys) relayed by the proxy, by the HTTP code the operator got (other: any other code, or the operator hung up first).",
		}, []string{"registry", "code"}),
		tracked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "tracked_total",
			Help: "Journeys the proxy registered from a submission the registry answered 201, 409 or 422: new, or already tracked.",
		}, []string{"registry", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "tracking_failures_total",
			Help: "Submissions, and cancels and PATCHes the registry accepted, relayed without being tracked because registering them failed (error) or took longer than the tracking timeout (timeout).",
		}, []string{"registry", "reason"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "changes_total",
			Help: "Cancels and PATCHes (call) the registry accepted through the proxy, applied to their journey at once: canceled, or pending with its checks planned again.",
		}, []string{"registry", "call"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "requests_total",
			Help: "Requests other than submissions forwarded untouched by the proxy (status, cancel, token, …).",
		}, []string{"registry"}),
		added: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "added_latency_seconds",
			Help:    "Time the proxy added to a submission: its whole handling minus the registry's round trip (reading the body, tracking, relaying).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"registry"}),
	}
	reg.MustRegister(m.submissions, m.tracked, m.failures, m.changes, m.requests, m.added)
	return m
}

// Declare creates a registry's series at zero, so they exist before its
// first submission and rates start from a known value.
func (m *ProxyMetrics) Declare(registryName string) {
	if m == nil {
		return
	}
	for _, c := range proxyCodes {
		m.submissions.WithLabelValues(registryName, strconv.Itoa(c))
	}
	m.submissions.WithLabelValues(registryName, "other")
	m.tracked.WithLabelValues(registryName, "new")
	m.tracked.WithLabelValues(registryName, "already_tracked")
	m.failures.WithLabelValues(registryName, trackingError)
	m.failures.WithLabelValues(registryName, trackingTimeout)
	for _, c := range proxyCalls {
		m.changes.WithLabelValues(registryName, c)
	}
	m.requests.WithLabelValues(registryName)
	m.added.WithLabelValues(registryName)
}

// Submission counts a submission by the code the operator got.
func (m *ProxyMetrics) Submission(registryName string, code int) {
	if m == nil {
		return
	}
	m.submissions.WithLabelValues(registryName, proxyCode(code)).Inc()
}

// Tracked counts registrations: added were new, the others already tracked.
func (m *ProxyMetrics) Tracked(registryName string, added, already int) {
	if m == nil {
		return
	}
	if added > 0 {
		m.tracked.WithLabelValues(registryName, "new").Add(float64(added))
	}
	if already > 0 {
		m.tracked.WithLabelValues(registryName, "already_tracked").Add(float64(already))
	}
}

// TrackingFailed counts a submission that could not be tracked; reason is
// "error" or "timeout" (anything else counts as an error).
func (m *ProxyMetrics) TrackingFailed(registryName, reason string) {
	if m == nil {
		return
	}
	if reason != trackingTimeout {
		reason = trackingError
	}
	m.failures.WithLabelValues(registryName, reason).Inc()
}

// Changed counts a cancel or PATCH applied to its journey; call is
// "cancel" or "patch", anything else is not counted.
func (m *ProxyMetrics) Changed(registryName, call string) {
	if m == nil || !slices.Contains(proxyCalls, call) {
		return
	}
	m.changes.WithLabelValues(registryName, call).Inc()
}

// Forwarded counts a request other than a submission.
func (m *ProxyMetrics) Forwarded(registryName string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(registryName).Inc()
}

// AddedLatency records the time the proxy added to one submission.
func (m *ProxyMetrics) AddedLatency(registryName string, d time.Duration) {
	if m == nil {
		return
	}
	m.added.WithLabelValues(registryName).Observe(max(d, 0).Seconds())
}

// Forget deletes a registry's series, once it left the configuration or
// its proxy was turned off.
func (m *ProxyMetrics) Forget(registryName string) {
	if m == nil {
		return
	}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.submissions, m.tracked, m.failures, m.changes, m.requests, m.added} {
		v.DeletePartialMatch(prometheus.Labels{"registry": registryName})
	}
}

func proxyCode(code int) string {
	for _, c := range proxyCodes {
		if c == code {
			return strconv.Itoa(c)
		}
	}
	return "other"
}
