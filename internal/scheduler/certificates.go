package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// CertificateResults are the result label values of certificate checks:
// the certificate's type as the registry gives it (ok, expired, or other
// for a value it invents), not_found for a 404, error when no answer came.
var CertificateResults = []string{"ok", "expired", "other", "not_found", "error"}

const (
	certOK = iota
	certExpired
	certOther
	certNotFound
	certError
	numCertResults
)

// Certificates checks a fixed set of certificates every interval.
type Certificates struct {
	mu       sync.Mutex
	fetch    func(ctx context.Context, uuid string) (registry.Certificate, error)
	uuids    []string
	interval time.Duration
	logger   *slog.Logger
	current  map[string]int
	checks   *Counters
	last     time.Time
}

// CertificateStats are the figures for the metrics.
type CertificateStats struct {
	// ByResult counts certificates by their latest result and Checks
	// counts every check, both indexed like CertificateResults.
	ByResult  []int64
	Checks    []uint64
	LastCheck time.Time // zero before the first round
}

// NewCertificates checks uuids with c every interval, counting checks in
// counters (nil: its own).
func NewCertificates(c *registry.Client, uuids []string, interval time.Duration, counters *Counters, logger *slog.Logger) *Certificates {
	if counters == nil {
		counters = &Counters{}
	}
	return &Certificates{
		fetch: c.Certificate, uuids: uuids, interval: interval, logger: logger,
		current: map[string]int{}, checks: counters,
	}
}

// Run checks every certificate now and then every interval until ctx ends.
func (c *Certificates) Run(ctx context.Context) {
	if len(c.uuids) == 0 {
		return
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		for _, uuid := range c.uuids {
			if ctx.Err() != nil {
				return
			}
			cert, err := c.fetch(ctx, uuid)
			result := certError
			switch {
			case err == nil && cert.Type == "ok":
				result = certOK
			case err == nil && cert.Type == "expired":
				result = certExpired
			case err == nil:
				result = certOther
			case errors.Is(err, registry.ErrNotFound):
				result = certNotFound
			case ctx.Err() != nil:
				return
			default:
				c.logger.Warn("certificate check failed", "uuid", uuid, "err", err)
			}
			c.mu.Lock()
			c.current[uuid] = result
			c.checks.certChecks[result].Add(1)
			c.last = time.Now()
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stats returns the figures; it costs one pass over the configured
// certificates, a short fixed list.
func (c *Certificates) Stats() CertificateStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := CertificateStats{ByResult: make([]int64, numCertResults), Checks: make([]uint64, numCertResults), LastCheck: c.last}
	for i := range st.Checks {
		st.Checks[i] = c.checks.certChecks[i].Load()
	}
	for _, r := range c.current {
		st.ByResult[r]++
	}
	return st
}
