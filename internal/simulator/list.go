package simulator

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// List window rules of the registry.
const (
	defaultListWindow = 7 * 24 * time.Hour
	maxListAge        = 90 * 24 * time.Hour
	defaultListLimit  = 50
)

// listable statuses; terms_violation_error and unknown are refused.
var listable = []string{StatusOK, StatusPending, StatusCanceled, StatusFraudError, StatusAnomalyError,
	StatusAcquisitionError, StatusValidationError, StatusNormalizationError}

// list is GET /journeys?status=&start=&end=&limit=&offset=, with the
// rules read in the servers' code (docs/registry.md): start ≤ the
// journey's start < end, end no later than today 00:00 Paris, start no
// earlier than 90 days before that, RFC 3339 with an offset, no unknown
// parameter, limit bounds not enforced.
func (s *Simulator) list(req *apiRequest) answer {
	q := req.r.URL.Query()
	for k := range q {
		if !slices.Contains(listParams, k) {
			return invalidParams("must NOT have additional properties: " + k)
		}
	}
	status := q.Get("status")
	if status == TermsExpired { // "expired", a v2 status
		// The servers' list handler reads a property of undefined.
		return rawAnswer(http.StatusInternalServerError, bodyListExpired)
	}
	if !slices.Contains(listable, status) {
		return invalidParams("status must be one of " + strings.Join(listable, ", "))
	}
	limitEnd := listEndLimit(req.now)
	if s.Faults().LegacyListWindow {
		// The older notes: end up to now, start within now − 90 d.
		limitEnd = req.now
	}
	end, err := queryTime(q.Get("end"), limitEnd)
	if err != nil {
		return invalidParams("end must be an RFC 3339 date-time with an offset")
	}
	start, err := queryTime(q.Get("start"), end.Add(-defaultListWindow))
	if err != nil {
		return invalidParams("start must be an RFC 3339 date-time with an offset")
	}
	oldest := limitEnd.AddDate(0, 0, -90)
	switch {
	case end.After(limitEnd):
		return invalidParams("End should be before now")
	case start.Before(oldest):
		return invalidParams("Start should be after " + oldest.UTC().Format(time.RFC3339))
	case start.After(end):
		return invalidParams("Start should be before end")
	}
	limit, err := queryInt(q.Get("limit"), defaultListLimit)
	if err != nil {
		return invalidParams("limit must be an integer")
	}
	offset, err := queryInt(q.Get("offset"), 0)
	if err != nil {
		return invalidParams("offset must be an integer")
	}
	if limit < 0 || offset < 0 {
		return internalError()
	}
	if limit == 0 {
		limit = defaultListLimit
	}

	s.mu.Lock()
	var matches []*record
	for _, r := range s.st.byID {
		if r.OperatorID == req.who.operatorID && !r.StartAt.Before(start) && r.StartAt.Before(end) && listMatches(r, status) {
			matches = append(matches, r)
		}
	}
	ids := make([]string, len(matches))
	// The servers have no ORDER BY (docs/registry.md): the rows come in
	// the table's order, oldest registration first, not the specs'
	// anti-chronological order a client must not rely on.
	slices.SortFunc(matches, func(a, b *record) int { return cmp.Compare(a.JourneyID, b.JourneyID) })
	for i, r := range matches {
		ids[i] = r.OperatorJourneyID
	}
	s.mu.Unlock()

	if s.Faults().ShiftPages {
		s.shuffle(ids)
	}
	page := []map[string]string{}
	for i := offset; i < len(ids) && i-offset < limit; i++ {
		page = append(page, map[string]string{"operator_journey_id": ids[i]})
	}
	return jsonAnswer(http.StatusOK, page)
}

// listParams are the query parameters the list's schema knows.
var listParams = []string{"status", "start", "end", "limit", "offset"}

// listMatches reproduces which filters are exact and which overlap
// (docs/registry.md): ok, canceled and acquisition_error (with its
// aliases) are exact; fraud_error also lists canceled, refused and
// acquisition-error journeys whose fraud check failed; anomaly_error also
// lists those with a failed anomaly check, and fraud errors; pending lists
// every journey with a check still to run, refused and canceled included.
func listMatches(r *record, status string) bool {
	switch status {
	case StatusOK, StatusCanceled:
		return r.Status == status
	case StatusAcquisitionError, StatusValidationError, StatusNormalizationError:
		return r.Status == StatusAcquisitionError || r.Status == StatusValidationError || r.Status == StatusNormalizationError
	case StatusFraudError:
		return r.Status == StatusFraudError || (r.fraudFailed && sideStatus(r.Status))
	case StatusAnomalyError:
		return r.Status == StatusAnomalyError || r.Status == StatusFraudError || (r.anomalyFailed && sideStatus(r.Status))
	case StatusPending:
		return r.Status == StatusPending || (!r.checked && sideStatus(r.Status))
	}
	return false
}

// sideStatus: statuses that take precedence over the checks' results in
// the per-journey GET, while the list still sees those results.
func sideStatus(st string) bool {
	return st == StatusCanceled || st == StatusTermsViolationError || st == StatusAcquisitionError
}

func (s *Simulator) shuffle(ids []string) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
}

func queryTime(v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	return time.Parse(time.RFC3339, v)
}

func queryInt(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}
