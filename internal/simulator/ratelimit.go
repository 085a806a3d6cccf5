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

// rateLimiter counts requests per client IP and group in fixed windows,
// each starting at the first request after the previous one ended, like
// express-rate-limit's store on the servers.
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
	l.mu.Lock()
	defer l.mu.Unlock()
	key := group + "|" + ip
	w := l.counts[key]
	if w == nil || !now.Before(w.start.Add(lim.Window)) {
		if len(l.counts) > 100000 {
			l.sweep(now)
		}
		w = &windowCount{start: now}
		l.counts[key] = w
	}
	d := rateDecision{limit: lim.Requests, reset: w.start.Add(lim.Window)}
	if w.count >= lim.Requests {
		return d
	}
	w.count++
	d.allowed = true
	d.remaining = lim.Requests - w.count
	return d
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
