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

// list is GET /journeys?status=&start=&end=&limit=&offset=.
func (s *Simulator) list(req *apiRequest) answer {
	q := req.r.URL.Query()
	status := q.Get("status")
	if !slices.Contains(listable, status) {
		return invalidParams("status must be one of " + strings.Join(listable, ", "))
	}
	now := req.now
	end, err := queryTime(q.Get("end"), now)
	if err != nil {
		return invalidParams("end must be an ISO 8601 date-time")
	}
	start, err := queryTime(q.Get("start"), now.Add(-defaultListWindow))
	if err != nil {
		return invalidParams("start must be an ISO 8601 date-time")
	}
	switch {
	case end.After(now):
		return invalidParams("end must not be in the future")
	case start.Before(now.Add(-maxListAge)):
		return invalidParams("start must be within the last 90 days")
	case start.After(end):
		return invalidParams("start must be before end")
	}
	limit, err := queryInt(q.Get("limit"), defaultListLimit, 1)
	if err != nil {
		return invalidParams("limit must be a positive integer")
	}
	offset, err := queryInt(q.Get("offset"), 0, 0)
	if err != nil {
		return invalidParams("offset must be a non-negative integer")
	}

	s.mu.Lock()
	var matches []*record
	for _, r := range s.st.byID {
		if r.OperatorID == req.who.operatorID && !r.StartAt.Before(start) && !r.StartAt.After(end) && listMatches(r, status) {
			matches = append(matches, r)
		}
	}
	ids := make([]string, len(matches))
	slices.SortFunc(matches, func(a, b *record) int { return cmp.Compare(b.JourneyID, a.JourneyID) })
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

// listMatches reproduces the registry's overlapping filters: pending also
// returns canceled and refused journeys the batch has not examined yet.
func listMatches(r *record, status string) bool {
	if r.Status == status {
		return true
	}
	return status == StatusPending && !r.checked &&
		(r.Status == StatusCanceled || r.Status == StatusTermsViolationError)
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

func queryInt(v string, def, lowest int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}
