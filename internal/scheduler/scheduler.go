// Package scheduler spends a registry's request budget on the journeys
// whose status can still change: it takes due journeys from the tracker,
// checks them within the budget, samples a stable subset when the budget
// cannot keep up, and turns client errors into schedule changes.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// State is what the scheduler is doing with its registry.
type State uint8

// States, in the order of States' names.
const (
	StatePolling State = iota
	StateRateLimited
	StateAuthFailed
	StateUnsupportedVersion
	StateUnavailable
	numStates
)

// StateNames are the state label values.
var StateNames = [numStates]string{"polling", "rate_limited", "auth_failed", "unsupported_version", "unavailable"}

// Outcome is the result of a due check.
type Outcome uint8

// Outcomes, in the order of OutcomeNames.
const (
	OutcomeChecked Outcome = iota
	OutcomeNotFound
	OutcomeSkipped
	OutcomeRateLimited
	OutcomeAuthFailed
	OutcomeError
	numOutcomes
)

// OutcomeNames are the outcome label values.
var OutcomeNames = [numOutcomes]string{"checked", "not_found", "skipped", "rate_limited", "auth_failed", "error"}

// ListVerdict is what a verdict round's lists said of a look they settled
// without a check of its own.
type ListVerdict uint8

// List verdicts, in the order of ListVerdictNames: the journey is in the
// ok, canceled or acquisition_error list, or in none of the lists that
// would change its status (still pending, or its refusal stands).
const (
	ListVerdictOK ListVerdict = iota
	ListVerdictCanceled
	ListVerdictAcquisitionError
	ListVerdictUnchanged
	numListVerdicts
)

// ListVerdictNames are the verdict label values.
var ListVerdictNames = [numListVerdicts]string{"ok", "canceled", "acquisition_error", "unchanged"}

// Config configures a Scheduler.
type Config struct {
	Name    string // the registry's name, for logs
	Checker Checker
	// Lister, when set, is the registry's list endpoint: journeys whose
	// batch window has passed learn their verdict from its exact lists
	// (VerdictStatuses), and only those the lists leave undecided are
	// checked one by one. Its requests come out of the same budget. Nil:
	// every look is a check of its own (v2, or the behaviour before).
	Lister discovery.Lister
	// ListPageSize is the limit asked of the list; default (0)
	// discovery.MaxPageSize.
	ListPageSize int
	Tracker      *tracker.Tracker
	// Clock drives the journeys' schedule; the budget is in wall time.
	Clock clock.Clock
	// Rate is the budget, in requests per wall second, that the client
	// enforces; the scheduler plans with it.
	Rate        float64
	Concurrency int
	// MaxDelay (schedule time) is how late checks may run before the
	// scheduler samples.
	MaxDelay time.Duration
	// ErrorBackoff (schedule time) is how long a journey waits after a
	// failed check.
	ErrorBackoff time.Duration
	// AuthRetryInterval (wall time): while authentication fails, one
	// check is tried this often.
	AuthRetryInterval time.Duration
	// BlockedFor tells how long the client holds requests back after a
	// 429; optional.
	BlockedFor func() time.Duration
	Logger     *slog.Logger
	// An idle scheduler sleeps until the next journey is due, or a new one
	// arrives (Tracker.Wake). Poll is the longest it sleeps without either,
	// for a clock that can jump (a manual or accelerated clock moved by
	// hand); Tick is how often it re-plans its sampling. Defaults 1s and
	// 1s.
	Poll, Tick time.Duration
	// Counters outlive the scheduler when given, so a configuration
	// reload does not reset them.
	Counters *Counters
}

// Counters are a registry's running totals.
type Counters struct {
	outcomes    [numOutcomes]atomic.Uint64
	lastSuccess atomic.Int64 // wall Unix nanoseconds
	certChecks  [numCertResults]atomic.Uint64
	// listRequests are the verdict rounds' list requests; listed the
	// looks they settled without a check of their own, listVerdicts
	// those they gave a verdict, by verdict.
	listRequests, listed atomic.Uint64
	listVerdicts         [numListVerdicts]atomic.Uint64
}

