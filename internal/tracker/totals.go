package tracker

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
}

// SettleTotals are the settle histogram's counts.
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
		Settle: SettleTotals{Sum: s.Settle.Sum, Count: s.Settle.Count},
	}
	for i, c := range s.Settle.Counts {
		if c != 0 && i < len(SettleBuckets) {
			out.Settle.Buckets = append(out.Settle.Buckets, BucketCount{UpperBound: SettleBuckets[i], Count: c})
		}
	}
	return out
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
	// A bucket whose bound this release no longer has goes to the next
	// larger one: its observations are still under that bound.
	for _, b := range tot.Settle.Buckets {
		for i, bound := range SettleBuckets {
			if b.UpperBound <= bound {
				s.Settle.Counts[i] += b.Count
				break
			}
		}
	}
	s.Settle.Sum += tot.Settle.Sum
	s.Settle.Count += tot.Settle.Count
}
