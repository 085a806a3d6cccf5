package tracker

import (
	"maps"
	"slices"
)

// Totals are a tracker's monotonic counts, keyed by label value rather
// than by index, so that a release whose vocabularies differ reads them
// back: a value it no longer knows is added to Other. They are what a
// restart must not reset.
type Totals struct {
	SeenStatus  map[string]uint64 `json:"seen_status,omitempty"`
	SeenFraud   map[string]uint64 `json:"seen_fraud_labels,omitempty"`
	SeenAnomaly map[string]uint64 `json:"seen_anomaly_labels,omitempty"`
	SeenTerms   map[string]uint64 `json:"seen_terms_reasons,omitempty"`
	Registered  map[string]uint64 `json:"registered,omitempty"`
	NotFound    uint64            `json:"not_found,omitempty"`
	Forgotten   uint64            `json:"forgotten,omitempty"`
	Settle      SettleTotals      `json:"settle"`
	// The submission lag, by source.
	Lag         map[string]SettleTotals `json:"submission_lag,omitempty"`
	LagUnknown  map[string]uint64       `json:"submission_lag_unknown,omitempty"`
	LagNegative map[string]uint64       `json:"submission_lag_negative,omitempty"`
	// The seen counters' exemplars (Latest), by label value: a restart
	// keeps the example journey behind each count. Added to the JSON
	// without a format change: a release that does not know them ignores
	// them, and a store written before them restores none.
	LatestStatus  map[string]string `json:"latest_status,omitempty"`
	LatestFraud   map[string]string `json:"latest_fraud_labels,omitempty"`
	LatestAnomaly map[string]string `json:"latest_anomaly_labels,omitempty"`
	LatestTerms   map[string]string `json:"latest_terms_reasons,omitempty"`
}

// SettleTotals are a histogram's counts: the settle histogram's, or a
// source's submission lag.
type SettleTotals struct {
	// Buckets count the observations of each bucket alone, by upper
	// bound.
	Buckets []BucketCount `json:"buckets,omitempty"`
	Sum     float64       `json:"sum"`
	Count   uint64        `json:"count"`
}

// BucketCount is one histogram bucket.
type BucketCount struct {
	UpperBound float64 `json:"le"`
	Count      uint64  `json:"count"`
}

// Totals returns the tracker's monotonic counts.
func (t *Tracker) Totals() Totals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totalsLocked()
}

func (t *Tracker) totalsLocked() Totals {
	s := &t.stats
	out := Totals{
		SeenStatus: byName(Statuses.names, s.SeenStatus), SeenFraud: byName(FraudLabels.names, s.SeenFraud),
		SeenAnomaly: byName(AnomalyLabels.names, s.SeenAnomaly), SeenTerms: byName(TermsReasons.names, s.SeenTerms),
		Registered: byName(SourceNames[:], s.Registered[:]),
		NotFound:   s.NotFound, Forgotten: s.Forgotten,
		Settle:       s.Settle.totals(SettleBuckets),
		LagUnknown:   byName(SourceNames[:], s.LagUnknown[:]),
		LagNegative:  byName(SourceNames[:], s.LagNegative[:]),
		LatestStatus: idsByName(Statuses.names, t.latest.Status), LatestFraud: idsByName(FraudLabels.names, t.latest.Fraud),
		LatestAnomaly: idsByName(AnomalyLabels.names, t.latest.Anomaly), LatestTerms: idsByName(TermsReasons.names, t.latest.Terms),
	}
	for i, h := range s.Lag {
		if h.Count == 0 {
			continue
		}
		if out.Lag == nil {
			out.Lag = map[string]SettleTotals{}
		}
		out.Lag[SourceNames[i]] = h.totals(LagBuckets)
	}
	return out
}

func (h *Histogram) totals(bounds []float64) SettleTotals {
	out := SettleTotals{Sum: h.Sum, Count: h.Count}
	for i, c := range h.Counts {
		if c != 0 && i < len(bounds) {
			out.Buckets = append(out.Buckets, BucketCount{UpperBound: bounds[i], Count: c})
		}
	}
	return out
}

// addTotals adds stored counts to h. A bucket whose bound this release no
// longer has goes to the next larger one: its observations are still
// under that bound.
func (h *Histogram) addTotals(bounds []float64, tot SettleTotals) {
	for _, b := range tot.Buckets {
		for i, bound := range bounds {
			if b.UpperBound <= bound {
				h.Counts[i] += b.Count
				break
			}
		}
	}
	h.Sum += tot.Sum
	h.Count += tot.Count
}

// byName keeps the counts that are not 0.
func byName(names []string, counts []uint64) map[string]uint64 {
	var out map[string]uint64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if out == nil {
			out = map[string]uint64{}
		}
		out[names[i]] += c
	}
	return out
}

// idsByName keeps the ids that are not "".
func idsByName(names, ids []string) map[string]string {
	var out map[string]string
	for i, id := range ids {
		if id == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[names[i]] = id
	}
	return out
}

// restoreLatest puts stored exemplars back. A value this release no
// longer knows, whose count went to Other, gives Other its example only
// if Other has none of its own, the first of them by name so that a
// restart always picks the same.
func restoreLatest(v *Vocabulary, from map[string]string, to []string) {
	folded := ""
	for _, name := range slices.Sorted(maps.Keys(from)) {
		i := v.Index(name)
		if v.names[i] == name {
			to[i] = from[name]
		} else if folded == "" {
			folded = from[name]
		}
	}
	if other := v.Index(Other); to[other] == "" {
		to[other] = folded
	}
}

// applyTotals adds stored totals to the tracker's; t.mu is held.
func (t *Tracker) applyTotals(tot Totals) {
	s := &t.stats
	for _, c := range []struct {
		from map[string]uint64
		v    *Vocabulary
		to   []uint64
	}{
		{tot.SeenStatus, Statuses, s.SeenStatus}, {tot.SeenFraud, FraudLabels, s.SeenFraud},
		{tot.SeenAnomaly, AnomalyLabels, s.SeenAnomaly}, {tot.SeenTerms, TermsReasons, s.SeenTerms},
	} {
		for name, n := range c.from {
			c.to[c.v.Index(name)] += n
		}
	}
	for name, n := range tot.Registered {
		s.Registered[sourceNamed(name)] += n
	}
	s.NotFound += tot.NotFound
	s.Forgotten += tot.Forgotten
	s.Settle.addTotals(SettleBuckets, tot.Settle)
	for name, h := range tot.Lag {
		s.Lag[sourceNamed(name)].addTotals(LagBuckets, h)
	}
	for name, n := range tot.LagUnknown {
		s.LagUnknown[sourceNamed(name)] += n
	}
	for name, n := range tot.LagNegative {
		s.LagNegative[sourceNamed(name)] += n
	}
	restoreLatest(Statuses, tot.LatestStatus, t.latest.Status)
	restoreLatest(FraudLabels, tot.LatestFraud, t.latest.Fraud)
	restoreLatest(AnomalyLabels, tot.LatestAnomaly, t.latest.Anomaly)
	restoreLatest(TermsReasons, tot.LatestTerms, t.latest.Terms)
}
