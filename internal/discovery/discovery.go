// Package discovery finds, through the registry's list endpoint, the
// journeys an operator submitted without telling the exporter, and
// registers them with the tracker (source discovery).
//
// The list endpoint only gives ids, filters on the journey's start time,
// overlaps between statuses and pages by offset over an unordered result
// (docs/registry.md, "The list endpoint"). A round therefore covers a window
// of start times in slices, halves a slice until its page comes back short
// (a short page is the whole result at that instant, however the rows are
// ordered), and de-duplicates across slices and statuses.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Lister fetches one page of the list endpoint; *registry.Client is one.
// Its rate limiter is the registry's budget, shared with status checks.
type Lister interface {
	ListJourneys(ctx context.Context, q registry.ListQuery) ([]string, error)
}

// Registrar starts following journeys and returns how many were new; it
// returns once the registrations are durable.
type Registrar func(ctx context.Context, regs []tracker.Registration) (added int, err error)

// Config configures a Discoverer. Zero values take the defaults below.
type Config struct {
	Name     string // the registry's name, for logs
	Lister   Lister
	Register Registrar
	// Clock is the registry's time: windows, Interval and Lookback are
	// read on it. Waits after failures are in wall time.
	Clock clock.Clock
	// Interval separates the starts of two rounds.
	Interval time.Duration
	// Lookback is how far back, in start time, a round lists from the
	// list's end (today 00:00 Paris, registry.ListEndLimit).
	Lookback time.Duration
	// Statuses are listed in turn; ids are de-duplicated across them.
	Statuses []string
	// PageSize is the limit asked of the list endpoint.
	PageSize int
	// Slice is the widest start-time window asked in one request; a
	// slice is split, before it is asked when the density seen so far
	// says it would fill a page, after when its page comes back full.
	Slice time.Duration
	// MaxPagesPerRound bounds the requests of a round, so a registry that
	// pages forever cannot take the budget from status checks.
	MaxPagesPerRound int
	// RetryBackoff (wall time) is the wait after a first failed round,
	// doubled after each further failure up to MaxRetryBackoff.
	RetryBackoff time.Duration
	// Poll (wall time) is how often a waiting loop reads the clock, which
	// an accelerated or manual clock can move at any moment; default 1s.
	Poll time.Duration
	// Counters outlive the Discoverer when given, so that a configuration
	// reload does not reset them.
	Counters *Counters
	Logger   *slog.Logger
}

// Defaults, in one place; docs/sources.md, "Discovery", explains them.
const (
	// DefaultInterval: a journey submitted at the last moment (24 h after
	// its start) is listed within 10 minutes when it is listable at all.
	DefaultInterval = 10 * time.Minute
	// DefaultLookback: the list ends at today 00:00 Paris and moves a day
	// at a time (registry.ListEndLimit), so a journey is listable from the
	// Paris midnight after its start (seen by the servers at the next UTC
	// midnight). A window of two days, plus the 25 h day of the autumn
	// DST change and a margin, keeps every journey in it for at least a
	// whole day after the last moment it can be submitted (24 h after its
	// start): a late submission is listed, however late in the day, and
	// a day of failed rounds loses nothing.
	DefaultLookback = 50 * time.Hour
	// DefaultPageSize: the registry honours limits above its default of
	// 50, and a request costs the budget the same whatever its size; 500
	// ids of at most 256 characters are under 150 kB, and an hour of a
	// large operator (10,000 journeys a day) fits in one page.
	DefaultPageSize = 500
	// DefaultSlice is the widest window asked, and the first guess: slices
	// are then sized by the density seen. 6 h bounds what one request asks
	// the registry to scan, while a small operator's round costs 17
	// requests instead of 83 in 1 h slices (BenchmarkRoundRequests).
	DefaultSlice = 6 * time.Hour
	// DefaultMaxPagesPerRound is twice and a half what a round costs an
	// operator submitting 100,000 journeys a day (399 requests,
	// BenchmarkRoundRequests), and 200 s of the default 5 requests a second.
	DefaultMaxPagesPerRound = 1000
	DefaultRetryBackoff     = 30 * time.Second
	MaxRetryBackoff         = 10 * time.Minute
	DefaultPoll             = time.Second

	// MaxPageSize keeps a page of ids of the longest allowed length
	// (256 characters) under the client's 4 MiB body limit.
	MaxPageSize = 10_000
	// MaxLookback: the registry refuses a start earlier than 90 days
	// before today 00:00 Paris; a day is kept for a registry whose date
	// changed before ours.
	MaxLookback = (registry.ListMaxAgeDays - 1) * 24 * time.Hour
)

