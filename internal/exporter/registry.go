package exporter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Registry is the handle on one running registry, as one applied
// configuration made it: its tracker, proxy, id rule and runners. A
// request looks its registry up once (Exporter.Registry) and works on the
// handle, without a lock. A handle stays usable after a reload; once its
// registry has left the configuration, Register refuses.
type Registry struct {
	e      *Exporter
	name   string
	v2     bool
	kept   *kept
	client *registry.Client
	health time.Duration // the /health probe's interval
	proxy  *proxy.Proxy  // nil unless the configuration enables it
	sched  *scheduler.Scheduler
	certs  *scheduler.Certificates
	disc   *discovery.Discoverer // nil unless the configuration enables it
	info   Info

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// newRegistry builds a registry's handle and its runners, not started.
func (e *Exporter) newRegistry(s settings, c *registry.Client, k *kept) (*Registry, error) {
	rc := s.rc
	// The scheduler's, the proxy's and discovery's lines name their
	// registry themselves; the certificate checks' do not.
	logger := e.opts.Logger
	r := &Registry{e: e, name: rc.Name, v2: rc.IsV2(), kept: k, client: c, health: time.Duration(rc.HealthInterval)}
	r.info = Info{
		APIVersion: rc.APIVersion, RequestsPerSecond: rc.Budget.RequestsPerSecond, Concurrency: rc.Budget.Concurrency,
		ConfiguredIDs: len(rc.Journeys.Resolved), Discovery: rc.Discovery.Enabled, Proxy: rc.Proxy.Enabled,
	}
	if rc.Proxy.Enabled {
		var observer proxy.Observer // not a nil *ProxyMetrics in an interface
		if e.opts.Proxy != nil {
			observer = e.opts.Proxy
		}
		p, err := proxy.New(proxy.Config{
			Registry: rc.Name, Target: s.target, Registrar: r, Observer: observer,
			Logger:       logger.With("component", "proxy"),
			TrackTimeout: time.Duration(rc.Proxy.TrackTimeout),
			// One attempt's bound for the exporter's own calls is the
			// registry's answer time the proxy waits for, too.
			ResponseTimeout: time.Duration(rc.RequestTimeout),
			Now:             e.opts.Clock.Now,
		})
		if err != nil {
			return nil, err
		}
		e.opts.Proxy.Declare(rc.Name) // its series exist before the first submission
		r.proxy = p
	}
	checker, lister := scheduler.V3(c), discovery.Lister(c)
	if r.v2 {
		checker, lister = scheduler.V2(c), nil
	}
	r.sched = scheduler.New(scheduler.Config{
		Name: rc.Name, Checker: checker, Lister: lister, Tracker: k.tracker, Clock: e.opts.Clock,
		Rate: rc.Budget.RequestsPerSecond, Concurrency: rc.Budget.Concurrency,
		MaxDelay: time.Duration(rc.Schedule.MaxDelay), ErrorBackoff: time.Duration(rc.Schedule.ErrorBackoff),
		AuthRetryInterval: time.Duration(rc.Schedule.AuthRetryInterval),
		BlockedFor:        c.BlockedFor, Logger: logger, Counters: k.counters,
		Tick: e.opts.Tick, Poll: e.opts.Poll,
	})
	r.certs = scheduler.NewCertificates(c, rc.Certificates.UUIDs, time.Duration(rc.Certificates.Interval), k.counters, logger.With("registry", rc.Name))
	if rc.Discovery.Enabled {
		dc := s.discovery
		dc.Lister, dc.Clock, dc.Counters = c, e.opts.Clock, k.found
		t := k.tracker
		dc.Register = func(ctx context.Context, regs []tracker.Registration) (int, error) { return e.register(ctx, t, regs) }
		dc.Logger = logger.With("component", "discovery")
		r.disc = discovery.New(dc)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// attemptSink hands the client's HTTP attempts to the scheduler, which is
// made after the client.
type attemptSink struct {
	sched atomic.Pointer[scheduler.Scheduler]
}

func (a *attemptSink) observe(o registry.Observation) {
	if s := a.sched.Load(); s != nil {
		s.Attempt(o)
	}
}

// start runs the registry's scheduler, certificate checks, discovery and
// health probe until stop.
func (r *Registry) start() {
	ctx := r.ctx
	if r.disc != nil {
		r.done.Go(func() { r.disc.Run(ctx) })
	}
	r.done.Go(func() { r.sched.Run(ctx) })
	r.done.Go(func() { r.certs.Run(ctx) })
	if h := r.e.opts.Health; h != nil {
		r.done.Go(func() { ProbeHealth(ctx, r.name, r.client, r.health, h, r.e.opts.Logger) })
	}
}

// stop stops the registries' runners and waits for them.
func stop(registries []*Registry) {
	for _, r := range registries {
		r.cancel()
	}
	for _, r := range registries {
		r.done.Wait()
	}
}

func (r *Registry) snapshot() collector.Snapshot {
	return collector.Snapshot{
		Registry: r.name, Journeys: r.kept.tracker.Stats(), Latest: r.kept.tracker.Latest(),
		Scheduler: r.sched.Stats(), Certificates: r.certs.Stats(),
	}
}

// Info is what the status page shows of a registry's configuration:
// nothing secret, no address.
type Info struct {
	APIVersion        string
	RequestsPerSecond float64
	Concurrency       int
	ConfiguredIDs     int  // journey ids in the configuration
	Discovery, Proxy  bool // enabled
}

// Info describes the registry's applied configuration.
func (r *Registry) Info() Info { return r.info }

// Snapshot is the registry's figures, as a scrape reads them.
func (r *Registry) Snapshot() collector.Snapshot { return r.snapshot() }

// Name is the registry's name in the configuration.
func (r *Registry) Name() string { return r.name }

// Tracker is the registry's tracker, which outlives reloads.
func (r *Registry) Tracker() *tracker.Tracker { return r.kept.tracker }

// Proxy returns the registry's submission proxy, nil when its
// configuration does not enable one.
func (r *Registry) Proxy() http.Handler {
	if r.proxy == nil {
		return nil
	}
	return r.proxy
}

// CanonicalID checks a journey id as the registry would and gives the form
// it is followed by: the operator_journey_id as is for 3.x (any 1 to 256
// characters), the number in decimal for v2 ("007" and "7" are one
// journey).
func (r *Registry) CanonicalID(id string) (string, error) { return canonicalID(r.v2, id) }

// Now is the registry's time, the exporter's clock: the wall clock, or
// the demo registry's under --demo.
func (r *Registry) Now() time.Time { return r.e.opts.Clock.Now() }

// Register starts following regs and returns how many were new.
// Registration is idempotent. With a store, it returns once a flush that
// began after the registrations has written them, and concurrent calls
// share that flush. On an error nothing may be claimed as stored: the
// journeys may stay followed in memory, and are written by the next flush
// that succeeds; the caller registers them again, which returns once they
// are on disk.
func (r *Registry) Register(ctx context.Context, regs []tracker.Registration) (int, error) {
	added, err := r.e.register(ctx, r.kept.tracker, regs)
	if err != nil {
		return 0, fmt.Errorf("registry %q: storing the journeys: %w", r.name, err)
	}
	if r.kept.removed.Load() {
		// Removed by a reload meanwhile: its flushes no longer cover it.
		return 0, fmt.Errorf("registry %q: %w", r.name, ErrUnknownRegistry)
	}
	return added, ctx.Err()
}

// Relayed applies a cancel or a PATCH the registry accepted through the
// proxy to its journey, registering it from the proxy if it is not
// followed, and returns once the change is on disk, as Register does.
func (r *Registry) Relayed(ctx context.Context, c tracker.Change) (bool, error) {
	added := r.kept.tracker.Relayed(r.e.opts.Clock.Now(), tracker.SourceProxy, c)
	if s := r.e.opts.Store; s != nil {
		if err := s.Sync(ctx); err != nil {
			return added, fmt.Errorf("registry %q: storing the change: %w", r.name, err)
		}
	}
	if r.kept.removed.Load() {
		return added, fmt.Errorf("registry %q: %w", r.name, ErrUnknownRegistry)
	}
	return added, ctx.Err()
}
