package simulator

import (
	"strings"
	"sync"
	"time"
)

// Route groups, each with its own counter per client IP.
const (
	groupStatus = "status"
	groupSubmit = "submit"
	groupToken  = "token"
	groupOther  = "other"
	groupHealth = "health"
)

type windowCount struct {
	start time.Time
	count int
}

// rateLimiter counts requests in fixed wall-clock windows aligned on the
// Unix epoch, like the registry's limiter.
type rateLimiter struct {
	limits Limits
	mu     sync.Mutex
	counts map[string]*windowCount
}

func newRateLimiter(l Limits) *rateLimiter {
	return &rateLimiter{limits: l, counts: map[string]*windowCount{}}
}

func (l *rateLimiter) limit(group string) Limit {
	switch group {
	case groupStatus:
		return l.limits.Status
	case groupSubmit:
		return l.limits.Submit
	case groupToken:
		return l.limits.Token
	case groupHealth:
		return l.limits.Health
	default:
		return l.limits.Other
	}
}

type rateDecision struct {
	allowed   bool
	limit     int
	remaining int
	reset     time.Time
}

// take counts one request, or refuses it when the window is used up.
func (l *rateLimiter) take(ip, group string, now time.Time) rateDecision {
	lim := l.limit(group)
	start := now.Truncate(lim.Window)
	l.mu.Lock()
	defer l.mu.Unlock()
	key := group + "|" + ip
	w := l.counts[key]
	if w == nil || !w.start.Equal(start) {
		if len(l.counts) > 100000 {
			l.sweep(now)
		}
		w = &windowCount{start: start}
		l.counts[key] = w
	}
	d := rateDecision{limit: lim.Requests, reset: start.Add(lim.Window)}
	if w.count >= lim.Requests {
		return d
	}
	w.count++
	d.allowed = true
	d.remaining = lim.Requests - w.count
	return d
}

// refund gives back a request that must not count: a 401 (docs/registry.md,
// "Rate limits": 403, 400, 404 and 500 answers are counted).
func (l *rateLimiter) refund(ip, group string, now time.Time) {
	start := now.Truncate(l.limit(group).Window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.counts[group+"|"+ip]; w != nil && w.start.Equal(start) && w.count > 0 {
		w.count--
	}
}

// sweep drops finished windows so many client IPs cannot grow the map
// without bound.
func (l *rateLimiter) sweep(now time.Time) {
	for k, w := range l.counts {
		if now.Sub(w.start) > l.limit(groupOf(k)).Window {
			delete(l.counts, k)
		}
	}
}

func groupOf(key string) string {
	group, _, _ := strings.Cut(key, "|")
	return group
}
