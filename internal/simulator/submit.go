package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// validOperatorJourneyID is the servers' rule: the submission schema's
// varchar macro, any string of 1 to 256 characters. The ^[a-z0-9]{1,256}$
// pattern of the documentation and the specs is not enforced (docs/registry.md).
func validOperatorJourneyID(id string) bool {
	n := utf8.RuneCountInString(id)
	return n >= 1 && n <= 256 && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
}

// badOperatorJourneyID is the 400 the servers give an id outside the
// varchar macro's bounds.
const badOperatorJourneyID = "operator_journey_id must be a string of 1 to 256 characters"

// Terms thresholds of the registry's synchronous checks. The servers'
// CarpoolAcquisitionService.verifyTermsViolation never looks at the API
// version: a threshold changes for every version at once.
const (
	expiryDelay = 24 * time.Hour
	// minDistance is the current servers' 1 km; servers up to 2025-09
	// (legacy_terms) refused under 2 km.
	minDistance       = 1000
	legacyMinDistance = 2000
	// maxTripsPerDay is the current servers' MAX_TRIPS_PER_DAY: a journey
	// is refused when its driver or its passenger already has more than
	// that many other trips that day. Servers up to 2025-09 refused from
	// that many trips of the two together.
	maxTripsPerDay       = 4
	minGapBetweenTrips   = 30 * time.Minute
	maxDistance          = 1000000
	identityKeyLength    = 64
	maxOperatorTripIDLen = 256
)

// The submission body, strictly typed: the spec forbids additional
// properties and the decoder refuses them. Pointers tell missing from zero.
type submission struct {
	OperatorJourneyID *string        `json:"operator_journey_id"`
	OperatorTripID    *string        `json:"operator_trip_id"`
	OperatorClass     *string        `json:"operator_class"`
	Incentives        *[]incentive   `json:"incentives"`
	LicencePlate      *string        `json:"licence_plate"`
	Start             *timeGeopoint  `json:"start"`
	End               *timeGeopoint  `json:"end"`
	Distance          *float64       `json:"distance"`
	Driver            *driverPart    `json:"driver"`
	Passenger         *passengerPart `json:"passenger"`
}

type incentive struct {
	Index  *float64 `json:"index"`
	Amount *float64 `json:"amount"`
	Siret  *string  `json:"siret"`
}

