package exporter

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// HealthObserver is told the result of each /health probe; the collector's
// Health implements it.
type HealthObserver interface {
	Probed(registry string, up bool)
	Forget(registry string)
}

// ProbeHealth asks the registry's /health every interval until ctx ends.
// A scrape only reads the last result, so it never calls the registry.
// /health has its own budget in the client: a 429 storm on the other
// routes does not hold the probe back.
func ProbeHealth(ctx context.Context, name string, c *registry.Client, interval time.Duration, obs HealthObserver, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(interval, 10*time.Second))
		hs, err := c.Health(pctx)
		cancel()
		if up, known := healthUp(name, hs, err, logger); known {
			obs.Probed(name, up)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthUp reads a probe's result; known is false when no answer came and
// nothing new is known (the client's own pacing of /health held the probe
// back), so the last answer stands.
func healthUp(name string, hs registry.Health, err error, logger *slog.Logger) (up, known bool) {
	var e *registry.Error
	switch {
	case err == nil && hs.Status == "ok":
		return true, true
	case err == nil:
		logger.Warn("registry reports itself unhealthy", "registry", name, "status", hs.Status)
		return false, true
	case errors.As(err, &e) && e.Kind == registry.KindRateLimited && e.HTTPStatus == http.StatusTooManyRequests:
		// A 429 from /health is an answer: the registry is up, and
		// /health's own counter (100 per 5 minutes) is spent.
		logger.Debug("registry health probe rate limited", "registry", name, "err", err)
		return true, true
	case registry.KindOf(err) == registry.KindRateLimited && (e == nil || e.HTTPStatus == 0):
		logger.Debug("registry health probe held back by the client's pacing", "registry", name)
		return false, false
	}
	logger.Warn("registry health probe failed", "registry", name, "err", err)
	return false, true
}
