package simulator

import (
	"net/http"
	"slices"
	"strconv"
)

// status is GET /journeys/{operator_journey_id}.
func (s *Simulator) status(req *apiRequest) answer {
	id := req.segments[1]
	if !validOperatorJourneyID(id) {
		return invalidParams(badOperatorJourneyID)
	}
	s.mu.Lock()
	r, ok := s.st.get(req.who.operatorID, id)
	var j Journey
	if ok {
		j = r.clone()
	}
	s.mu.Unlock()
	if !ok {
		return s.journeyNotFound()
	}
	return jsonAnswer(http.StatusOK, s.statusObject(j))
}

func (s *Simulator) journeyNotFound() answer {
	if s.Faults().LegacyNotFound {
		return rawAnswer(http.StatusNotFound, bodyNotFoundOld)
	}
	return rawAnswer(http.StatusNotFound, bodyNotFound)
}

// statusObject renders a journey in the shape the server code sends, or
// the one the specs describe, per Faults.StatusVariant.
func (s *Simulator) statusObject(j Journey) any {
	spec := false
	switch s.Faults().StatusVariant {
	case VariantSpec:
		spec = true
	case VariantMixed:
		spec = s.chance(0.5)
	}
	anomalies := make([]map[string]any, 0, len(j.Anomalies))
	for _, a := range j.Anomalies {
		var metas map[string]any // null for distance_duration_anomaly, as the servers send
		if a.ConflictingOperatorJourneyID != "" {
			metas = map[string]any{}
			if spec {
				metas["conflicting_journey_id"] = a.ConflictingOperatorJourneyID
				metas["temporal_overlap_duration_ratio"] = a.OverlapRatio
			} else {
				metas["conflicting_operator_journey_id"] = a.ConflictingOperatorJourneyID
				metas["overlap_duration_ratio"] = a.OverlapRatio
			}
		}
		anomalies = append(anomalies, map[string]any{"label": a.Label, "metas": metas})
	}
	terms := j.TermsViolations
	if terms == nil {
		terms = []string{}
	}
	var fraud any = j.FraudLabels
	if j.FraudLabels == nil {
		fraud = []string{}
	}
	if spec {
		labels := make([]map[string]string, 0, len(j.FraudLabels))
		for _, l := range j.FraudLabels {
			labels = append(labels, map[string]string{"label": l})
		}
		fraud = labels
	}
	// The servers' driver returns the bigint as a string of digits.
	var journeyID any = strconv.FormatInt(j.JourneyID, 10)
	if s.Faults().NumericJourneyID {
		journeyID = j.JourneyID
	}
	created := formatMillis(j.CreatedAt)
	if s.Faults().SecondsCreatedAt {
		created = formatTime(j.CreatedAt)
	}
	return struct {
		OperatorJourneyID     string           `json:"operator_journey_id"`
		Status                string           `json:"status"`
		CreatedAt             string           `json:"created_at"`
		JourneyID             any              `json:"journey_id"`
		FraudErrorLabels      any              `json:"fraud_error_labels"`
		AnomalyErrorDetails   []map[string]any `json:"anomaly_error_details"`
		TermsViolationDetails []string         `json:"terms_violation_details"`
	}{j.OperatorJourneyID, j.Status, created, journeyID, fraud, anomalies, terms}
}

// v2Status is GET /v2/journeys/{journey_id}, keyed by the registry's own id.
func (s *Simulator) v2Status(req *apiRequest) answer {
	n, err := strconv.ParseInt(req.segments[1], 10, 64)
	if err != nil {
		return invalidParams("journey_id must be a number")
	}
	s.mu.Lock()
	r, ok := s.st.byNumber[n]
	var j Journey
	if ok && r.OperatorID == req.who.operatorID {
		j = r.clone()
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return rawAnswer(http.StatusNotFound, bodyNotFound)
	}
	return rpcResult(http.StatusOK, map[string]string{
		"journey_id": strconv.FormatInt(j.JourneyID, 10),
		"status":     v2StatusName(j),
		"created_at": formatTime(j.CreatedAt),
	})
}

// v2StatusName maps a status to the v2 vocabulary, which named late
// journeys and fraud differently.
func v2StatusName(j Journey) string {
	switch j.Status {
	case StatusFraudError:
		return "fraudcheck_error"
	case StatusTermsViolationError:
		if slices.Contains(j.TermsViolations, TermsExpired) {
			return "expired"
		}
	}
	return j.Status
}
