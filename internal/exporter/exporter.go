// Package exporter runs the registries a configuration names: for each, a
// client within its budget, a tracker that outlives configuration reloads,
// a scheduler, certificate checks and a health probe.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Options are the exporter's collaborators.
type Options struct {
	Logger *slog.Logger
	// Clock drives the journeys' schedule; nil means the wall clock. The
	// demo passes its accelerated clock.
	Clock clock.Clock
	// Requests and Health, when set, meter the clients and probe /health.
	Requests *collector.RequestMetrics
	Health   *collector.Health
	// Tick and Poll tune the schedulers (tests); zero takes their defaults.
	Tick, Poll time.Duration
	// Store, when set, keeps every registry's journeys and totals across
	// restarts: a registry starts from what it holds, changes are written
	// in batches, and Register returns once its journeys are on disk. Nil
	// keeps everything in memory.
	Store *storage.Store
	// Push and Proxy, when set, meter the push endpoint and the
	// submission proxies; their series follow the configured registries.
	Push  *collector.PushMetrics
	Proxy *collector.ProxyMetrics
}

// Exporter holds the running registries.
type Exporter struct {
	opts Options

	mu      sync.Mutex
	kept    map[string]*kept // survives reloads, by registry name
	running []*runner

	stopFlusher context.CancelFunc // nil without a store
	flusherDone chan struct{}
	orphans     map[string]bool // stored registries the configuration lacks, logged once; Apply's
}

// kept is what a registry keeps across reloads: its journeys and totals.
type kept struct {
	tracker  *tracker.Tracker
	counters *scheduler.Counters
	found    *discovery.Counters // discovery's, kept even while it is off
	config   config.Registry     // the applied one, for ValidateID
}

// stored is what a flush writes of the registry.
func (k *kept) stored(name string) storage.Registry {
	return storage.Registry{Name: name, Tracker: k.tracker, Counters: k.counters}
}

type runner struct {
	name   string
	proxy  *proxy.Proxy          // nil unless the configuration enables it
	disc   *discovery.Discoverer // nil unless the configuration enables it
	kept   *kept
	sched  *scheduler.Scheduler
	certs  *scheduler.Certificates
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// New returns an exporter with no registry; Apply gives it some.
func New(opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	e := &Exporter{opts: opts, kept: map[string]*kept{}, orphans: map[string]bool{}}
	if opts.Store != nil {
		ctx, cancel := context.WithCancel(context.Background())
		e.stopFlusher, e.flusherDone = cancel, make(chan struct{})
		go func() {
			defer close(e.flusherDone)
			opts.Store.Run(ctx, e.storeRegistries)
		}()
	}
	return e
}

// storeRegistries lists what a flush writes: every registry that runs.
func (e *Exporter) storeRegistries() []storage.Registry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]storage.Registry, 0, len(e.kept))
	for name, k := range e.kept {
		out = append(out, k.stored(name))
	}
	return out
}

// Policy turns a configured schedule into the tracker's policy.
func Policy(s config.Schedule) tracker.Policy {
	p := tracker.DefaultPolicy
	p.FirstCheckDelay = time.Duration(s.FirstCheckDelay)
	p.PendingInterval = time.Duration(s.PendingInterval)
	p.BatchWindowStart = time.Duration(s.BatchWindowStart)
	p.BatchWindowEnd = time.Duration(s.BatchWindowEnd)
	p.BatchCheckDelay = time.Duration(s.BatchCheckDelay)
	p.SettleAfter = time.Duration(s.SettleAfter)
	p.Retention = time.Duration(s.Retention)
	p.RetryAfterSkip = time.Duration(s.MaxDelay)
	return p
}

