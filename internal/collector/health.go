package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Health holds the registries' health gauges. The exporter probes each
// registry's /health in the background and reports here; a scrape only
// reads the last result, so it never calls the registry.
type Health struct {
	up        *prometheus.GaugeVec
	lastProbe *prometheus.GaugeVec
}

// NewHealth registers the health gauges with reg.
func NewHealth(reg prometheus.Registerer) *Health {
	h := &Health{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "registry", Name: "up",
			Help: "Whether the registry's /health answered ok at the last background probe (1) or not (0: down, in maintenance or unreachable).",
		}, []string{"registry"}),
		lastProbe: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "registry", Name: "health_probe_timestamp_seconds",
			Help: "When the registry's /health was last probed, in Unix seconds.",
		}, []string{"registry"}),
	}
	reg.MustRegister(h.up, h.lastProbe)
	return h
}

// Probed records the result of one probe of the named registry.
func (h *Health) Probed(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	h.up.WithLabelValues(name).Set(v)
	h.lastProbe.WithLabelValues(name).SetToCurrentTime()
}

// Forget deletes a registry's series, once it left the configuration.
func (h *Health) Forget(name string) {
	h.up.DeleteLabelValues(name)
	h.lastProbe.DeleteLabelValues(name)
}
