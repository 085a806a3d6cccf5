package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
)

// DiscoverySnapshot is one registry's discovery counters at a scrape.
type DiscoverySnapshot struct {
	Registry string
	Stats    discovery.Stats
}

// Discovery is the collector of the discovery rounds, which list the
// registry in the background: a scrape reads their counters and never
// lists anything.
type Discovery struct {
	snapshots func() []DiscoverySnapshot

	rounds, requests, found, added, lastSuccess, duration *prometheus.Desc
}

// NewDiscovery returns the collector; snapshots is called once per scrape
// and gives the registries that run discovery.
func NewDiscovery(snapshots func() []DiscoverySnapshot) *Discovery {
	return &Discovery{
		snapshots:   snapshots,
		rounds:      desc("discovery_rounds_total", "Discovery rounds, by result (ok: every journey that started in the window was listed; incomplete: the round ran out of pages or met a slice it could not list to the end; error: the registry or the registration failed).", "result"),
		requests:    desc("discovery_list_requests_total", "Requests to the registry's list endpoint made by discovery, failed ones included; they spend the registry's budget shared with status checks."),
		found:       desc("discovery_journeys_found_total", "Journey ids listed by discovery, counted once per round however many statuses and pages listed them."),
		added:       desc("discovery_journeys_new_total", "Journeys discovery registered that the exporter did not follow yet."),
		lastSuccess: desc("discovery_last_success_timestamp_seconds", "When a discovery round last listed its whole window, in Unix seconds; absent before the first."),
		duration:    desc("discovery_round_duration_seconds", "How long the last discovery round took, in seconds; absent before the first."),
	}
}

// Describe sends every descriptor.
func (c *Discovery) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rounds, c.requests, c.found, c.added, c.lastSuccess, c.duration} {
		ch <- d
	}
}

// Collect sends the metrics of every registry that runs discovery; every
// result is sent, at 0 when none happened, so series never appear later.
func (c *Discovery) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.snapshots() {
		r, st := s.Registry, s.Stats
		counters(ch, c.rounds, r, discovery.ResultNames[:], st.Rounds[:])
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.ListRequests), r)
		ch <- prometheus.MustNewConstMetric(c.found, prometheus.CounterValue, float64(st.Found), r)
		ch <- prometheus.MustNewConstMetric(c.added, prometheus.CounterValue, float64(st.New), r)
		if !st.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unixSeconds(st.LastSuccess), r)
		}
		var rounds uint64
		for _, n := range st.Rounds {
			rounds += n
		}
		if rounds > 0 {
			ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, st.LastDuration.Seconds(), r)
		}
	}
}
