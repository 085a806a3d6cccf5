// Package collector turns what the exporter learns from the registry into
// Prometheus metrics. Every metric name starts with covoiturage_.
package collector

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const namespace = "covoiturage"

// RequestMetrics meters every HTTP attempt the registry client makes. Its
// Observe method is the client's Config.Observer.
type RequestMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	remaining   *prometheus.GaugeVec
}

// NewRequestMetrics registers the request metrics with reg. Every endpoint
// of every registry is pre-declared so the series exist from the start.
func NewRequestMetrics(reg prometheus.Registerer, registries ...string) *RequestMetrics {
	m := &RequestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "registry", Name: "requests_total",
			Help: "HTTP requests sent to the registry, by endpoint and HTTP status code (0: no answer).",
		}, []string{"registry", "endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "registry", Name: "request_duration_seconds",
			Help:    "Duration of HTTP requests to the registry, by endpoint.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"registry", "endpoint"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "registry", Name: "rate_limited_total",
			Help: "Registry answers that were 429 Too Many Requests, by endpoint.",
		}, []string{"registry", "endpoint"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "registry", Name: "rate_limit_remaining",
			Help: "Requests left in the registry's current rate-limit window (X-RateLimit-Remaining), from its latest answer that carried it.",
		}, []string{"registry", "endpoint"}),
	}
	reg.MustRegister(m.requests, m.duration, m.rateLimited, m.remaining)
	for _, r := range registries {
		m.declare(r)
	}
	return m
}

func (m *RequestMetrics) declare(registryName string) {
	for _, e := range registry.Endpoints {
		m.duration.WithLabelValues(registryName, e)
		m.rateLimited.WithLabelValues(registryName, e)
	}
}

// Observer returns the client observer for one registry, whose series it
// declares so they exist before the first request.
func (m *RequestMetrics) Observer(registryName string) func(registry.Observation) {
	m.declare(registryName)
	return func(o registry.Observation) {
		endpoint := boundedEndpoint(o.Endpoint)
		m.requests.WithLabelValues(registryName, endpoint, boundedCode(o.StatusCode)).Inc()
		m.duration.WithLabelValues(registryName, endpoint).Observe(o.Duration.Seconds())
		if o.StatusCode == 429 {
			m.rateLimited.WithLabelValues(registryName, endpoint).Inc()
		}
		if o.RateLimit.Present && o.RateLimit.Remaining >= 0 {
			m.remaining.WithLabelValues(registryName, endpoint).Set(float64(o.RateLimit.Remaining))
		}
	}
}

// Forget deletes a registry's series, once it left the configuration.
func (m *RequestMetrics) Forget(registryName string) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.requests, m.duration, m.rateLimited, m.remaining} {
		v.DeletePartialMatch(prometheus.Labels{"registry": registryName})
	}
}

// boundedCode keeps the code label to real HTTP status codes, so a broken
// peer cannot mint series.
func boundedCode(code int) string {
	if code < 100 || code > 599 {
		return "0"
	}
	return strconv.Itoa(code)
}

func boundedEndpoint(e string) string {
	if slices.Contains(registry.Endpoints, e) {
		return e
	}
	return "other"
}