// DefaultStatuses are every status the list answers without an error: a
// journey can only be listed from the Paris midnight after its start, and
// the fraud and anomaly batches may have given their verdict by then (the
// servers' example settings run them 24 to 30 h after the start). pending
// also lists refused (terms_violation_error, not listable itself) and
// canceled journeys until the batches run; fraud_error is asked although
// anomaly_error lists fraud errors too today, in case the registry stops
// overlapping. expired (a 500), terms_violation_error and unknown (400s)
// are never asked.
var DefaultStatuses = []string{"pending", "ok", "fraud_error", "anomaly_error", "canceled", "acquisition_error"}

// Validate checks a configuration; its errors start with the field's
// name, as the configuration file spells it.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"interval", c.Interval}, {"lookback", c.Lookback}, {"slice", c.Slice},
		{"retry_backoff", c.RetryBackoff}, {"poll", c.Poll},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: %s: must not be negative", d.name, d.v)
		}
	}
	switch {
	case c.Lookback > MaxLookback:
		return fmt.Errorf("lookback: %s: the registry lists journeys that started within 90 days, at most %s", c.Lookback, MaxLookback)
	case c.Slice > 0 && c.Slice < time.Second:
		return fmt.Errorf("slice: %s: the list filters to the second, want at least 1s", c.Slice)
	case c.PageSize < 0 || c.PageSize > MaxPageSize:
		return fmt.Errorf("page_size: %d: want 1 to %d", c.PageSize, MaxPageSize)
	case c.MaxPagesPerRound < 0:
		return fmt.Errorf("max_pages_per_round: %d: must not be negative", c.MaxPagesPerRound)
	}
	for i, s := range c.Statuses {
		if !registry.Listable(s) || !slices.Contains(registry.Statuses, s) {
			return fmt.Errorf("statuses[%d]: %q cannot be listed: the list endpoint accepts %v", i, truncate(s), listableStatuses())
		}
		if slices.Contains(c.Statuses[:i], s) {
			return fmt.Errorf("statuses[%d]: %q is listed twice", i, s)
		}
	}
	return nil
}

func listableStatuses() []string {
	var out []string
	for _, s := range registry.Statuses {
		if registry.Listable(s) {
			out = append(out, s)
		}
	}
	return out
}

