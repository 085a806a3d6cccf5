package registry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Route groups share a counter on the registry (docs/registry.md, "Rate
// limits"): status GETs, the list and PATCH share one; the token route has
// its own tiny one; /health its own; everything else shares a fourth.
const (
	groupStatus = "status"
	groupToken  = "token"
	groupOther  = "other"
	groupHealth = "health"
)

// RateLimit is what the X-RateLimit-* headers of one answer said.
type RateLimit struct {
	Present   bool
	Limit     int
	Remaining int
	Reset     time.Time
}

func parseRateLimit(h http.Header) RateLimit {
	var rl RateLimit
	lim, okL := headerInt(h, "X-RateLimit-Limit")
	rem, okR := headerInt(h, "X-RateLimit-Remaining")
	if !okL && !okR {
		return rl
	}
	rl.Present, rl.Limit, rl.Remaining = true, lim, rem
	if !okR {
		rl.Remaining = -1 // unknown
	}
	if reset, ok := headerInt(h, "X-RateLimit-Reset"); ok && reset > 0 {
		// Unix epoch seconds (docs/registry.md): a small value is
		// a moment long past, which observe then ignores, never a delay.
		rl.Reset = time.Unix(int64(reset), 0)
	}
	return rl
}

func headerInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return 0, false
	}
	return int(n), true
}

// budget decides when the next request to one registry may leave. Four
// things hold a request back:
//   - a 429: nothing at all is sent to the limited routes until its
//     Retry-After has passed, whoever was already waiting;
//   - the registry's own counters, from X-RateLimit-Remaining/Reset: when
//     few requests are left in the window, the rest are spread over it, so
//     a 429 is the exception and not the way we learn of the limit;
//   - the configured budget (a token bucket): the exporter's share of the
//     per-IP limit, which the operator's own traffic also spends;
//   - for the token route, its own tiny limit.
//
// Every check and every spending happen in one critical section at the
// moment a request leaves: nothing is reserved ahead, so a request that
// waited re-reads the block when it wakes, and no more than the burst can
// leave at once, however many waited through a pause.
//
// /health is apart: it has its own counter on the servers (100 per 5
// minutes), so it neither spends the status budget nor waits for another
// route's 429, and a storm of them cannot read as the registry being down.
type budget struct {
	limiter       *rate.Limiter
	tokenLimiter  *rate.Limiter
	healthLimiter *rate.Limiter
	clock         Clock

	mu                 sync.Mutex
	blockedUntil       time.Time // the limited routes, after a 429
	healthBlockedUntil time.Time // /health, after its own 429
	groups             map[string]*groupState
}

type groupState struct {
	limit, remaining int
	reset            time.Time
	lastSent         time.Time
}

func newBudget(r rate.Limit, burst int, tokenRate rate.Limit, tokenBurst int, healthRate rate.Limit, healthBurst int, clk Clock) *budget {
	return &budget{
		limiter:       rate.NewLimiter(r, burst),
		tokenLimiter:  rate.NewLimiter(tokenRate, tokenBurst),
		healthLimiter: rate.NewLimiter(healthRate, healthBurst),
		clock:         clk,
		groups:        map[string]*groupState{},
	}
}

// lowWaterShare is the share of a window's requests below which we start
// spreading what is left over the rest of the window.
const lowWaterShare = 0.1

// take is how long a request of group must still wait; zero means go, and
// then the request has been booked against every limit in the same
// critical section, so that concurrent callers cannot all spend the same
// last request, nor a burst leave after a pause.
func (b *budget) take(group string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	if group == groupHealth {
		if d := b.healthBlockedUntil.Sub(now); d > 0 {
			return d
		}
		return spend(now, b.healthLimiter)
	}
	if d := b.blockedUntil.Sub(now); d > 0 {
		return d
	}
	g := b.groups[group]
	if g != nil && !g.reset.After(now) {
		delete(b.groups, group)
		g = nil
	}
	if g != nil {
		if g.remaining <= 0 {
			return g.reset.Sub(now)
		}
		lowWater := max(1, int(float64(g.limit)*lowWaterShare))
		if g.remaining <= lowWater {
			interval := g.reset.Sub(now) / time.Duration(g.remaining+1)
			if d := g.lastSent.Add(interval).Sub(now); d > 0 {
				return d
			}
		}
	}
	lims := []*rate.Limiter{b.limiter}
	if group == groupToken {
		// The token route's own limit is far below the shared budget; it
		// also spends from the shared budget.
		lims = append(lims, b.tokenLimiter)
	}
	if d := spend(now, lims...); d > 0 {
		return d
	}
	if g != nil {
		g.lastSent = now
		g.remaining--
	}
	return 0
}

// spend takes a token from every limiter, or from none and says how long
// until all have one.
func spend(now time.Time, lims ...*rate.Limiter) time.Duration {
	var wait time.Duration
	for _, l := range lims {
		if missing := 1 - l.TokensAt(now); missing > 0 {
			if l.Limit() <= 0 {
				return time.Hour // a zero rate never refills; look again later
			}
			wait = max(wait, time.Duration(missing/float64(l.Limit())*float64(time.Second))+time.Millisecond)
		}
	}
	if wait > 0 {
		return wait
	}
	for _, l := range lims {
		l.AllowN(now, 1)
	}
	return 0
}

// observe records the counters an answer carried.
func (b *budget) observe(group string, rl RateLimit) {
	if group == groupHealth || !rl.Present || rl.Remaining < 0 || rl.Reset.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.groups[group]
	switch {
	case g == nil || rl.Reset.After(g.reset):
		b.groups[group] = &groupState{limit: rl.Limit, remaining: rl.Remaining, reset: rl.Reset}
	case rl.Reset.Equal(g.reset):
		// Answers arrive out of order; within a window the registry's
		// count only goes down, and our own bookings may be ahead of it.
		g.remaining = min(g.remaining, rl.Remaining)
	}
	// An answer from an earlier window says nothing about this one.
}

// block holds every request of the limited routes back until t (a 429's
// Retry-After); a 429 from /health holds back /health only.
func (b *budget) block(group string, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	until := &b.blockedUntil
	if group == groupHealth {
		until = &b.healthBlockedUntil
	}
	if t.After(*until) {
		*until = t
	}
}

// blocked reports how long the limited routes are still closed to us by a
// 429.
func (b *budget) blocked() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(0, b.blockedUntil.Sub(b.clock.Now()))
}

// wait blocks until a request of group may leave, or fails with a
// rate-limited error as soon as it is clear the wait would outlast ctx.
// Whatever woke it, it looks at every limit again before going.
func (b *budget) wait(ctx context.Context, endpoint, group string) error {
	for {
		d := b.take(group)
		if d <= 0 {
			return nil
		}
		if outlasts(ctx, b.clock, d) {
			return &Error{Kind: KindRateLimited, Endpoint: endpoint, RetryAfter: d,
				Message: "request budget exhausted until the registry's window resets"}
		}
		if err := b.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}