// Scheduler runs the checks of one registry.
type Scheduler struct {
	cfg Config

	ratioBits  atomic.Uint64
	state      atomic.Uint32
	pauseUntil atomic.Int64 // wall Unix nanoseconds
	counters   *Counters
	failures   atomic.Int32 // consecutive errors
	// failedAttempts counts the client's consecutive HTTP attempts that
	// got no answer or a 5xx (Attempt).
	failedAttempts atomic.Int32
	dispatched     atomic.Int64 // since the last planning tick
	inFlight       atomic.Int64
	bulk           bulk

	stateMu      sync.Mutex
	troubleSince time.Time // when the state last left polling

	mu        sync.Mutex // guards the planning state below
	due       int
	lastWall  time.Time
	lastClock time.Time
}

// New returns a scheduler; Run starts it.
func New(cfg Config) *Scheduler {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	s := &Scheduler{cfg: cfg, counters: cfg.Counters}
	s.ratioBits.Store(math.Float64bits(1))
	return s
}

// Ratio is the share of journeys followed, by id hash.
func (s *Scheduler) Ratio() float64 { return math.Float64frombits(s.ratioBits.Load()) }

func (s *Scheduler) sampled(hash uint64) bool {
	r := s.Ratio()
	return r >= 1 || float64(hash) < r*math.Exp2(64)
}

// Run checks due journeys until ctx ends, then waits for the checks in
// flight; interrupted checks go back to the queue.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		s.plan(ctx)
	})
	// A slot is taken before a journey: a journey never waits out of the
	// queue for one, and a pause that starts meanwhile is seen before the
	// next is taken.
	sem := make(chan struct{}, s.cfg.Concurrency)
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		if wait := time.Until(time.Unix(0, s.pauseUntil.Load())); wait > 0 {
			<-sem
			sleep(ctx, wait)
			continue
		}
		now := s.cfg.Clock.Now()
		id, own := s.popCheck()
		if !own {
			l, ok := s.cfg.Tracker.NextLook(now)
			if !ok {
				if looks := s.takeRound(now); looks != nil {
					wg.Go(func() {
						s.round(ctx, looks)
						<-sem
					})
					continue
				}
				<-sem
				s.idle(ctx, now)
				continue
			}
			// In flight from the moment the tracker hands it out until
			// it is back there, so Due plus InFlight never misses a
			// journey.
			s.inFlight.Add(1)
			id = l.ID
			if s.sampled(tracker.Hash(id)) {
				switch lk, r := s.route(l, now); r {
				case routeList:
					s.gather(lk, now)
					<-sem
					continue
				case routePass:
					s.cfg.Tracker.Passed(id, now)
					s.inFlight.Add(-1)
					<-sem
					continue
				}
			}
		}
		if !own && !s.sampled(tracker.Hash(id)) {
			s.cfg.Tracker.Skip(id, now)
			s.inFlight.Add(-1)
			<-sem
			s.counters.outcomes[OutcomeSkipped].Add(1)
			continue
		}
		if st := State(s.state.Load()); st == StateAuthFailed || st == StateUnsupportedVersion {
			// One probe at a time until a check succeeds again.
			s.pause(s.cfg.AuthRetryInterval)
		}
		s.dispatched.Add(1)
		wg.Go(func() {
			s.check(ctx, id)
			s.inFlight.Add(-1)
			<-sem
		})
	}
	wg.Wait()
	s.putBack()
}

// idle sleeps until the next journey is due, a new one arrives, or Poll
// has passed.
func (s *Scheduler) idle(ctx context.Context, now time.Time) {
	d := s.cfg.Poll
	if next, ok := s.cfg.Tracker.NextDue(); ok {
		d = min(d, s.wallUntil(now, next))
	}
	if at := s.RoundDue(); !at.IsZero() {
		d = min(d, s.wallUntil(now, at))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.cfg.Tracker.Wake():
	case <-t.C:
	}
}

// wallUntil is how long, in wall time, until the schedule clock reads
// next; Poll when the clock only moves by hand.
func (s *Scheduler) wallUntil(now, next time.Time) time.Duration {
	d := next.Sub(now)
	if d <= 0 {
		return 0
	}
	if sc, ok := s.cfg.Clock.(interface{ Speed() float64 }); ok {
		speed := sc.Speed()
		if speed <= 0 {
			return s.cfg.Poll
		}
		return time.Duration(float64(d) / speed)
	}
	return d
}

func (s *Scheduler) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := s.pauseUntil.Load()
		if cur >= until || s.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// setState records the registry's state. An answer restores polling only
