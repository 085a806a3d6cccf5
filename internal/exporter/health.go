package exporter

import (
	"context"
	"log/slog"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// HealthObserver is told the result of each /health probe; the collector's
// Health implements it.
type HealthObserver interface {
	Probed(registry string, up bool)
	Forget(registry string)
}

// probeHealth asks the registry's /health every interval until ctx ends.
// A scrape only reads the last result, so it never calls the registry.
func probeHealth(ctx context.Context, name string, c *registry.Client, interval time.Duration, obs HealthObserver, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(interval, 10*time.Second))
		hs, err := c.Health(pctx)
		cancel()
		up := false
		switch {
		case err != nil:
			logger.Warn("registry health probe failed", "registry", name, "err", err)
		case hs.Status == "ok":
			up = true
		default:
			logger.Warn("registry reports itself unhealthy", "registry", name, "status", hs.Status)
		}
		obs.Probed(name, up)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
