package collector

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Health probes each registry's /health in the background; a scrape only
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

// Probe asks the registry's /health every interval until ctx ends.
func (h *Health) Probe(ctx context.Context, name string, c *registry.Client, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(interval, 10*time.Second))
		hs, err := c.Health(pctx)
		cancel()
		up := 0.0
		switch {
		case err != nil:
			logger.Warn("registry health probe failed", "registry", name, "err", err)
		case hs.Status == "ok":
			up = 1
		default:
			logger.Warn("registry reports itself unhealthy", "registry", name, "status", hs.Status)
		}
		h.up.WithLabelValues(name).Set(up)
		h.lastProbe.WithLabelValues(name).SetToCurrentTime()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Forget deletes a registry's series, once it left the configuration.
func (h *Health) Forget(name string) {
	h.up.DeleteLabelValues(name)
	h.lastProbe.DeleteLabelValues(name)
}