type timeGeopoint struct {
	Datetime *string  `json:"datetime"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
}

type identity struct {
	IdentityKey          *string         `json:"identity_key"`
	TravelPass           json.RawMessage `json:"travel_pass"`
	Phone                *string         `json:"phone"`
	PhoneTrunc           *string         `json:"phone_trunc"`
	ApplicationTimestamp json.RawMessage `json:"application_timestamp"`
	DrivingLicense       json.RawMessage `json:"driving_license"`
	OperatorUserID       *string         `json:"operator_user_id"`
	Over18               json.RawMessage `json:"over_18"`
}

type driverPart struct {
	Identity *identity `json:"identity"`
	Revenue  *float64  `json:"revenue"`
}

type passengerPart struct {
	Identity     *identity       `json:"identity"`
	Payments     json.RawMessage `json:"payments"`
	Contribution *float64        `json:"contribution"`
	Seats        *float64        `json:"seats"`
}

var phoneTruncPattern = regexp.MustCompile(`^\+[0-9]{8,12}$`)

// decodeStrict decodes one JSON object into v, refusing unknown keys and
// trailing data, as the servers' schemas (additionalProperties: false) do.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid body: %v", err)
	}
	if dec.More() {
		return errors.New("invalid body: trailing data")
	}
	return nil
}

// parseSubmission validates a body against the v3.3 schema and returns the
// journey it describes.
func parseSubmission(body []byte) (*record, error) {
	var in submission
	if err := decodeStrict(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.OperatorJourneyID == nil:
		return nil, errors.New("operator_journey_id is required")
	case !validOperatorJourneyID(*in.OperatorJourneyID):
		return nil, errors.New(badOperatorJourneyID)
	case in.OperatorTripID == nil || *in.OperatorTripID == "" || len(*in.OperatorTripID) > maxOperatorTripIDLen:
		return nil, errors.New("operator_trip_id is required")
	}
	if err := checkTrip(in.OperatorClass, in.Incentives, in.Distance); err != nil {
		return nil, err
	}
	switch {
	case in.Driver == nil || in.Driver.Revenue == nil || !wholeIn(*in.Driver.Revenue, 0, math.MaxInt32):
		return nil, errors.New("driver.revenue is required")
	case in.Passenger == nil || in.Passenger.Contribution == nil || !wholeIn(*in.Passenger.Contribution, 0, math.MaxInt32):
		return nil, errors.New("passenger.contribution is required")
	case in.Passenger.Seats != nil && !wholeIn(*in.Passenger.Seats, 1, 8):
		return nil, errors.New("passenger.seats must be between 1 and 8")
	}
	start, err := in.Start.parse("start")
	if err != nil {
		return nil, err
	}
	end, err := in.End.parse("end")
	if err != nil {
		return nil, err
	}
	if end.at.Before(start.at) {
		return nil, errors.New("end.datetime is before start.datetime")
	}
	driverKey, err := in.Driver.Identity.key("driver")
	if err != nil {
		return nil, err
	}
	passengerKey, err := in.Passenger.Identity.key("passenger")
	if err != nil {
		return nil, err
	}
	return &record{
		Journey: Journey{
			OperatorJourneyID: *in.OperatorJourneyID,
			StartAt:           start.at,
			EndAt:             end.at,
			DistanceMeters:    int(*in.Distance),
			DriverKey:         driverKey,
			PassengerKey:      passengerKey,
			TripID:            *in.OperatorTripID,
		},
		startLat: start.lat, startLon: start.lon,
		endLat: end.lat, endLon: end.lon,
	}, nil
}

// checkTrip checks the fields a submission and a PATCH both require.
func checkTrip(class *string, incentives *[]incentive, distance *float64) error {
	switch {
	case class == nil || (*class != "A" && *class != "B" && *class != "C"):
		return errors.New("operator_class must be A, B or C")
	case incentives == nil:
		return errors.New("incentives is required")
	case distance == nil || !wholeIn(*distance, 0, maxDistance):
		return errors.New("distance must be a whole number of meters between 0 and 1000000")
	}
	for _, inc := range *incentives {
		if inc.Index == nil || inc.Amount == nil || inc.Siret == nil ||
			!wholeIn(*inc.Index, 0, math.MaxInt32) || !wholeIn(*inc.Amount, 0, math.MaxInt32) {
			return errors.New("incentives items need index, amount and siret")
		}
	}
	return nil
}

func wholeIn(v, lo, hi float64) bool { return v >= lo && v <= hi && v == math.Trunc(v) }

type point struct {
	at       time.Time
	lat, lon float64
}

func (p *timeGeopoint) parse(name string) (point, error) {
	if p == nil || p.Datetime == nil || p.Lat == nil || p.Lon == nil {
		return point{}, fmt.Errorf("%s needs datetime, lat and lon", name)
	}
	at, err := time.Parse(time.RFC3339, *p.Datetime)
	if err != nil {
		return point{}, fmt.Errorf("%s.datetime is not an ISO 8601 date-time", name)
	}
	if *p.Lat < -90 || *p.Lat > 90 || *p.Lon < -180 || *p.Lon > 180 {
		return point{}, fmt.Errorf("%s position is out of range", name)
	}
	return point{at: at.UTC(), lat: *p.Lat, lon: *p.Lon}, nil
}

func (id *identity) key(name string) (string, error) {
	switch {
	case id == nil:
		return "", fmt.Errorf("%s.identity is required", name)
	case id.IdentityKey == nil || len(*id.IdentityKey) != identityKeyLength:
		return "", fmt.Errorf("%s.identity.identity_key must be 64 characters", name)
	case id.OperatorUserID == nil:
		return "", fmt.Errorf("%s.identity.operator_user_id is required", name)
	case id.Phone == nil && id.PhoneTrunc == nil:
		return "", fmt.Errorf("%s.identity needs phone or phone_trunc", name)
	case id.PhoneTrunc != nil && !phoneTruncPattern.MatchString(*id.PhoneTrunc):
		return "", fmt.Errorf("%s.identity.phone_trunc is malformed", name)
	}
	return *id.IdentityKey, nil
}

// submitAt is POST /journeys at simulated time now. The caller holds s.mu.
func (s *Simulator) submitAt(operatorID int, body []byte, now time.Time) answer {
	r, err := parseSubmission(body)
	if err != nil {
		return invalidParams(err.Error())
	}
	r.OperatorID = operatorID
	if _, dup := s.st.get(operatorID, r.OperatorJourneyID); dup {
		return rpcFailure(http.StatusConflict, -32509, "Conflict", "Journey "+r.OperatorJourneyID+" already registered")
	}
	r.CreatedAt = now
	r.Status, r.statusAt = StatusPending, now
	legacy := s.Faults().LegacyTerms
	details := s.termsViolations(r, now, legacy)
	if len(details) > 0 {
		// The registry keeps the journey so its status can be read back;
		// it stores the labels, never the counts.
		r.TermsViolations = make([]string, len(details))
		for i, d := range details {
			r.TermsViolations[i] = d.Label
		}
		r.Status = StatusTermsViolationError
		r.normalised = true
		s.st.add(r)
		return termsRefusal(r.TermsViolations, details, legacy)
	}
	s.st.add(r)
	return rpcData(http.StatusCreated, map[string]string{
		"operator_journey_id": r.OperatorJourneyID,
		"created_at":          formatTime(r.CreatedAt),
	})
}

// termsDetail is an entry of a 422's terms_violation_error_details: one
// per label, in the labels' order, metas only for too_many_trips_by_day.
type termsDetail struct {
	Label string      `json:"label"`
	Metas *tripCounts `json:"metas,omitempty"`
}

// tripCounts are the numbers too_many_trips_by_day compared: the other
// trips the driver and the passenger each had that day, and the limit.
type tripCounts struct {
	Driver    int `json:"driver"`
	Passenger int `json:"passenger"`
	Limit     int `json:"limit"`
}

// termsData is a 422's error.data.
type termsData struct {
	Labels  []string      `json:"terms_violation_labels"`
	Details []termsDetail `json:"terms_violation_error_details,omitempty"`
}

// termsRefusal is the 422 as the servers build it: CreateJourneyAction
// throws UnprocessableRequestException({terms_violation_labels,
// terms_violation_error_details}) whatever the version, and the route
// writes {jsonrpc, id, error: {data, code, message}}. Servers up to 2025-09
// (legacy) sent the labels alone.
func termsRefusal(labels []string, details []termsDetail, legacy bool) answer {
	type rpcTermsError struct {
		Data    termsData `json:"data"`
		Code    int       `json:"code"`
		Message string    `json:"message"`
	}
	d := termsData{Labels: labels, Details: details}
	if legacy {
		d.Details = nil
	}
	return jsonAnswer(http.StatusUnprocessableEntity, struct {
		JSONRPC string        `json:"jsonrpc"`
		ID      int           `json:"id"`
		Error   rpcTermsError `json:"error"`
	}{"2.0", 1, rpcTermsError{d, -32422, "Unprocessable Request"}})
}

// termsViolations applies the terms of use checks in the servers' order:
// expired, distance, trips a day, close trips.
func (s *Simulator) termsViolations(r *record, now time.Time, legacy bool) []termsDetail {
	j := r.Journey
	var out []termsDetail
	if now.Sub(j.StartAt) > expiryDelay {
		out = append(out, termsDetail{Label: TermsExpired})
	}
	limit := minDistance
	if legacy {
		limit = legacyMinDistance
	}
	if j.DistanceMeters < limit {
		out = append(out, termsDetail{Label: TermsDistanceTooShort})
	}
	others := s.st.sameIdentity(j)
	if d, ok := tooManyTrips(j, others, r.startLon, legacy); ok {
		out = append(out, d)
	}
	for _, o := range others {
		if counts(o) && closeTrip(j, o.Journey) {
			out = append(out, termsDetail{Label: TermsTooCloseTrips})
			break
		}
	}
	return out
}

// closeTrip is the servers' too_close_trips query: another trip (not the
// same trip id) of the same two people, in either role, that starts
// during the journey or within 30 minutes after its end, or ends within 30
// minutes before its start or during it.
func closeTrip(j, o Journey) bool {
	pair := []string{j.DriverKey, j.PassengerKey}
	if o.TripID == j.TripID || !slices.Contains(pair, o.DriverKey) || !slices.Contains(pair, o.PassengerKey) {
		return false
	}
	startsNear := !o.StartAt.Before(j.StartAt) && o.StartAt.Before(j.EndAt.Add(minGapBetweenTrips))
	endsNear := !o.EndAt.Before(j.StartAt.Add(-minGapBetweenTrips)) && o.EndAt.Before(j.EndAt)
	return startsNear || endsNear
}

// tooManyTrips counts, as the servers' countJourneyBy does, the distinct
// trip ids of the other journeys that started the same local day (the
// time zone of the journey's start longitude) with the driver, then the
// passenger, in either role. The journey itself is not counted (its status
// is not saved yet when the servers count), a journey of the same trip is.
func tooManyTrips(j Journey, others []*record, lon float64, legacy bool) (termsDetail, bool) {
	loc := tzFromLon(lon)
	if legacy {
		loc = paris
	}
	dayStart, dayEnd := localDay(j.StartAt, loc)
	count := func(keys ...string) int {
		trips := map[string]bool{}
		for _, o := range others {
			if !counts(o) || o.StartAt.Before(dayStart) || !o.StartAt.Before(dayEnd) {
				continue
			}
			if slices.Contains(keys, o.DriverKey) || slices.Contains(keys, o.PassengerKey) {
				trips[o.TripID] = true
			}
		}
		return len(trips)
	}
	if legacy {
		return termsDetail{Label: TermsTooManyTrips}, count(j.DriverKey, j.PassengerKey) >= maxTripsPerDay
	}
	c := tripCounts{Driver: count(j.DriverKey), Passenger: count(j.PassengerKey), Limit: maxTripsPerDay}
	return termsDetail{Label: TermsTooManyTrips, Metas: &c}, c.Driver > c.Limit || c.Passenger > c.Limit
}

// counts tells whether a stored journey takes part in the terms checks:
// canceled and refused journeys do not.
func counts(r *record) bool {
	return r.Status != StatusCanceled && r.Status != StatusTermsViolationError
}
