package simulator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
)

// Simulator is a running imitation of the registry. All methods are safe
// for concurrent use.
type Simulator struct {
	cfg        Config
	clock      clock.Clock
	limitClock clock.Clock
	logger     *slog.Logger
	versions   []string
	newest3    string
	limits     Limits
	lifecycle  Lifecycle
	auth       *authenticator
	limiter    *rateLimiter

	mu           sync.Mutex
	st           *store
	certificates map[string]Certificate
	lastBatch    time.Time
	gen          *generator

	faultsMu sync.Mutex
	faults   Faults
	stormEnd time.Time
	rng      *mrand.Rand

	requests *requestLog
}

// New validates cfg and returns a simulator. When cfg.Traffic is set its
// backfill is generated before New returns.
func New(cfg Config) (*Simulator, error) {
	versions := cfg.Versions
	if len(versions) == 0 {
		versions = ServedVersions
	}
	for _, v := range versions {
		if !slices.Contains(AllVersions, v) {
			return nil, fmt.Errorf("unsupported API version %q, want one of %v", v, AllVersions)
		}
	}
	for _, t := range cfg.Tokens {
		if t.Value == "" {
			return nil, errors.New("empty token value")
		}
	}
	for _, k := range cfg.Keys {
		if k.AccessKey == "" || k.SecretKey == "" {
			return nil, errors.New("empty access or secret key")
		}
	}
	if cfg.Traffic != nil {
		if err := cfg.Traffic.validate(); err != nil {
			return nil, err
		}
	}
	if cfg.JWTTTL <= 0 {
		cfg.JWTTTL = DefaultJWTTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.LimitClock == nil {
		cfg.LimitClock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating JWT secret: %w", err)
	}
	s := &Simulator{
		cfg:          cfg,
		clock:        cfg.Clock,
		limitClock:   cfg.LimitClock,
		logger:       cfg.Logger,
		versions:     slices.Clone(versions),
		limits:       cfg.Limits.withDefaults(),
		lifecycle:    cfg.Lifecycle.withDefaults(),
		auth:         newAuthenticator(cfg.Tokens, cfg.Keys, cfg.JWTTTL, secret),
		st:           newStore(),
		certificates: map[string]Certificate{},
		rng:          mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		requests:     newRequestLog(maxRequestLog),
	}
	for _, v := range s.versions {
		if v != "2" && (s.newest3 == "" || versionLess(s.newest3, v)) {
			s.newest3 = v
		}
	}
	s.limiter = newRateLimiter(s.limits)
	if cfg.Traffic != nil {
		s.gen = newGenerator(*cfg.Traffic, cfg.Seed, s.clock.Now())
		s.mu.Lock()
		s.gen.backfill(s)
		reports := s.gen.takeReports()
		s.mu.Unlock()
		s.report(reports)
	}
	return s, nil
}

// SetFaults replaces the injected faults. A RateLimitStorm starts now.
func (s *Simulator) SetFaults(f Faults) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faults = f
	s.stormEnd = time.Time{}
	if f.RateLimitStorm > 0 {
		s.stormEnd = s.limitClock.Now().Add(f.RateLimitStorm)
	}
}

// Faults returns the injected faults.
func (s *Simulator) Faults() Faults {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.faults
}

// ExpireTokens makes every JWT issued so far answer 401 as expired.
func (s *Simulator) ExpireTokens() { s.auth.expireAll() }

// Requests returns the log of answered API requests, oldest first.
func (s *Simulator) Requests() []RequestRecord { return s.requests.snapshot() }

// Put inserts or overwrites a journey, whatever its status or labels. A
// zero CreatedAt means now; a zero JourneyID gets the next free number.
// Pending journeys go through the lifecycle like submitted ones.
func (s *Simulator) Put(j Journey) {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = s.clock.Now()
	}
	if j.StartAt.IsZero() {
		j.StartAt = j.CreatedAt
	}
	if j.EndAt.IsZero() {
		j.EndAt = j.StartAt
	}
	r := &record{Journey: j.clone(), normalised: true, checked: j.Status != StatusPending, statusAt: j.CreatedAt}
	s.mu.Lock()
	s.st.add(r)
	s.mu.Unlock()
}

// Journey returns a stored journey by operator_journey_id, whatever its
// operator.
func (s *Simulator) Journey(operatorJourneyID string) (Journey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.find(operatorJourneyID)
	if !ok {
		return Journey{}, false
	}
	return r.clone(), true
}

// StatusSince is when the journey's status last changed, in simulated
// time: when the registry decided what a check of it reads now.
func (s *Simulator) StatusSince(operatorJourneyID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.find(operatorJourneyID)
	if !ok {
		return time.Time{}, false
	}
	return r.statusAt, true
}

// AddCertificate stores a certificate for GET /certificates/{uuid}.
func (s *Simulator) AddCertificate(c Certificate) {
	s.mu.Lock()
	s.certificates[c.UUID] = c
	s.mu.Unlock()
}

// Tick runs, at the current simulated time, the traffic generator (if
// configured) and every due lifecycle step.
func (s *Simulator) Tick() {
	now := s.clock.Now()
	s.mu.Lock()
	var reports []Submission
	if s.gen != nil {
		s.gen.step(s, now)
		reports = s.gen.takeReports()
	}
	s.tickAt(now)
	s.mu.Unlock()
	s.report(reports)
}

// report calls OnSubmit outside the lock so the callback may use the
// simulator.
func (s *Simulator) report(reports []Submission) {
	if s.gen == nil || s.gen.cfg.OnSubmit == nil {
		return
	}
	for _, r := range reports {
		s.gen.cfg.OnSubmit(r)
	}
}

// Run calls Tick every Lifecycle.TickInterval of wall time until ctx ends.
func (s *Simulator) Run(ctx context.Context) {
	t := time.NewTicker(s.lifecycle.TickInterval)
	defer t.Stop()
	for {
		s.Tick()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Submit runs a POST /journeys body for operatorID through the same checks
// as the HTTP route, without authentication or rate limiting. The servers'
// checks and answers are the same for every version.
func (s *Simulator) Submit(operatorID int, body []byte) (int, []byte) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.submitAt(operatorID, body, now)
	return a.status, a.body
}

// versionLess compares "3.x" versions numerically enough for 3.1..3.9.
func versionLess(a, b string) bool { return a < b }