// Apply replaces the running registries with cfg's. Every client is built
// before anything stops, so a configuration that cannot run leaves the
// current one running. Trackers and totals are kept by registry name;
// configured journeys are registered (again: registration is idempotent).
// A registry that leaves the configuration is forgotten.
func (e *Exporter) Apply(cfg *config.Config) error {
	clients := make([]*registry.Client, len(cfg.Registries))
	proxies := make([]*proxy.Proxy, len(cfg.Registries))
	for i, rc := range cfg.Registries {
		var observer func(registry.Observation)
		if e.opts.Requests != nil {
			observer = e.opts.Requests.Observer(rc.Name)
		}
		version := rc.APIVersion
		if rc.IsV2() {
			version = config.DefaultAPIVersion // only the v2 status route is used
		}
		c, err := registry.New(registry.Config{
			BaseURL: rc.BaseURL, Version: version, Auth: rc.Auth,
			Rate: rate.Limit(rc.Budget.RequestsPerSecond), Burst: rc.Budget.Burst,
			RequestTimeout: time.Duration(rc.RequestTimeout), Observer: observer,
		})
		if err != nil {
			e.forgetNew(cfg.Registries[:i+1])
			return fmt.Errorf("registry %s: %w", rc.Name, err)
		}
		clients[i] = c
		if rc.Proxy.Enabled {
			if proxies[i], err = e.newProxy(rc); err != nil {
				e.forgetNew(cfg.Registries[:i+1])
				return fmt.Errorf("registry %s: proxy: %w", rc.Name, err)
			}
		}
	}
	fresh, err := e.restoreNew(cfg.Registries)
	if err != nil {
		e.forgetNew(cfg.Registries)
		return err
	}

	e.mu.Lock()
	e.stopLocked()
	next := map[string]*kept{}
	var removed []storage.Registry
	for i, rc := range cfg.Registries {
		policy := Policy(rc.Schedule)
		k := e.kept[rc.Name]
		if k == nil {
			k = fresh[rc.Name]
		} else {
			k.tracker.SetPolicy(policy)
		}
		k.config = rc
		next[rc.Name] = k
		r := e.start(rc, clients[i], k)
		r.proxy = proxies[i]
		e.running = append(e.running, r)
		e.opts.Push.Declare(rc.Name)
		if r.proxy == nil {
			e.opts.Proxy.Forget(rc.Name)
		}
	}
	for name := range e.kept {
		if next[name] == nil {
			// Its runner has stopped: nothing can bring the series back.
			e.forget(name)
			removed = append(removed, e.kept[name].stored(name))
		}
	}
	e.kept = next
	e.mu.Unlock()
	e.storeRemoved(removed)
	e.logOrphans(cfg.Registries)

	// Registering a million ids takes a while: scrapes go on meanwhile.
	now := e.opts.Clock.Now()
	for _, rc := range cfg.Registries {
		t := next[rc.Name].tracker
		t.Grow(len(rc.Journeys.Resolved) - t.Len()) // most may be tracked already, restored or kept
		for _, j := range rc.Journeys.Resolved {
			t.Register(now, tracker.Registration{ID: j.ID, Source: tracker.SourceConfig, Start: j.Start})
		}
	}
	return nil
}

// restoreNew builds the trackers and counters of the registries that do
// not run yet, from what the store kept of them: configured ids already
// stored are then not new, and no total starts again from 0. It runs
// before Apply takes the lock: loading a million journeys takes a while,
// and scrapes go on meanwhile.
func (e *Exporter) restoreNew(registries []config.Registry) (map[string]*kept, error) {
	e.mu.Lock()
	var added []config.Registry
	for _, rc := range registries {
		if e.kept[rc.Name] == nil {
			added = append(added, rc)
		}
	}
	e.mu.Unlock()
	out := make(map[string]*kept, len(added))
	for _, rc := range added {
		k := &kept{tracker: tracker.New(Policy(rc.Schedule)), counters: &scheduler.Counters{}, found: &discovery.Counters{}}
		if e.opts.Store != nil {
			began := time.Now()
			res, err := e.opts.Store.Restore(rc.Name, k.tracker, k.counters)
			if err != nil {
				return nil, err
			}
			e.opts.Logger.Info("restored the registry's journeys and totals from the store", "registry", rc.Name,
				"journeys", res.Journeys, "corrupt_records", res.Corrupt, "duration", time.Since(began))
		}
		out[rc.Name] = k
	}
	return out, nil
}

// storeRemoved writes the last changes of registries that left the
// configuration: their state stays on disk, and comes back if they
// return.
func (e *Exporter) storeRemoved(removed []storage.Registry) {
	if e.opts.Store == nil || len(removed) == 0 {
		return
	}
	if err := e.opts.Store.Flush(removed); err != nil {
		e.opts.Logger.Error("storing the last changes of registries removed from the configuration", "err", err)
	}
}

