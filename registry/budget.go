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

// Route groups share a counter on the registry (REGISTRY.md, "Rate
// limits"): status GETs, the list and PATCH share one; the token route has
// its own tiny one; everything else shares a third.
const (
	groupStatus = "status"
	groupToken  = "token"
	groupOther  = "other"
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
		// Unix seconds per REGISTRY.md; a small value is seconds from now,
		// as some rate limiters send.
		if reset < 1_000_000_000 {
			rl.Reset = time.Now().Add(time.Duration(reset) * time.Second)
		} else {
			rl.Reset = time.Unix(int64(reset), 0)
		}
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

// budget decides when the next request to one registry may leave. Three
// things hold a request back:
//   - the configured budget (a token bucket): the exporter's share of the
//     per-IP limit, which the operator's own traffic also spends;
//   - the registry's own counters, from X-RateLimit-Remaining/Reset: when
//     few requests are left in the window, the rest are spread over it, so
//     a 429 is the exception and not the way we learn of the limit;
//   - a 429: nothing at all is sent until its Retry-After has passed.
type budget struct {
	limiter      *rate.Limiter
	tokenLimiter *rate.Limiter
	now          func() time.Time

	mu           sync.Mutex
	blockedUntil time.Time
	groups       map[string]*groupState
}

type groupState struct {
	limit, remaining int
	reset            time.Time
	lastSent         time.Time
}

func newBudget(r rate.Limit, burst int, tokenRate rate.Limit, tokenBurst int, now func() time.Time) *budget {
	return &budget{
		limiter:      rate.NewLimiter(r, burst),
		tokenLimiter: rate.NewLimiter(tokenRate, tokenBurst),
		now:          now,
		groups:       map[string]*groupState{},
	}
}

// lowWaterShare is the share of a window's requests below which we start
// spreading what is left over the rest of the window.
const lowWaterShare = 0.1

// admit is how long a request of group must still wait for the registry's
// counters; zero means go, and then the request is booked against the
// known counter in the same critical section, so that concurrent callers
// cannot all spend the same last request.
func (b *budget) admit(group string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if d := b.blockedUntil.Sub(now); d > 0 {
		return d
	}
	g := b.groups[group]
	if g == nil {
		return 0
	}
	if !g.reset.After(now) {
		delete(b.groups, group)
		return 0
	}
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
	g.lastSent = now
	g.remaining--
	return 0
}

// observe records the counters an answer carried.
func (b *budget) observe(group string, rl RateLimit) {
	if !rl.Present || rl.Remaining < 0 || rl.Reset.IsZero() {
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

// block holds every request back until t (a 429's Retry-After).
func (b *budget) block(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.blockedUntil) {
		b.blockedUntil = t
	}
}

// blocked reports how long the registry is still closed to us by a 429.
func (b *budget) blocked() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(0, b.blockedUntil.Sub(b.now()))
}

// wait blocks until a request of group may leave, or fails with a
// rate-limited error as soon as it is clear the wait would outlast ctx.
func (b *budget) wait(ctx context.Context, endpoint, group string) error {
	for {
		d := b.admit(group)
		if d <= 0 {
			break
		}
		if dl, ok := ctx.Deadline(); ok && b.now().Add(d).After(dl) {
			return &Error{Kind: KindRateLimited, Endpoint: endpoint, RetryAfter: d,
				Message: "request budget exhausted until the registry's window resets"}
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	lim := b.limiter
	if group == groupToken {
		// The token route's own limit is far below the shared budget; it
		// also spends from the shared budget below.
		if err := b.reserve(ctx, endpoint, b.tokenLimiter); err != nil {
			return err
		}
	}
	return b.reserve(ctx, endpoint, lim)
}

func (b *budget) reserve(ctx context.Context, endpoint string, lim *rate.Limiter) error {
	r := lim.Reserve()
	if !r.OK() {
		return &Error{Kind: KindRateLimited, Endpoint: endpoint, Message: "request budget has no burst"}
	}
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
		r.Cancel()
		return &Error{Kind: KindRateLimited, Endpoint: endpoint, RetryAfter: d,
			Message: "configured request budget exhausted"}
	}
	if err := sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
