package tracker

import "time"

// Policy says when a journey is checked. Offsets marked "from the anchor"
// count from the journey's start when known, else from its created_at at
// the registry, else from its registration.
type Policy struct {
	FirstCheckDelay time.Duration // after registration
	PendingInterval time.Duration // between checks of a pending journey before the batches
	// BatchWindowStart and BatchWindowEnd, from the anchor, bound the
	// registry's fraud and anomaly batches; a journey is checked
	// BatchCheckDelay after each edge.
	BatchWindowStart time.Duration
	BatchWindowEnd   time.Duration
	BatchCheckDelay  time.Duration
	SettleAfter      time.Duration // from the anchor: the last check
	Retention        time.Duration // from the anchor: when the journey is forgotten
	// RetryAfterSkip: when a journey never checked misses its last
	// planned check to sampling, it is offered again this much later, so
	// a burst of old journeys is caught up once the budget allows.
	RetryAfterSkip time.Duration
	// MaxNotFound: after this many 404s in a row a journey is no longer
	// polled.
	MaxNotFound int
}

// DefaultPolicy follows REGISTRY.md's lifecycle.
var DefaultPolicy = Policy{
	FirstCheckDelay:  10 * time.Minute,
	PendingInterval:  24 * time.Hour,
	BatchWindowStart: 48 * time.Hour,
	BatchWindowEnd:   54 * time.Hour,
	BatchCheckDelay:  time.Hour,
	SettleAfter:      72 * time.Hour,
	Retention:        30 * 24 * time.Hour,
	RetryAfterSkip:   time.Hour,
	MaxNotFound:      3,
}

// anchor is the journey's start, created_at or registration, in Unix
// seconds.
func (j *journey) anchor() int64 {
	switch {
	case j.start != 0:
		return j.start
	case j.createdAt != 0:
		return j.createdAt
	}
	return j.registered
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// next returns when the journey is next checked after the moment after,
// or 0 when it is no longer polled.
func (p *Policy) next(j *journey, after int64) int64 {
	anchor := j.anchor()
	settle := anchor + secs(p.SettleAfter)
	if j.checks == 0 && j.flags&flagSkipped == 0 {
		return max(j.registered+secs(p.FirstCheckDelay), after)
	}
	if j.status == statusNotFound && int(j.misses) >= p.MaxNotFound {
		return 0
	}
	if after >= settle {
		if j.checks == 0 {
			return after + max(secs(p.RetryAfterSkip), 1)
		}
		return 0
	}
	if !j.undecided() {
		return settle
	}
	first := anchor + secs(p.BatchWindowStart+p.BatchCheckDelay)
	last := anchor + secs(p.BatchWindowEnd+p.BatchCheckDelay)
	pending := max(secs(p.PendingInterval), 1)
	switch {
	case after+pending < first-pending/2:
		return after + pending
	case after < first:
		// A re-check this close to the batches would tell nothing the
		// batch check will not.
		return first
	case after < last:
		return last
	}
	return settle
}

// expiry is when the journey leaves the tracker.
func (p *Policy) expiry(j *journey) int64 {
	return j.anchor() + secs(p.Retention)
}
