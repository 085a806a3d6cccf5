// Package exporter runs the registries a configuration names: for each, a
// client within its budget, a tracker that outlives configuration reloads,
// a scheduler, certificate checks and a health probe.
//
// It is the one place where the configuration becomes runtime settings
// (settings.go), for Apply and --config.check alike. The web handlers work
// on a Registry, the handle of one running registry, looked up once per
// request.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
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
	// Requests, when set, meters the clients; Health, when set, is told
	// the registries' /health, which the exporter then probes.
	Requests *collector.RequestMetrics
	Health   HealthObserver
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

	// applying serialises Apply and Close, which wait for runners to stop
	// while holding it. Scrapes, pushes, proxies and the journey API never
	// take it.
	applying sync.Mutex

	// mu guards the maps and list below; it is held only to read or swap
	// them, never while anything waits.
	mu      sync.RWMutex
	kept    map[string]*kept     // survives reloads, by registry name
	byName  map[string]*Registry // the running registries' handles
	running []*Registry          // the same, in configuration order

	stopFlusher context.CancelFunc // nil without a store
	flusherDone chan struct{}
	orphans     map[string]bool // stored registries the configuration lacks, logged once; Apply's
}

// kept is what a registry keeps across reloads: its journeys and totals.
type kept struct {
	tracker  *tracker.Tracker
	counters *scheduler.Counters
	found    *discovery.Counters // discovery's, kept even while it is off
	// removed is set once the registry left the configuration: handles
	// still held by requests in flight then refuse to register.
	removed atomic.Bool
}

// stored is what a flush writes of the registry.
func (k *kept) stored(name string) storage.Registry {
	return storage.Registry{Name: name, Tracker: k.tracker, Counters: k.counters}
}

// New returns an exporter with no registry; Apply gives it some.
func New(opts Options) *Exporter {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	e := &Exporter{opts: opts, kept: map[string]*kept{}, byName: map[string]*Registry{}, orphans: map[string]bool{}}
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
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]storage.Registry, 0, len(e.kept))
	for name, k := range e.kept {
		out = append(out, k.stored(name))
	}
	return out
}

// Apply replaces the running registries with cfg's. The configuration
// becomes runtime settings (prepare), and every client and proxy is built
// before anything stops, so a configuration that cannot run leaves the
// current one running. Trackers and totals are kept by registry name;
// configured journeys are registered (again: registration is idempotent).
// A registry that leaves the configuration is forgotten.
//
// While the old runners stop, their handles keep serving: scrapes,
// pushes, proxies and the journey API never wait for a reload.
func (e *Exporter) Apply(cfg *config.Config) error {
	all, err := prepare(cfg)
	if err != nil {
		return err
	}
	e.applying.Lock()
	defer e.applying.Unlock()

	clients := make([]*registry.Client, len(all))
	attempts := make([]*attemptSink, len(all))
	for i, s := range all {
		c := s.client
		attempts[i] = &attemptSink{}
		c.Observer = attempts[i].observe
		if e.opts.Requests != nil {
			metered := e.opts.Requests.Observer(s.rc.Name)
			c.Observer = func(o registry.Observation) { metered(o); attempts[i].observe(o) }
		}
		if clients[i], err = registry.New(c); err != nil {
			e.forgetNew(cfg.Registries[:i+1])
			return fmt.Errorf("registry %s: %w", s.rc.Name, err)
		}
	}
	fresh, err := e.restoreNew(cfg.Registries)
	if err != nil {
		e.forgetNew(cfg.Registries)
		return err
	}
	e.mu.RLock()
	current, old := e.kept, e.running // only Apply and Close, holding e.applying, replace them
	e.mu.RUnlock()
	next := make([]*Registry, len(all))
	for i, s := range all {
		k := current[s.rc.Name]
		if k == nil {
			k = fresh[s.rc.Name]
		}
		if next[i], err = e.newRegistry(s, clients[i], k); err != nil {
			e.forgetNew(cfg.Registries)
			return fmt.Errorf("registry %s: proxy: %w", s.rc.Name, err)
		}
		attempts[i].sched.Store(next[i].sched)
	}

	stop(old)
	e.mu.Lock()
	nextKept := make(map[string]*kept, len(next))
	byName := make(map[string]*Registry, len(next))
	for i, r := range next {
		if current[r.name] != nil {
			r.kept.tracker.SetPolicy(all[i].policy)
		}
		nextKept[r.name], byName[r.name] = r.kept, r
		e.opts.Push.Declare(r.name)
		if r.proxy == nil {
			e.opts.Proxy.Forget(r.name)
		}
	}
	var removed []storage.Registry
	for name, k := range e.kept {
		if nextKept[name] == nil {
			// Its runner has stopped: nothing can bring the series back.
			k.removed.Store(true)
			e.forget(name)
			removed = append(removed, k.stored(name))
		}
	}
	e.kept, e.byName, e.running = nextKept, byName, next
	e.mu.Unlock()
	for _, r := range next {
		r.start()
	}
	e.storeRemoved(removed)
	e.logOrphans(cfg.Registries)

	// Registering a million ids takes a while: scrapes go on meanwhile.
	now := e.opts.Clock.Now()
	for _, rc := range cfg.Registries {
		t := nextKept[rc.Name].tracker
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
	e.mu.RLock()
	var added []config.Registry
	for _, rc := range registries {
		if e.kept[rc.Name] == nil {
			added = append(added, rc)
		}
	}
	e.mu.RUnlock()
	out := make(map[string]*kept, len(added))
	for _, rc := range added {
		k := &kept{tracker: tracker.New(registryPolicy(rc)), counters: &scheduler.Counters{}, found: &discovery.Counters{}}
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

// forgetNew forgets the series a failed Apply declared for registries that
// were not running.
func (e *Exporter) forgetNew(registries []config.Registry) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, rc := range registries {
		if e.kept[rc.Name] == nil {
			e.forget(rc.Name)
		}
	}
}

// Registry returns the handle of the named registry, nil when the
// configuration does not name it.
func (e *Exporter) Registry(name string) *Registry {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.byName[name]
}

// Snapshots returns every running registry's figures, in configuration
// order.
func (e *Exporter) Snapshots() []collector.Snapshot {
	e.mu.RLock()
	running := e.running
	e.mu.RUnlock()
	out := make([]collector.Snapshot, 0, len(running))
	for _, r := range running {
		out = append(out, r.snapshot())
	}
	return out
}

// DiscoverySnapshots returns the discovery figures of the running
// registries that discover.
func (e *Exporter) DiscoverySnapshots() []collector.DiscoverySnapshot {
	e.mu.RLock()
	running := e.running
	e.mu.RUnlock()
	var out []collector.DiscoverySnapshot
	for _, r := range running {
		if r.disc != nil {
			out = append(out, collector.DiscoverySnapshot{Registry: r.name, Stats: r.disc.Stats()})
		}
	}
	return out
}

// Close stops every registry and waits for the checks in flight, then
// writes the last changes to the store, if any. The handles stay usable.
func (e *Exporter) Close() {
	e.applying.Lock()
	defer e.applying.Unlock()
	e.mu.Lock()
	old := e.running
	e.running = nil
	e.mu.Unlock()
	stop(old)
	if e.stopFlusher != nil {
		e.stopFlusher()
		<-e.flusherDone
		e.stopFlusher = nil
	}
}

// register registers regs in t and waits until they are on disk. It takes
// no lock: discovery calls it from a runner that Apply waits for.
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

// ErrUnknownRegistry is returned for a registry the configuration does not
// name, or no longer names.
var ErrUnknownRegistry = errors.New("no such registry in the configuration")
