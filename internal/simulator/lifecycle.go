package simulator

import (
	"cmp"
	"slices"
	"time"
)

// Anomaly thresholds from the registry's documentation.
const (
	minAnomalyDistance     = 300
	minAnomalyDuration     = time.Minute
	temporalOverlapMinimum = 0.7
)

// tickAt runs the lifecycle steps due at now. The caller holds s.mu.
func (s *Simulator) tickAt(now time.Time) {
	s.normalise(now)
	if s.lastBatch.IsZero() || now.Sub(s.lastBatch) >= s.lifecycle.BatchInterval {
		s.batch(now)
		s.lastBatch = now
		s.st.purge(now.Add(-s.lifecycle.Retention))
	}
}

// normalise plays the asynchronous geographic normalisation: a journey
// whose points fall outside France and its overseas territories cannot be
// geocoded and ends in acquisition_error.
func (s *Simulator) normalise(now time.Time) {
	keep := s.st.pending[:0]
	for _, r := range s.st.pending {
		if now.Sub(r.CreatedAt) < s.lifecycle.NormalisationDelay {
			keep = append(keep, r)
			continue
		}
		r.normalised = true
		if r.Status == StatusPending && (!plausible(r.startLat, r.startLon) || !plausible(r.endLat, r.endLon)) {
			r.Status, r.statusAt = StatusAcquisitionError, now
			r.checked = true
			delete(s.st.unchecked, r)
		}
	}
	clear(s.st.pending[len(keep):])
	s.st.pending = keep
}

// territories are rough bounding boxes (lat, lon) of metropolitan France
// and the overseas departments.
var territories = [][4]float64{
	{41.0, 51.5, -5.5, 10.0},     // metropolitan France and Corsica
	{15.8, 16.6, -61.9, -60.9},   // Guadeloupe
	{14.3, 14.9, -61.3, -60.7},   // Martinique
	{2.0, 6.0, -54.7, -51.5},     // French Guiana
	{-21.5, -20.8, 55.1, 56.0},   // La Réunion
	{-13.1, -12.5, 44.9, 45.4},   // Mayotte
	{17.8, 18.2, -63.2, -62.7},   // Saint-Martin and Saint-Barthélemy
	{46.7, 47.2, -56.5, -56.0},   // Saint-Pierre-et-Miquelon
	{-23.0, -19.0, 163.0, 169.0}, // New Caledonia
}

func plausible(lat, lon float64) bool {
	for _, t := range territories {
		if lat >= t[0] && lat <= t[1] && lon >= t[2] && lon <= t[3] {
			return true
		}
	}
	return false
}

// batch is one run of the fraud and anomaly checks. Journeys that started
// within the check window are examined; older unchecked ones are passed,
// as the registry does when a batch missed them.
func (s *Simulator) batch(now time.Time) {
	from := now.Add(-s.lifecycle.CheckTo)
	to := now.Add(-s.lifecycle.CheckFrom)
	var due []*record
	for r := range s.st.unchecked {
		if !r.StartAt.After(to) && r.normalised {
			due = append(due, r)
		}
	}
	// Map iteration is random; sorting keeps runs deterministic for a seed.
	slices.SortFunc(due, func(a, b *record) int { return cmp.Compare(a.JourneyID, b.JourneyID) })
	for _, r := range due {
		delete(s.st.unchecked, r)
		r.checked = true
		if r.Status != StatusPending {
			// The checks run whatever the status; the list's
			// overlapping filters show their result, and the
			// per-journey GET its fraud labels.
			if !r.StartAt.Before(from) {
				r.FraudLabels = s.fraudLabels(r.Journey)
				r.fraudFailed = len(r.FraudLabels) > 0
				r.anomalyFailed = !r.fraudFailed && len(s.anomalies(r.Journey)) > 0
			}
			continue
		}
		r.statusAt = now
		if r.StartAt.Before(from) {
			r.Status = StatusOK
			continue
		}
		if labels := s.fraudLabels(r.Journey); len(labels) > 0 {
			r.Status, r.FraudLabels, r.fraudFailed = StatusFraudError, labels, true
			continue
		}
		if anomalies := s.anomalies(r.Journey); len(anomalies) > 0 {
			r.Status, r.Anomalies, r.anomalyFailed = StatusAnomalyError, anomalies, true
			continue
		}
		r.Status = StatusOK
	}
}

// fraudLabels compares j with the journeys other operators declared for
// the same people.
func (s *Simulator) fraudLabels(j Journey) []string {
	var overlapping, closeTrip bool
	tooMany := false
	for _, k := range j.keys() {
		sameDayOther := 0
		for _, t := range s.st.interop[k] {
			if t.operatorID == j.OperatorID {
				continue
			}
			if overlap(j.StartAt, j.EndAt, t.start, t.end) > 0 {
				overlapping = true
			} else if tooClose(j.StartAt, j.EndAt, t.start, t.end, minGapBetweenTrips) {
				closeTrip = true
			}
			if sameDay(t.start, j.StartAt) {
				sameDayOther++
			}
		}
		if sameDayOther == 0 {
			continue
		}
		own := map[string]bool{j.TripID: true}
		for _, o := range s.st.byKey[idKey(j.OperatorID, k)] {
			if counts(o) && sameDay(o.StartAt, j.StartAt) {
				own[o.TripID] = true
			}
		}
		if len(own)+sameDayOther > maxTripsPerDay {
			tooMany = true
		}
	}
	var labels []string
	if overlapping {
		labels = append(labels, FraudOverlap)
	}
	if tooMany {
		labels = append(labels, FraudTooManyTrips)
	}
	if closeTrip {
		labels = append(labels, FraudTooCloseTrips)
	}
	return labels
}

// anomalies applies the registry's documented rules that need no routing
// engine: too short a distance or duration, and two journeys of the same
// passenger at the same operator sharing at least 70% of their time. The
// journey registered second carries the temporal anomaly.
func (s *Simulator) anomalies(j Journey) []Anomaly {
	var out []Anomaly
	if j.DistanceMeters < minAnomalyDistance || j.duration() < minAnomalyDuration {
		out = append(out, Anomaly{Label: AnomalyDistanceDuration})
	}
	if j.PassengerKey == "" {
		return out
	}
	for _, o := range s.st.byKey[idKey(j.OperatorID, j.PassengerKey)] {
		if o.OperatorJourneyID == j.OperatorJourneyID || o.PassengerKey != j.PassengerKey ||
			o.JourneyID > j.JourneyID || o.Status == StatusCanceled || o.Status == StatusTermsViolationError {
			continue
		}
		shorter := min(j.duration(), o.duration())
		if shorter <= 0 {
			continue
		}
		ratio := float64(overlap(j.StartAt, j.EndAt, o.StartAt, o.EndAt)) / float64(shorter)
		if ratio >= temporalOverlapMinimum {
			out = append(out, Anomaly{
				Label:                        AnomalyTemporalOverlap,
				ConflictingOperatorJourneyID: o.OperatorJourneyID,
				OverlapRatio:                 float64(int(ratio*1000)) / 1000,
			})
			break
		}
	}
	return out
}
