package simulator

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
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

// Which answers count against the limit (docs/registry.md, "Rate
// limits"): on the servers the token middleware runs before the rate
// limiter, so what it refuses (an unknown or expired bearer token: 401; a
// badly signed one: 500 on older servers) is never counted; the token route
// has no such middleware, and counts its 401s; 400, 403, 404 (an unserved
// version, on the counter of the route it names) and 500 answers count.
// /health has a counter of its own.
func TestCountedAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.Limits.Status = Limit{Requests: 3, Window: time.Hour}
		c.Limits.Other = Limit{Requests: 2, Window: time.Hour}
		c.Limits.Token = Limit{Requests: 2, Window: time.Hour}
	})
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "j1", Status: StatusOK})
	jwt := f.jwt(t) // the token route's first request
	f.sim.ExpireTokens()
	badlySigned := jwt[:len(jwt)-4] + "AAAA"
	// Refused by the token middleware: never counted, whatever the limit.
	for range 10 {
		for _, c := range []struct {
			token  string
			status int
		}{{"not-a-token", 401}, {jwt, 401}, {badlySigned, 500}} {
			if r := f.do(t, "GET", "/v3.3/journeys/j1", c.token, ""); r.status != c.status || r.header.Get("X-RateLimit-Remaining") != "" {
				t.Fatalf("refused token = %d %s, X-RateLimit-Remaining %q", r.status, r.body, r.header.Get("X-RateLimit-Remaining"))
			}
		}
		if r := f.do(t, "GET", "/v3.1/journeys/j1", "not-a-token", ""); r.status != 401 {
			t.Fatalf("refused token on an unserved version = %d %s", r.status, r.body)
		}
	}
	// Counted on the status counter: a 200, a 403 (no Authorization
	// header), a 404 of an unserved version; the next is refused.
	for i, c := range []struct {
		path, token string
		status      int
	}{{"/v3.3/journeys/j1", token, 200}, {"/v3.3/journeys/j1", "", 403}, {"/v3.2/journeys/j1", token, 404}, {"/v3.3/journeys/j1", token, 429}} {
		r := f.do(t, "GET", c.path, c.token, "")
		if r.status != c.status {
			t.Fatalf("status counter, request %d (%s) = %d %s, want %d", i, c.path, r.status, r.body, c.status)
		}
		if want := strconv.Itoa(max(0, 2-i)); r.header.Get("X-RateLimit-Remaining") != want {
			t.Errorf("status counter, request %d: X-RateLimit-Remaining %q, want %s", i, r.header.Get("X-RateLimit-Remaining"), want)
		}
	}
	// The token route's 401s are counted: its second request (a bad key)
	// uses up its 2, and the right key is then refused.
	for i, c := range []struct {
		secret string
		status int
	}{{"wrong", 401}, {"sk", 429}, {"wrong", 429}} {
		if r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":"ak","secret_key":"`+c.secret+`"}`); r.status != c.status {
			t.Fatalf("token route, request %d = %d %s, want %d", i, r.status, r.body, c.status)
		}
	}
	// An unknown route of an unserved version counts on the other counter.
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
	if r := f.do(t, "POST", "/v3.3/journeys", token, "{}"); r.status != 429 {
		t.Fatalf("submission during a storm = %d", r.status)
	}
}

