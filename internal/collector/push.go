package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// PushResults are the values of the result label of
// covoiturage_push_journeys_total.
var PushResults = []string{"new", "already_tracked", "rejected"}

// PushMetrics counts what the push endpoint receives: it is the endpoint's
// Observer. Its methods accept a nil receiver.
type PushMetrics struct {
	requests *prometheus.CounterVec
	journeys *prometheus.CounterVec
}

// NewPushMetrics registers the push endpoint's metrics with reg.
func NewPushMetrics(reg prometheus.Registerer) *PushMetrics {
	m := &PushMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "push", Name: "requests_total",
			Help: "Requests to the push endpoint, by HTTP status code answered. The registry label is empty for a registry the configuration does not name.",
		}, []string{"registry", "code"}),
		journeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "push", Name: "journeys_total",
			Help: "Journeys in the push requests that were processed (answered 200), by result: new (now followed), already_tracked, rejected (invalid, the answer says why).",
		}, []string{"registry", "result"}),
	}
	reg.MustRegister(m.requests, m.journeys)
	return m
}

// Declare creates a registry's series at 0, so that a rate over them
// exists before the first push.
func (m *PushMetrics) Declare(registryName string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(registryName, "200")
	for _, r := range PushResults {
		m.journeys.WithLabelValues(registryName, r)
	}
}

// Request counts one answer. registryName must be a configured registry
// or "": the name comes from the URL, and a series per name a client
// makes up would be a cardinality leak.
func (m *PushMetrics) Request(registryName string, code int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(registryName, boundedCode(code)).Inc()
}

// Journeys counts the items of one processed request.
func (m *PushMetrics) Journeys(registryName string, added, alreadyTracked, rejected int) {
	if m == nil {
		return
	}
	for i, n := range []int{added, alreadyTracked, rejected} {
		m.journeys.WithLabelValues(registryName, PushResults[i]).Add(float64(n))
	}
}

// Forget deletes a registry's series, once it left the configuration.
func (m *PushMetrics) Forget(registryName string) {
	if m == nil {
		return
	}
	m.requests.DeletePartialMatch(prometheus.Labels{"registry": registryName})
	m.journeys.DeletePartialMatch(prometheus.Labels{"registry": registryName})
}
