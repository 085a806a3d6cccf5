package tracker

import (
	"slices"
	"time"
)

// LagBuckets are the upper bounds, in seconds, of the histogram of the
// submission lag: the time from a journey's start to its submission. The
// registry refuses for good a journey submitted more than 24 h after its
// start (expired): minutes resolve a healthy pipeline, an hour a bound
// from 12 to 24 h resolves one falling behind while there is still time,
// and 26 and 30 h what is already lost.
var LagBuckets = []float64{
	60, 5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 3 * 3600, 4 * 3600, 6 * 3600, 8 * 3600, 10 * 3600,
	12 * 3600, 13 * 3600, 14 * 3600, 15 * 3600, 16 * 3600, 17 * 3600, 18 * 3600,
	19 * 3600, 20 * 3600, 21 * 3600, 22 * 3600, 23 * 3600, 24 * 3600,
	26 * 3600, 30 * 3600,
}

// LagSources are the sources that register a journey from its
// submission, the values of the source label of the lag metrics.
var LagSources = []Source{SourceDemo, SourcePush, SourceProxy}

// Submits tells whether a registration from s comes from the journey's
// submission, so that its lag means the operator's: the proxy relays the
// submission, a push follows it, the demo's operator makes it. The
// configuration and discovery find journeys at a time of their own.
func (s Source) Submits() bool {
	return slices.Contains(LagSources, s)
}

// observeLag counts a journey's submission lag. A start that is unknown,
// or after the submission, is counted apart rather than guessed or
// folded into the first bucket: a clock skew must show as such.
func (s *Stats) observeLag(src Source, start, submitted time.Time) {
	if src >= numSources {
		return
	}
	switch {
	case start.IsZero():
		s.LagUnknown[src]++
	case start.After(submitted):
		s.LagNegative[src]++
	default:
		s.Lag[src].observe(LagBuckets, submitted.Sub(start).Seconds())
	}
}