// logOrphans says, once per registry, that the store holds a registry the
// configuration does not name. Its state is left as it is: a typo in the
// configuration must not wipe its history.
func (e *Exporter) logOrphans(registries []config.Registry) {
	if e.opts.Store == nil {
		return
	}
	names, err := e.opts.Store.Names()
	if err != nil {
		e.opts.Logger.Error("listing the registries in the store", "err", err)
		return
	}
	configured := map[string]bool{}
	for _, rc := range registries {
		configured[rc.Name] = true
	}
	for _, name := range names {
		if !configured[name] && !e.orphans[name] {
			e.orphans[name] = true
			e.opts.Logger.Warn("the store holds a registry the configuration does not name: its journeys and totals stay on disk, unused, until it is configured again",
				"registry", name, "path", e.opts.Store.Path())
		}
	}
}

// forget deletes the request and health series of a registry that does
// not run.
func (e *Exporter) forget(name string) {
	if e.opts.Requests != nil {
		e.opts.Requests.Forget(name)
	}
	if e.opts.Health != nil {
		e.opts.Health.Forget(name)
	}
	e.opts.Push.Forget(name)
	e.opts.Proxy.Forget(name)
}

// newProxy builds the submission proxy of a registry: it forwards to the
// registry's base URL and registers what the answers tell.
func (e *Exporter) newProxy(rc config.Registry) (*proxy.Proxy, error) {
	target, err := registry.ParseBaseURL(rc.BaseURL)
	if err != nil {
		return nil, err
	}
	return proxy.New(proxy.Config{
		Registry: rc.Name, Target: target, Registrar: e, Metrics: e.opts.Proxy,
		Logger:       e.opts.Logger.With("registry", rc.Name, "component", "proxy"),
		TrackTimeout: time.Duration(rc.Proxy.TrackTimeout),
	})
}

// Proxy returns the submission proxy of the named registry, nil when it
// does not run or its configuration does not enable one.
func (e *Exporter) Proxy(name string) http.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.running {
		if r.name == name && r.proxy != nil {
			return r.proxy
		}
	}
	return nil
}

// forgetNew forgets the series a failed Apply declared for registries that
// were not running.
func (e *Exporter) forgetNew(registries []config.Registry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rc := range registries {
		if e.kept[rc.Name] == nil {
			e.forget(rc.Name)
		}
	}
}