// A window starts at the first request of its client and group, as in
// express-rate-limit's store, not on a boundary of the clock; and the
// windows and a storm run on the LimitClock.
func TestRateLimitWindowsOnTheLimitClock(t *testing.T) {
	t.Parallel()
	limits := clock.NewAccelerated(time.Date(2026, 11, 2, 10, 0, 30, 0, time.UTC), 0)
	f := newFixture(t, func(c *Config) {
		c.LimitClock = limits
		c.Limits.Status = Limit{Requests: 2, Window: time.Hour}
	})
	first := limits.Now()
	for i, want := range []int{404, 404, 429} {
		r := f.do(t, "GET", "/v3.3/journeys/x", token, "")
		if r.status != want {
			t.Fatalf("request %d = %d, want %d", i, r.status, want)
		}
		if reset := r.header.Get("X-RateLimit-Reset"); reset != strconv.FormatInt(first.Add(time.Hour).Unix(), 10) {
			t.Errorf("request %d: X-RateLimit-Reset %s, want the first request's time plus the window, %d", i, reset, first.Add(time.Hour).Unix())
		}
		limits.Advance(20 * time.Minute)
	}
	// 10:00:30 + 60 min: a new window from this request on.
	if r := f.do(t, "GET", "/v3.3/journeys/x", token, ""); r.status != 404 || r.header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("after the window = %d, remaining %q", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	f.sim.SetFaults(Faults{RateLimitStorm: 10 * time.Minute})
	r := f.do(t, "GET", "/v3.3/journeys/x", token, "")
	if r.status != 429 || r.header.Get("Retry-After") != "600" {
		t.Fatalf("storm = %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	limits.Advance(9*time.Minute + 59*time.Second)
	if r := f.do(t, "GET", "/v3.3/journeys/x", token, ""); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("storm's last second = %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	limits.Advance(time.Second)
	if r := f.do(t, "GET", "/v3.3/journeys/x", token, ""); r.status != 404 {
		t.Fatalf("after the storm = %d", r.status)
	}
}

// PATCH resets the checks whatever the status: the servers store the
// acquisition status "updated", so a canceled journey is pending again,
// leaves the fraud_error and canceled lists and is listed as pending until
// the next batch runs the checks again. The answer is 200 with an empty
// body (no JSON-RPC wrapping on success).
func TestPatchResetsChecksOfAnyStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := listEndLimit(epoch).Add(-time.Hour)
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "gonefraud", Status: StatusCanceled, StartAt: start})
	f.sim.mu.Lock()
	r, _ := f.sim.st.get(1, "gonefraud")
	r.checked, r.fraudFailed = true, true
	f.sim.mu.Unlock()
	if got := listIDs(t, f, "status="+StatusFraudError); !slices.Equal(got, []string{"gonefraud"}) {
		t.Fatalf("fraud_error before PATCH lists %v", got)
	}
	if r := f.do(t, "PATCH", "/v3.3/journeys/gonefraud", token, clean("gonefraud", start).patch()); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("PATCH = %d %q", r.status, r.body)
	}
	if got := f.status(t, "gonefraud")["status"]; got != StatusPending {
		t.Fatalf("status after PATCH = %v", got)
	}
	if got := listIDs(t, f, "status="+StatusCanceled); len(got) != 0 {
		t.Errorf("canceled after PATCH lists %v", got)
	}
	if got := listIDs(t, f, "status="+StatusFraudError); len(got) != 0 {
		t.Errorf("fraud_error after PATCH lists %v", got)
	}
	if got := listIDs(t, f, "status="+StatusPending); !slices.Equal(got, []string{"gonefraud"}) {
		t.Errorf("pending after PATCH lists %v", got)
	}
}

// Fraud labels can be present whatever the status: a cancel keeps them.
func TestCancelKeepsFraudLabels(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "caught", Status: StatusFraudError, FraudLabels: []string{FraudOverlap}, StartAt: epoch.Add(-30 * time.Hour)})
	if r := f.do(t, "POST", "/v3.3/journeys/caught/cancel", token, `{"code":"x","message":"y"}`); r.status != 200 || string(r.body) != `{"jsonrpc":"2.0","id":1}` {
		t.Fatalf("cancel = %d %s", r.status, r.body)
	}
	got := f.status(t, "caught")
	labels, _ := json.Marshal(got["fraud_error_labels"])
	if got["status"] != StatusCanceled || string(labels) != `["interoperator_overlap"]` {
		t.Fatalf("after cancel: status %v, fraud_error_labels %s", got["status"], labels)
	}
}