// withDefaults fills zero fields and brings out-of-range ones back in
// range, so that a Discoverer built from an unchecked Config still runs.
func (c Config) withDefaults() Config {
	orDuration := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	c.Interval = orDuration(c.Interval, DefaultInterval)
	c.Lookback = min(orDuration(c.Lookback, DefaultLookback), MaxLookback)
	c.Slice = max(orDuration(c.Slice, DefaultSlice).Truncate(time.Second), time.Second)
	c.RetryBackoff = orDuration(c.RetryBackoff, DefaultRetryBackoff)
	c.Poll = orDuration(c.Poll, DefaultPoll)
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	c.PageSize = min(c.PageSize, MaxPageSize)
	if c.MaxPagesPerRound <= 0 {
		c.MaxPagesPerRound = DefaultMaxPagesPerRound
	}
	var statuses []string
	for _, s := range c.Statuses {
		if registry.Listable(s) && slices.Contains(registry.Statuses, s) && !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	if len(statuses) == 0 {
		statuses = slices.Clone(DefaultStatuses)
	}
	c.Statuses = statuses
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Counters == nil {
		c.Counters = &Counters{}
	}
	return c
}

// Result is how a round ended.
type Result uint8

const (
	ResultOK         Result = iota // every id in the window was listed
	ResultIncomplete               // the round stopped short of proving it listed every id
	ResultError                    // the registry or the registration failed
	numResults
)

// ResultNames are the result label values, indexed by Result.
var ResultNames = [numResults]string{"ok", "incomplete", "error"}

// ErrIncomplete marks a round that ran out of pages or met a slice it
// could not list to the end.
var ErrIncomplete = errors.New("discovery round incomplete")

// Counters are a registry's running discovery totals.
type Counters struct {
	rounds       [numResults]atomic.Uint64
	requests     atomic.Uint64
	found        atomic.Uint64
	added        atomic.Uint64
	lastSuccess  atomic.Int64 // wall Unix nanoseconds, 0 before the first
	lastDuration atomic.Int64 // wall nanoseconds of the last round
}

// Stats are a snapshot of the counters, for the metrics.
type Stats struct {
	Rounds       [numResults]uint64 // indexed by Result
	ListRequests uint64             // list calls, failed ones included
	Found        uint64             // ids listed, de-duplicated within each round
	New          uint64             // ids the tracker did not follow yet
	// LastSuccess (wall) is when a round last ended ok; zero before.
	LastSuccess time.Time
	// LastDuration (wall) is how long the last round took; zero before
	// the first round ends.
	LastDuration time.Duration
}

// Stats returns the counters' current values.
func (c *Counters) Stats() Stats {
	var s Stats
	for i := range s.Rounds {
		s.Rounds[i] = c.rounds[i].Load()
	}
	s.ListRequests = c.requests.Load()
	s.Found = c.found.Load()
	s.New = c.added.Load()
	if ns := c.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	s.LastDuration = time.Duration(c.lastDuration.Load())
	return s
}

// Discoverer runs discovery rounds for one registry.
type Discoverer struct {
	cfg      Config
	counters *Counters

	mu sync.Mutex // serialises rounds and guards what they share below
	// known holds the ids the last round found and had registered: the
	// next round only hands the tracker ids not in it, so a durable
	// Registrar does not rewrite the whole window every round.
	known map[string]struct{}
	// Warnings about the registry's answers are given once.
	warnedCut, warnedInvalid bool
}

// New returns a Discoverer; Run starts it.
func New(cfg Config) *Discoverer {
	cfg = cfg.withDefaults()
	return &Discoverer{cfg: cfg, counters: cfg.Counters}
}

// Stats returns the discovery counters, for the metrics.
func (d *Discoverer) Stats() Stats { return d.counters.Stats() }

// Run runs a round at once, then one every Interval of the Clock, until
// ctx ends. A failed round is retried after a wall-time backoff; a 429
// waits the registry's Retry-After; a refused credential, a version the
// registry does not serve or a request it refuses waits for the next
// round, logged once until a round succeeds.
func (d *Discoverer) Run(ctx context.Context) {
	log := d.cfg.Logger
	if d.cfg.Lister == nil || d.cfg.Register == nil {
		log.Error("discovery not started: no lister or registrar", "registry", d.cfg.Name)
		return
	}
	failures := 0
	trouble := "" // what the current streak of failed rounds is logged as
	for {
		started := d.cfg.Clock.Now()
		rep, err := d.round(ctx)
		if ctx.Err() != nil {
			return
		}
		next := started.Add(d.cfg.Interval)
		var pause time.Duration
		kind := registry.KindOf(err)
		cause := kind.String()
		switch {
		case err == nil:
			if trouble != "" {
				log.Info("discovery recovered", "registry", d.cfg.Name, "found", rep.found, "new", rep.added)
			}
			failures, trouble = 0, ""
			log.Debug("discovery round", "registry", d.cfg.Name, "start", rep.start, "end", rep.end,
				"found", rep.found, "new", rep.added, "requests", rep.requests, "duration", rep.duration)
		case rep.result == ResultIncomplete:
			// Retrying at once would spend the same pages again: wait.
			failures, cause = 0, "incomplete"
		case kind == registry.KindRateLimited:
			pause, next = max(registry.RetryAfterOf(err), time.Second), time.Time{}
		case refusal(kind):
			// Retrying sooner would not change the registry's answer.
		default:
			failures++
			pause, next = backoff(d.cfg.RetryBackoff, failures), time.Time{}
		}
		if err != nil {
			if cause != trouble {
				level := slog.LevelWarn
				if refusal(kind) {
					level = slog.LevelError
				}
				log.Log(ctx, level, "discovery round failed", "registry", d.cfg.Name, "cause", cause,
					"found", rep.found, "new", rep.added, "requests", rep.requests, "err", err)
			} else {
				log.Debug("discovery round failed", "registry", d.cfg.Name, "cause", cause, "err", err)
			}
			trouble = cause
		}
		if !sleep(ctx, pause) || !d.sleepUntil(ctx, next) {
			return
		}
	}
}

// refusal tells the failures that need someone to act (a credential, the
// API version, a clock far off): the registry will answer the same until
// then.
func refusal(k registry.Kind) bool {
	switch k {
	case registry.KindUnauthorized, registry.KindForbidden, registry.KindAuthExpired,
		registry.KindUnsupportedVersion, registry.KindBadRequest:
		return true
	}
	return false
}

// backoff doubles base after each further failure, up to MaxRetryBackoff.
func backoff(base time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < MaxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, MaxRetryBackoff)
}

// sleepUntil waits until the Clock reads at or after at. The clock may be
// accelerated or moved by hand, so the wait is cut into polls.
func (d *Discoverer) sleepUntil(ctx context.Context, at time.Time) bool {
	for {
		left := at.Sub(d.cfg.Clock.Now())
		if left <= 0 {
			return ctx.Err() == nil
		}
		wall := min(d.cfg.Poll, left)
		if a, ok := d.cfg.Clock.(interface{ Speed() float64 }); ok {
			// A manual clock (speed 0) only moves by hand: poll.
			if speed := a.Speed(); speed > 0 {
				wall = min(d.cfg.Poll, time.Duration(float64(left)/speed)+time.Millisecond)
			} else {
				wall = d.cfg.Poll
			}
		}
		if !sleep(ctx, wall) {
			return false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// truncate keeps an untrusted value readable in an error or a log.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
