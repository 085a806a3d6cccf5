package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The values docs/registry.md lists. The registry adds new ones without notice:
// decoders keep whatever string they get and callers bound them with
// KnownStatus and friends, so an unexpected value is data, not an error.
var (
	Statuses = []string{
		"ok", "pending", "canceled", "unknown", "fraud_error", "anomaly_error",
		"terms_violation_error", "acquisition_error", "validation_error",
		"normalization_error",
	}
	// StatusesV2 are the extra statuses the v2 API reports.
	StatusesV2    = []string{"expired", "fraudcheck_error"}
	FraudLabels   = []string{"interoperator_overlap", "interoperator_too_many_trips_by_day", "interoperator_too_close_trips"}
	AnomalyLabels = []string{"temporal_overlap_anomaly", "distance_duration_anomaly"}
	TermsReasons  = []string{"distance_too_short", "too_many_trips_by_day", "too_close_trips", "expired"}
	// CertificateTypes are the values of a certificate's "type".
	CertificateTypes = []string{"ok", "expired"}
)

// JourneyStatus is the registry's verdict on one journey (v3.x).
type JourneyStatus struct {
	OperatorJourneyID string
	// JourneyID is the registry's own id, a number in the code and a string
	// in the specs; kept as its decimal or string form.
	JourneyID       string
	Status          string
	CreatedAt       time.Time // zero when absent or in a format we cannot read
	FraudLabels     []string
	Anomalies       []Anomaly
	TermsViolations []string
}

// Anomaly is one entry of anomaly_error_details.
type Anomaly struct {
	Label string
	// ConflictingJourneyID is metas.conflicting_operator_journey_id (the
	// code) or metas.conflicting_journey_id (the spec).
	ConflictingJourneyID string
	// OverlapRatio is metas.overlap_duration_ratio (the code) or
	// metas.temporal_overlap_duration_ratio (the spec); HasOverlapRatio
	// tells a real 0 from an absent value.
	OverlapRatio    float64
	HasOverlapRatio bool
}

type wireStatus struct {
	OperatorJourneyID   *string           `json:"operator_journey_id"`
	JourneyID           json.RawMessage   `json:"journey_id"`
	Status              *string           `json:"status"`
	CreatedAt           json.RawMessage   `json:"created_at"`
	FraudErrorLabels    []json.RawMessage `json:"fraud_error_labels"`
	AnomalyErrorDetails []wireAnomaly     `json:"anomaly_error_details"`
	TermsViolation      []json.RawMessage `json:"terms_violation_details"`
}

type wireAnomaly struct {
	Label string `json:"label"`
	Metas struct {
		ConflictingOperatorJourneyID json.RawMessage `json:"conflicting_operator_journey_id"`
		ConflictingJourneyID         json.RawMessage `json:"conflicting_journey_id"`
		OverlapDurationRatio         json.RawMessage `json:"overlap_duration_ratio"`
		TemporalOverlapDurationRatio json.RawMessage `json:"temporal_overlap_duration_ratio"`
	} `json:"metas"`
}

// DecodeJourneyStatus reads a v3.x status body in either variant docs/registry.md
// describes. Only a body that is not a JSON object, or that lacks a status,
// is an error.
func DecodeJourneyStatus(body []byte) (JourneyStatus, error) {
	var w wireStatus
	if err := json.Unmarshal(body, &w); err != nil {
		return JourneyStatus{}, fmt.Errorf("status body: %w", err)
	}
	if w.Status == nil {
		return JourneyStatus{}, errors.New("status body: no status field")
	}
	js := JourneyStatus{
		Status:    *w.Status,
		JourneyID: scalarString(w.JourneyID),
		CreatedAt: parseTime(w.CreatedAt),
	}
	if w.OperatorJourneyID != nil {
		js.OperatorJourneyID = *w.OperatorJourneyID
	}
	for _, raw := range w.FraudErrorLabels {
		if l := labelOf(raw); l != "" {
			js.FraudLabels = append(js.FraudLabels, l)
		}
	}
	for _, a := range w.AnomalyErrorDetails {
		an := Anomaly{Label: a.Label}
		an.ConflictingJourneyID = scalarString(a.Metas.ConflictingOperatorJourneyID)
		if an.ConflictingJourneyID == "" {
			an.ConflictingJourneyID = scalarString(a.Metas.ConflictingJourneyID)
		}
		if r, ok := number(a.Metas.OverlapDurationRatio); ok {
			an.OverlapRatio, an.HasOverlapRatio = r, true
		} else if r, ok := number(a.Metas.TemporalOverlapDurationRatio); ok {
			an.OverlapRatio, an.HasOverlapRatio = r, true
		}
		js.Anomalies = append(js.Anomalies, an)
	}
	for _, raw := range w.TermsViolation {
		if l := labelOf(raw); l != "" {
			js.TermsViolations = append(js.TermsViolations, l)
		}
	}
	return js, nil
}

// JourneyStatusV2 is the v2 API's answer: fewer fields, and its
// own status values (expired, fraudcheck_error).
type JourneyStatusV2 struct {
	JourneyID string
	Status    string
	CreatedAt time.Time
}

// DecodeJourneyStatusV2 reads the JSON-RPC envelope of the v2 status call.
func DecodeJourneyStatusV2(body []byte) (JourneyStatusV2, error) {
	var env struct {
		Result *struct {
			JourneyID json.RawMessage `json:"journey_id"`
			Status    *string         `json:"status"`
			CreatedAt json.RawMessage `json:"created_at"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return JourneyStatusV2{}, fmt.Errorf("v2 status body: %w", err)
	}
	if env.Result == nil {
		return JourneyStatusV2{}, errors.New("v2 status body: no result")
	}
	if env.Result.Status == nil {
		return JourneyStatusV2{}, errors.New("v2 status body: no status field")
	}
	return JourneyStatusV2{
		JourneyID: scalarString(env.Result.JourneyID),
		Status:    *env.Result.Status,
		CreatedAt: parseTime(env.Result.CreatedAt),
	}, nil
}

// DecodeJourneyList reads a list page: a plain array of objects with an
// operator_journey_id. Entries without an id are skipped.
func DecodeJourneyList(body []byte) ([]string, error) {
	var rows []struct {
		OperatorJourneyID json.RawMessage `json:"operator_journey_id"`
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("journey list body: %w", err)
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		if id := scalarString(r.OperatorJourneyID); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Health is the registry's /health answer.
type Health struct {
	Status string
}

// DecodeHealth reads {"status":"ok"}.
func DecodeHealth(body []byte) (Health, error) {
	var h struct {
		Status *string `json:"status"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return Health{}, fmt.Errorf("health body: %w", err)
	}
	if h.Status == nil {
		return Health{}, errors.New("health body: no status field")
	}
	return Health{Status: *h.Status}, nil
}

// labelOf accepts "label" and {"label": "label"}.
func labelOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var o struct {
			Label json.RawMessage `json:"label"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return ""
		}
		return scalarString(o.Label)
	}
	return scalarString(raw)
}

// scalarString reads a JSON string or number as a string; anything else
// (null, objects) gives "".
func scalarString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// number reads a JSON number or numeric string.
func number(raw json.RawMessage) (float64, bool) {
	s := scalarString(raw)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// timeLayouts are the shapes dates take across the specs and the code:
// RFC 3339, and the "+0100" offsets of the spec examples.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
}

func parseTime(raw json.RawMessage) time.Time {
	s := strings.TrimSpace(scalarString(raw))
	if s == "" {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
