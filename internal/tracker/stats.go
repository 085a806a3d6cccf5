package tracker

import "slices"

// SettleBuckets are the upper bounds, in seconds, of the histogram of the
// time from a journey's registration to its first settled status. They
// bracket the registry's normalisation and its 48–54 h batches.
var SettleBuckets = []float64{
	600, 3600, 6 * 3600, 12 * 3600, 24 * 3600, 36 * 3600, 48 * 3600,
	54 * 3600, 60 * 3600, 72 * 3600, 96 * 3600, 168 * 3600,
}

// Stats are a tracker's aggregates. Slices are indexed like the
// vocabularies' Names.
type Stats struct {
	Tracked int64
	// Polling journeys still have a check planned.
	Polling int64
	// PendingOverdue journeys were still pending at a check made after
	// their batch window (BatchWindowEnd + BatchCheckDelay from the
	// anchor).
	PendingOverdue                        int64
	ByStatus, ByFraud, ByAnomaly, ByTerms []int64
	BySource                              [numSources]int64
	SeenStatus, SeenFraud, SeenAnomaly    []uint64
	SeenTerms                             []uint64
	Registered                            [numSources]uint64
	NotFound                              uint64 // 404 answers
	Forgotten                             uint64 // journeys whose retention ended
	Settle                                Histogram
	// Lag is the submission lag of the journeys registered from their
	// submission, by source (LagBuckets); LagUnknown counts those that
	// gave no start, LagNegative those whose start came after their
	// submission (a clock skew).
	Lag                     [numSources]Histogram
	LagUnknown, LagNegative [numSources]uint64
}

// Histogram is a cumulative-ready histogram: Counts[i] counts the
// observations in bucket i alone.
type Histogram struct {
	Counts []uint64
	Sum    float64
	Count  uint64
}

func (h *Histogram) observe(bounds []float64, v float64) {
	h.Sum += v
	h.Count++
	for i, b := range bounds {
		if v <= b {
			h.Counts[i]++
			return
		}
	}
}

// Cumulative returns the counts of observations at or under each bound of
// the settle histogram.
func (h Histogram) Cumulative() map[float64]uint64 { return h.CumulativeOver(SettleBuckets) }

// CumulativeOver returns the counts of observations at or under each of
// bounds, the histogram's own.
func (h Histogram) CumulativeOver(bounds []float64) map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var c uint64
	for i, b := range bounds {
		if i < len(h.Counts) {
			c += h.Counts[i]
		}
		out[b] = c
	}
	return out
}

func newStats() Stats {
	s := Stats{
		ByStatus: make([]int64, Statuses.Len()), ByFraud: make([]int64, FraudLabels.Len()),
		ByAnomaly: make([]int64, AnomalyLabels.Len()), ByTerms: make([]int64, TermsReasons.Len()),
		SeenStatus: make([]uint64, Statuses.Len()), SeenFraud: make([]uint64, FraudLabels.Len()),
		SeenAnomaly: make([]uint64, AnomalyLabels.Len()), SeenTerms: make([]uint64, TermsReasons.Len()),
		Settle: Histogram{Counts: make([]uint64, len(SettleBuckets))},
	}
	for i := range s.Lag {
		s.Lag[i].Counts = make([]uint64, len(LagBuckets))
	}
	return s
}

// Stats returns a copy of the aggregates; its cost does not depend on the
// number of journeys.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Polling = s.Tracked - int64(t.expiring)
	s.ByStatus, s.ByFraud = append([]int64(nil), s.ByStatus...), append([]int64(nil), s.ByFraud...)
	s.ByAnomaly, s.ByTerms = append([]int64(nil), s.ByAnomaly...), append([]int64(nil), s.ByTerms...)
	s.SeenStatus, s.SeenFraud = append([]uint64(nil), s.SeenStatus...), append([]uint64(nil), s.SeenFraud...)
	s.SeenAnomaly, s.SeenTerms = append([]uint64(nil), s.SeenAnomaly...), append([]uint64(nil), s.SeenTerms...)
	s.Settle.Counts = append([]uint64(nil), s.Settle.Counts...)
	for i := range s.Lag {
		s.Lag[i].Counts = append([]uint64(nil), s.Lag[i].Counts...)
	}
	return s
}

// Latest names, for each first-seen count of Stats (SeenStatus,
// SeenFraud, SeenAnomaly, SeenTerms), the journey that last increased it,
// "" before the first: the counters' exemplars, an example journey behind
// a spike. They are stored with the totals: a restart keeps them.
type Latest struct {
	Status, Fraud, Anomaly, Terms []string
}

func newLatest() Latest {
	return Latest{
		Status: make([]string, Statuses.Len()), Fraud: make([]string, FraudLabels.Len()),
		Anomaly: make([]string, AnomalyLabels.Len()), Terms: make([]string, TermsReasons.Len()),
	}
}

// Latest returns a copy of the latest journeys counted.
func (t *Tracker) Latest() Latest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Latest{
		Status: slices.Clone(t.latest.Status), Fraud: slices.Clone(t.latest.Fraud),
		Anomaly: slices.Clone(t.latest.Anomaly), Terms: slices.Clone(t.latest.Terms),
	}
}