// if its check started after the trouble began: with several checks in
// flight, a success already on its way must not hide the 429 or the
// revoked credential that followed it.
func (s *Scheduler) setState(st State, started time.Time, err error) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if st == StatePolling && started.Before(s.troubleSince) {
		return
	}
	if st != StatePolling {
		s.troubleSince = time.Now()
	}
	if prev := State(s.state.Swap(uint32(st))); prev != st {
		log := s.cfg.Logger.Info
		if st != StatePolling {
			log = s.cfg.Logger.Error
		}
		log("registry polling state changed", "registry", s.cfg.Name, "from", StateNames[prev], "to", StateNames[st], "err", err)
	}
}

func (s *Scheduler) check(ctx context.Context, id string) {
	started := time.Now()
	res, err := s.cfg.Checker.Check(ctx, id)
	now := s.cfg.Clock.Now()
	t := s.cfg.Tracker
	switch {
	case err == nil || errors.Is(err, registry.ErrNotFound):
		if err == nil {
			t.Checked(id, now, res)
			s.counters.outcomes[OutcomeChecked].Add(1)
		} else {
			t.NotFound(id, now)
			s.counters.outcomes[OutcomeNotFound].Add(1)
		}
		s.succeeded(started)
	case ctx.Err() != nil:
		t.Retry(id, now)
	default:
		s.failed(started, err, func(at time.Time) { t.Retry(id, at) })
	}
}

// succeeded records an answered request that started at started (wall).
func (s *Scheduler) succeeded(started time.Time) {
	s.counters.lastSuccess.Store(time.Now().UnixNano())
	s.failures.Store(0)
	s.setState(StatePolling, started, nil)
}

// failed turns a failed request into a schedule change: retry puts its
// journeys back in the queue at the time it is given.
func (s *Scheduler) failed(started time.Time, err error, retry func(at time.Time)) {
	now := s.cfg.Clock.Now()
	switch registry.KindOf(err) {
	case registry.KindRateLimited:
		retry(now)
		s.counters.outcomes[OutcomeRateLimited].Add(1)
		wait := registry.RetryAfterOf(err)
		if s.cfg.BlockedFor != nil {
			wait = max(wait, s.cfg.BlockedFor())
		}
		s.pause(max(wait, time.Second))
		s.setState(StateRateLimited, started, err)
	case registry.KindUnauthorized, registry.KindForbidden, registry.KindAuthExpired:
		retry(now)
		s.counters.outcomes[OutcomeAuthFailed].Add(1)
		s.pause(s.cfg.AuthRetryInterval)
		s.setState(StateAuthFailed, started, err)
	case registry.KindUnsupportedVersion:
		retry(now)
		s.counters.outcomes[OutcomeError].Add(1)
		s.pause(s.cfg.AuthRetryInterval)
		s.setState(StateUnsupportedVersion, started, err)
	default:
		retry(now.Add(s.cfg.ErrorBackoff))
		s.counters.outcomes[OutcomeError].Add(1)
		n := s.failures.Add(1)
		s.cfg.Logger.Debug("journey check failed", "registry", s.cfg.Name, "err", err)
		if n >= unavailableAfter {
			// The registry is failing, not this journey: slow down,
			// doubling up to a minute.
			s.pause(min(time.Second<<min(n-3, 6), time.Minute))
			s.setState(StateUnavailable, started, err)
		}
	}
}

// unavailableAfter is how many checks, or HTTP attempts, fail in a row
// before the registry is taken for unavailable.
const unavailableAfter = 3

// Attempt is told of every HTTP attempt of the registry's client (its
// Observer). A check returns only once the client has given up retrying:
// against a registry that hangs, three 15 s attempts. Counting attempts
// makes the registry unavailable as soon as a few in a row got no answer,
// as fast as it does for a registry answering 5xx.
func (s *Scheduler) Attempt(o registry.Observation) {
	if o.Err == nil {
		s.failedAttempts.Store(0)
		return
	}
	if errors.Is(o.Err, context.Canceled) {
		return // the exporter stopping, or a reload
	}
	switch registry.KindOf(o.Err) {
	case registry.KindTransport, registry.KindUnavailable, registry.KindServerError:
	default:
		s.failedAttempts.Store(0) // an answer: the registry is there
		return
	}
	if s.failedAttempts.Add(1) >= unavailableAfter {
		s.setState(StateUnavailable, time.Now(), o.Err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