func (e *Exporter) start(rc config.Registry, c *registry.Client, k *kept) *runner {
	logger := e.opts.Logger.With("registry", rc.Name)
	checker := scheduler.V3(c)
	if rc.IsV2() {
		checker = scheduler.V2(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{name: rc.Name, kept: k, cancel: cancel}
	r.sched = scheduler.New(scheduler.Config{
		Name: rc.Name, Checker: checker, Tracker: k.tracker, Clock: e.opts.Clock,
		Rate: rc.Budget.RequestsPerSecond, Concurrency: rc.Budget.Concurrency,
		MaxDelay: time.Duration(rc.Schedule.MaxDelay), ErrorBackoff: time.Duration(rc.Schedule.ErrorBackoff),
		AuthRetryInterval: time.Duration(rc.Schedule.AuthRetryInterval),
		BlockedFor:        c.BlockedFor, Logger: logger, Counters: k.counters,
		Tick: e.opts.Tick, Poll: e.opts.Poll,
	})
	r.certs = scheduler.NewCertificates(c, rc.Certificates.UUIDs, time.Duration(rc.Certificates.Interval), k.counters, logger)
	if d := rc.Discovery; d.Enabled {
		t := k.tracker
		dc := d.DiscovererConfig()
		dc.Name, dc.Lister, dc.Clock, dc.Counters = rc.Name, c, e.opts.Clock, k.found
		dc.Register = func(ctx context.Context, regs []tracker.Registration) (int, error) { return e.register(ctx, t, regs) }
		dc.Logger = logger.With("component", "discovery")
		r.disc = discovery.New(dc)
		r.done.Add(1)
		go func() { defer r.done.Done(); r.disc.Run(ctx) }()
	}
	r.done.Add(2)
	go func() { defer r.done.Done(); r.sched.Run(ctx) }()
	go func() { defer r.done.Done(); r.certs.Run(ctx) }()
	if e.opts.Health != nil {
		r.done.Add(1)
		go func() {
			defer r.done.Done()
			e.opts.Health.Probe(ctx, rc.Name, c, time.Duration(rc.HealthInterval), e.opts.Logger)
		}()
	}
	return r
}

// Tracker returns the tracker of the named registry, nil if none runs.
func (e *Exporter) Tracker(name string) *tracker.Tracker {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.kept[name]; k != nil {
		return k.tracker
	}
	return nil
}

// Snapshots returns every running registry's figures, in configuration
// order.
func (e *Exporter) Snapshots() []collector.Snapshot {
	e.mu.Lock()
	running := append([]*runner(nil), e.running...)
	e.mu.Unlock()
	out := make([]collector.Snapshot, 0, len(running))
	for _, r := range running {
		out = append(out, collector.Snapshot{
			Registry: r.name, Journeys: r.kept.tracker.Stats(),
			Scheduler: r.sched.Stats(), Certificates: r.certs.Stats(),
		})
	}
	return out
}

// DiscoverySnapshots returns the discovery figures of the running
// registries that discover.
func (e *Exporter) DiscoverySnapshots() []collector.DiscoverySnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []collector.DiscoverySnapshot
	for _, r := range e.running {
		if r.disc != nil {
			out = append(out, collector.DiscoverySnapshot{Registry: r.name, Stats: r.disc.Stats()})
		}
	}
	return out
}

// Close stops every registry and waits for the checks in flight, then
// writes the last changes to the store, if any.
func (e *Exporter) Close() {
	e.mu.Lock()
	e.stopLocked()
	e.mu.Unlock()
	if e.stopFlusher != nil {
		e.stopFlusher()
		<-e.flusherDone
	}
}

// stopLocked stops the running registries and waits for them; e.mu is held.
func (e *Exporter) stopLocked() {
	for _, r := range e.running {
		r.cancel()
	}
	for _, r := range e.running {
		r.done.Wait()
	}
	e.running = nil
}

// register registers regs in t and waits until they are on disk. It does
// not take e.mu: discovery calls it from a runner that Apply, holding
// e.mu, waits for.
func (e *Exporter) register(ctx context.Context, t *tracker.Tracker, regs []tracker.Registration) (int, error) {
	now := e.opts.Clock.Now()
	added := 0
	for _, r := range regs {
		if t.Register(now, r) {
			added++
		}
	}
	if e.opts.Store == nil {
		return added, nil
	}
	return added, e.opts.Store.Sync(ctx)
}

// Has tells whether the named registry runs.
func (e *Exporter) Has(name string) bool { return e.Tracker(name) != nil }

// ValidateID checks a journey id against the named registry's pattern.
func (e *Exporter) ValidateID(name, id string) error {
	e.mu.Lock()
	k := e.kept[name]
	var rc config.Registry
	if k != nil {
		rc = k.config // a copy: Apply replaces k.config under e.mu
	}
	e.mu.Unlock()
	if k == nil {
		return fmt.Errorf("registry %q: %w", name, ErrUnknownRegistry)
	}
	return rc.ValidateID(id)
}

// ErrUnknownRegistry is returned for a registry the configuration does not
// name.
var ErrUnknownRegistry = errors.New("no such registry in the configuration")

// Register starts following regs in the named registry and returns how
// many were new. Registration is idempotent. With a store, it returns
// once a flush that began after the registrations has written them, and
// concurrent calls share that flush. On an error nothing may be claimed
// as stored: the journeys may stay followed in memory, and are written
// by the next flush that succeeds; the caller registers them again, which
// returns once they are on disk.
func (e *Exporter) Register(ctx context.Context, name string, regs []tracker.Registration) (int, error) {
	t := e.Tracker(name)
	if t == nil {
		return 0, fmt.Errorf("registry %q: %w", name, ErrUnknownRegistry)
	}
	added, err := e.register(ctx, t, regs)
	if err != nil {
		return 0, fmt.Errorf("registry %q: storing the journeys: %w", name, err)
	}
	if e.Tracker(name) != t {
		// Removed by a reload meanwhile: its flushes no longer cover t.
		return 0, fmt.Errorf("registry %q: %w", name, ErrUnknownRegistry)
	}
	return added, ctx.Err()
}
