package simulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"
)

// submit is POST /journeys.
func (s *Simulator) submit(req *apiRequest) answer {
	body, failed := readBody(req.r)
	if failed != nil {
		return *failed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitAt(req.who.operatorID, body, req.now)
}

// patch is PATCH /journeys/{id}: the registry stores the update and sends
// the journey through the fraud and anomaly checks again.
func (s *Simulator) patch(req *apiRequest) answer {
	id := req.segments[1]
	if !validOperatorJourneyID(id) {
		return invalidParams(badOperatorJourneyID)
	}
	body, failed := readBody(req.r)
	if failed != nil {
		return *failed
	}
	update, err := parsePatch(body)
	if err != nil {
		return invalidParams(err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.get(req.who.operatorID, id)
	if !ok {
		return s.journeyNotFound()
	}
	// The servers store the update with the acquisition status
	// "updated", fraud and anomaly pending, and the geographic
	// normalisation to run again (CarpoolAcquisitionService.patchCarpool):
	// the status is pending whatever it was, a cancel, a refusal or an
	// acquisition error included, until the normalisation and the next
	// batch decide again.
	r.FraudLabels, r.Anomalies = nil, nil
	r.fraudFailed, r.anomalyFailed = false, false
	r.checked = false
	s.st.unchecked[r] = struct{}{}
	if r.normalised {
		r.normalised = false
		s.st.pending = append(s.st.pending, r)
	}
	r.Status, r.statusAt = StatusPending, req.now
	r.StartAt, r.EndAt, r.DistanceMeters = update.StartAt, update.EndAt, update.DistanceMeters
	if update.TripID != "" {
		// The terms checks of later journeys count trips by it.
		r.TripID = update.TripID
	}
	r.startLat, r.startLon, r.endLat, r.endLon = update.startLat, update.startLon, update.endLat, update.endLon
	// The handler returns nothing and is not wrapped in JSON-RPC on
	// success: 200 with an empty body.
	return answer{status: http.StatusOK}
}

// patchBody is the servers' patch schema: no other property, these
// required but operator_trip_id and incentive_counterparts. The route's id
// wins over one in the body, as the servers merge them.
type patchBody struct {
	OperatorID            json.RawMessage `json:"operator_id"`
	OperatorJourneyID     json.RawMessage `json:"operator_journey_id"`
	OperatorTripID        *string         `json:"operator_trip_id"`
	OperatorClass         *string         `json:"operator_class"`
	Incentives            *[]incentive    `json:"incentives"`
	IncentiveCounterparts json.RawMessage `json:"incentive_counterparts"`
	Start                 *timeGeopoint   `json:"start"`
	End                   *timeGeopoint   `json:"end"`
	Distance              *float64        `json:"distance"`
}

// parsePatch validates a PATCH body and returns the fields it updates.
func parsePatch(body []byte) (*record, error) {
	var in patchBody
	if err := decodeStrict(body, &in); err != nil {
		return nil, err
	}
	if err := checkTrip(in.OperatorClass, in.Incentives, in.Distance); err != nil {
		return nil, err
	}
	if in.OperatorTripID != nil && (*in.OperatorTripID == "" || len(*in.OperatorTripID) > maxOperatorTripIDLen) {
		return nil, errors.New("operator_trip_id must be a string of 1 to 256 characters")
	}
	start, err := in.Start.parse("start")
	if err != nil {
		return nil, err
	}
	end, err := in.End.parse("end")
	if err != nil {
		return nil, err
	}
	r := &record{
		Journey:  Journey{StartAt: start.at, EndAt: end.at, DistanceMeters: int(*in.Distance)},
		startLat: start.lat, startLon: start.lon, endLat: end.lat, endLon: end.lon,
	}
	if in.OperatorTripID != nil {
		r.TripID = *in.OperatorTripID
	}
	return r, nil
}

var cancelCodePattern = regexp.MustCompile(`^[0-9A-Za-z_-]{0,32}$`)

// cancel is POST /journeys/{id}/cancel with a {code, message} body.
func (s *Simulator) cancel(req *apiRequest) answer {
	id := req.segments[1]
	if !validOperatorJourneyID(id) {
		return invalidParams(badOperatorJourneyID)
	}
	body, failed := readBody(req.r)
	if failed != nil {
		return *failed
	}
	// The servers' schema (journey.cancel): code required but possibly
	// empty, message optional, nothing else; the id comes from the path.
	var in struct {
		OperatorJourneyID *string `json:"operator_journey_id"`
		Code              *string `json:"code"`
		Message           *string `json:"message"`
	}
	switch err := decodeStrict(body, &in); {
	case err != nil:
		return invalidParams(err.Error())
	case in.Code == nil:
		return invalidParams("code is required")
	case !cancelCodePattern.MatchString(*in.Code):
		return invalidParams("code must match ^[0-9A-Za-z_-]{0,32}$")
	case in.Message != nil && utf8.RuneCountInString(*in.Message) > 512:
		return invalidParams("message must be at most 512 characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cancelLocked(req.who.operatorID, id, req.now) {
		return s.journeyNotFound()
	}
	// JSON-RPC wrapped, of a handler that returns nothing: no result.
	return rawAnswer(http.StatusOK, bodyCanceled)
}

// cancelLocked marks a journey canceled. The caller holds s.mu. Its fraud
// labels stay: the servers send them whatever the status
// (docs/registry.md, "The status object").
func (s *Simulator) cancelLocked(operatorID int, id string, now time.Time) bool {
	r, ok := s.st.get(operatorID, id)
	if !ok {
		return false
	}
	r.Status, r.statusAt = StatusCanceled, now
	r.Anomalies = nil
	return true
}

// accessToken is POST /auth/access_token.
func (s *Simulator) accessToken(req *apiRequest) answer {
	body, failed := readBody(req.r)
	if failed != nil {
		return *failed
	}
	var in struct {
		AccessKey *string `json:"access_key"`
		SecretKey *string `json:"secret_key"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.AccessKey == nil || in.SecretKey == nil {
		return invalidParams("access_key and secret_key are required")
	}
	token, ok := s.auth.issue(*in.AccessKey, *in.SecretKey)
	if !ok {
		return rawAnswer(http.StatusUnauthorized, bodyInvalidKeyPair)
	}
	return jsonAnswer(http.StatusCreated, map[string]string{"access_token": token})
}

// certificate is GET /certificates/{uuid}, still routed though dropped
// from the specs since 3.2.
func (s *Simulator) certificate(req *apiRequest) answer {
	s.mu.Lock()
	c, ok := s.certificates[req.segments[1]]
	s.mu.Unlock()
	if !ok || c.OperatorID != req.who.operatorID {
		return rawAnswer(http.StatusNotFound, bodyNotFoundOld)
	}
	return jsonAnswer(http.StatusOK, certificateBody(c))
}
