package simulator

import "time"

// Journey statuses the registry produces or documents.
const (
	StatusOK                  = "ok"
	StatusPending             = "pending"
	StatusCanceled            = "canceled"
	StatusUnknown             = "unknown"
	StatusFraudError          = "fraud_error"
	StatusAnomalyError        = "anomaly_error"
	StatusTermsViolationError = "terms_violation_error"
	StatusAcquisitionError    = "acquisition_error"
	StatusValidationError     = "validation_error"
	StatusNormalizationError  = "normalization_error"
)

// Fraud, anomaly and terms labels.
const (
	FraudOverlap       = "interoperator_overlap"
	FraudTooManyTrips  = "interoperator_too_many_trips_by_day"
	FraudTooCloseTrips = "interoperator_too_close_trips"

	AnomalyTemporalOverlap  = "temporal_overlap_anomaly"
	AnomalyDistanceDuration = "distance_duration_anomaly"

	TermsDistanceTooShort = "distance_too_short"
	TermsTooManyTrips     = "too_many_trips_by_day"
	TermsTooCloseTrips    = "too_close_trips"
	TermsExpired          = "expired"
)

// Journey is the registry's view of one submitted journey.
type Journey struct {
	OperatorID        int       `json:"operator_id"`
	OperatorJourneyID string    `json:"operator_journey_id"`
	JourneyID         int64     `json:"journey_id"`
	Status            string    `json:"status"`
	CreatedAt         time.Time `json:"created_at"`
	StartAt           time.Time `json:"start_at"`
	EndAt             time.Time `json:"end_at"`
	DistanceMeters    int       `json:"distance_meters"`
	DriverKey         string    `json:"driver_key,omitempty"`
	PassengerKey      string    `json:"passenger_key,omitempty"`
	TripID            string    `json:"trip_id,omitempty"`
	FraudLabels       []string  `json:"fraud_labels,omitempty"`
	Anomalies         []Anomaly `json:"anomalies,omitempty"`
	TermsViolations   []string  `json:"terms_violations,omitempty"`
}

// Anomaly is one entry of anomaly_error_details.
type Anomaly struct {
	Label                        string  `json:"label"`
	ConflictingOperatorJourneyID string  `json:"conflicting_operator_journey_id,omitempty"`
	OverlapRatio                 float64 `json:"overlap_ratio,omitempty"`
}

func (j Journey) clone() Journey {
	j.FraudLabels = append([]string(nil), j.FraudLabels...)
	j.Anomalies = append([]Anomaly(nil), j.Anomalies...)
	j.TermsViolations = append([]string(nil), j.TermsViolations...)
	return j
}

func (j Journey) duration() time.Duration { return j.EndAt.Sub(j.StartAt) }

func (j Journey) keys() []string {
	var keys []string
	for _, k := range []string{j.DriverKey, j.PassengerKey} {
		if k != "" && (len(keys) == 0 || keys[0] != k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// record is a stored journey plus the processing state the API never shows.
type record struct {
	Journey
	startLat, startLon float64
	endLat, endLon     float64
	// normalised is set once geographic normalisation ran (or was not needed).
	normalised bool
	// checked is set once the fraud and anomaly batch examined the journey;
	// until then the list answers it for status=pending whatever its status.
	checked bool
	// fraudFailed and anomalyFailed are the batch's results, kept even
	// when a cancel or a refusal takes precedence in the status: the
	// list's fraud_error and anomaly_error filters still see them.
	fraudFailed, anomalyFailed bool
	// statusAt is when the status last changed, in simulated time: when
	// the registry decided what a check reads now.
	statusAt time.Time
}

// overlap returns how long two spans share.
func overlap(aStart, aEnd, bStart, bEnd time.Time) time.Duration {
	start, end := aStart, aEnd
	if bStart.After(start) {
		start = bStart
	}
	if bEnd.Before(end) {
		end = bEnd
	}
	if !end.After(start) {
		return 0
	}
	return end.Sub(start)
}

// tooClose reports whether span b ends less than gap before a starts or
// starts less than gap after a ends, the registry's too_close_trips rule.
func tooClose(aStart, aEnd, bStart, bEnd time.Time, gap time.Duration) bool {
	if !bEnd.After(aStart) && aStart.Sub(bEnd) < gap {
		return true
	}
	return !bStart.Before(aEnd) && bStart.Sub(aEnd) < gap
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}
