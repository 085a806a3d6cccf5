package simulator

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The list's end limit is today 00:00 Paris, "today" being the UTC date:
// across both DST changes and in the hour or two when the Paris date is
// already the next one (docs/registry.md, "The list endpoint").
func TestListEndLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ now, want string }{
		{"2026-03-28T12:00:00Z", "2026-03-27T23:00:00Z"}, // winter: Paris is UTC+1
		{"2026-03-29T00:30:00Z", "2026-03-28T23:00:00Z"}, // the spring-forward day starts at +1
		{"2026-03-30T12:00:00Z", "2026-03-29T22:00:00Z"}, // summer: +2
		{"2026-06-01T22:30:00Z", "2026-05-31T22:00:00Z"}, // Paris is already June 2nd
		{"2026-06-01T23:59:59Z", "2026-05-31T22:00:00Z"},
		{"2026-06-02T00:00:00Z", "2026-06-01T22:00:00Z"},
		{"2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z"}, // the fall-back day starts at +2
		{"2026-10-26T12:00:00Z", "2026-10-25T23:00:00Z"},
		{"2026-12-31T23:30:00Z", "2026-12-30T23:00:00Z"}, // Paris is already in 2027
	} {
		now, _ := time.Parse(time.RFC3339, c.now)
		want, _ := time.Parse(time.RFC3339, c.want)
		if got := listEndLimit(now); !got.Equal(want) {
			t.Errorf("listEndLimit(%s) = %s, want %s", c.now, got.UTC().Format(time.RFC3339), c.want)
		}
	}
}

func TestListCorrections(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	limit := listEndLimit(epoch)
	rfc := func(t time.Time) string { return url.QueryEscape(t.In(paris).Format(time.RFC3339)) }
	errorBody := func(data string) string {
		return `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params","data":"` + data + `"}}`
	}
	oldest := limit.AddDate(0, 0, -90)
	for _, c := range []struct {
		query  string
		status int
		body   string
	}{
		{"status=ok&end=" + rfc(limit.Add(time.Second)), 400, errorBody("End should be before now")},
		{"status=ok&end=" + rfc(epoch), 400, errorBody("End should be before now")},
		{"status=ok&start=" + rfc(oldest.Add(-time.Second)), 400, errorBody("Start should be after " + oldest.UTC().Format(time.RFC3339))},
		{"status=ok&start=" + rfc(limit.Add(-time.Hour)) + "&end=" + rfc(limit.Add(-2*time.Hour)), 400, errorBody("Start should be before end")},
		{"status=expired", 500, bodyListExpired},
		{"status=ok&limit=-1", 500, bodyInternal},
		{"status=ok&offset=-1", 500, bodyInternal},
		{"status=ok&end=" + rfc(limit) + "&start=" + rfc(oldest), 200, "[]"},
		{"status=ok&limit=100000", 200, "[]"},
	} {
		r := f.do(t, "GET", "/v3.3/journeys?"+c.query, token, "")
		if r.status != c.status || strings.TrimSpace(string(r.body)) != c.body {
			t.Errorf("%s: %d %s, want %d %s", c.query, r.status, r.body, c.status, c.body)
		}
	}
	// limit=0 means 50.
	for i := range 60 {
		f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "z" + string(rune('A'+i)), Status: StatusOK, StartAt: limit.Add(-time.Hour)})
	}
	if got := listIDs(t, f, "status=ok&limit=0"); len(got) != 50 {
		t.Errorf("limit=0 gave %d ids, want 50", len(got))
	}
}

// Which filters are exact and which overlap.
func TestListFilterOverlaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := listEndLimit(epoch).Add(-time.Hour)
	put := func(id, status string, mod func(*record)) {
		f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: id, Status: status, StartAt: start})
		f.sim.mu.Lock()
		r, _ := f.sim.st.get(1, id)
		r.checked = true
		if mod != nil {
			mod(r)
		}
		f.sim.mu.Unlock()
	}
	put("ok1", StatusOK, nil)
	put("fraud1", StatusFraudError, func(r *record) { r.fraudFailed = true })
	put("anomaly1", StatusAnomalyError, func(r *record) { r.anomalyFailed = true })
	put("canceledfraud", StatusCanceled, func(r *record) { r.fraudFailed = true })
	put("canceledanomaly", StatusCanceled, func(r *record) { r.anomalyFailed = true })
	put("acqerr", StatusAcquisitionError, nil)
	put("refused", StatusTermsViolationError, func(r *record) { r.checked = false })
	put("pend", StatusPending, func(r *record) { r.checked = false })
	for status, want := range map[string][]string{
		StatusOK:                 {"ok1"},
		StatusCanceled:           {"canceledanomaly", "canceledfraud"},
		StatusAcquisitionError:   {"acqerr"},
		StatusValidationError:    {"acqerr"},
		StatusNormalizationError: {"acqerr"},
		StatusFraudError:         {"canceledfraud", "fraud1"},
		StatusAnomalyError:       {"anomaly1", "canceledanomaly", "fraud1"},
		StatusPending:            {"pend", "refused"},
	} {
		if got := listIDs(t, f, "status="+status); !slices.Equal(got, want) {
			t.Errorf("status=%s lists %v, want %v", status, got, want)
		}
	}
}

// Which answers count against the limit, and /health's own counter.
func TestCountedAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.Limits.Other = Limit{Requests: 2, Window: time.Hour}
		c.Limits.Token = Limit{Requests: 20, Window: time.Hour}
	})
	// 401s on the token route are not counted, whatever the limit.
	for range 25 {
		if r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":"ak","secret_key":"wrong"}`); r.status != http.StatusUnauthorized {
			t.Fatalf("bad key = %d", r.status)
		}
	}
	// 404s of an unsupported version are counted.
	for i, want := range []int{404, 404, 429} {
		if r := f.do(t, "GET", "/v3.1/anything", token, ""); r.status != want {
			t.Fatalf("unsupported version, request %d = %d, want %d", i, r.status, want)
		}
	}
	// /health has its own counter and is left out of a 429 storm.
	f.sim.SetFaults(Faults{RateLimitStorm: time.Hour})
	if r := f.do(t, "GET", "/health", "", ""); r.status != 200 {
		t.Fatalf("/health during a storm = %d", r.status)
	}
	if r := f.do(t, "GET", "/v3.3/journeys/x", token, ""); r.status != 429 {
		t.Fatalf("status during a storm = %d", r.status)
	}
}
