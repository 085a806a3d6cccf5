package proxy_test

// The proxy runs as the exporter mounts it (under /proxy/prod/, prefix
// stripped) in front of the simulated registry over real HTTP, with a real
// tracker behind the registrar. A recorder between the proxy and the
// simulator keeps what the registry answered, to show the operator got it
// unchanged.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// A fresh journey, the same again, one submitted before the proxy existed
// and a late one: each answer relayed byte for byte, each journey tracked
// with what the answer said.
func TestSubmissionsAreRelayedAndTracked(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, nil)
	submitURL := f.url + "/v3.3/journeys"

	start := simNow.Add(-time.Hour)
	got := do(t, http.MethodPost, submitURL, token, simulator.SubmissionBody("fresh1", start), nil)
	if got.status != http.StatusCreated {
		t.Fatalf("fresh journey: %d %s", got.status, got.body)
	}
	sameAnswer(t, got, reg.rec.answerNumber(t, 1))
	j, ok := tr.tr.Lookup("fresh1")
	if !ok || j.Status != "pending" || j.Source != "proxy" || !j.Start.Equal(start) {
		t.Errorf("fresh journey tracked as %+v (%v), want pending, from the proxy, started %v", j, ok, start)
	}

	got = do(t, http.MethodPost, submitURL, token, simulator.SubmissionBody("fresh1", start), nil)
	if got.status != http.StatusConflict {
		t.Fatalf("duplicate: %d %s", got.status, got.body)
	}
	sameAnswer(t, got, reg.rec.answerNumber(t, 2))
	if j, _ := tr.tr.Lookup("fresh1"); j.Status != "pending" {
		t.Errorf("a duplicate changed the tracked journey: %+v", j)
	}

	// Submitted before the operator went through the proxy: the 409 starts
	// tracking it, with no status until the registry is asked.
	reg.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: "before1", Status: simulator.StatusOK,
		StartAt: simNow.Add(-50 * time.Hour), CreatedAt: simNow.Add(-49 * time.Hour)})
	got = do(t, http.MethodPost, submitURL, token, simulator.SubmissionBody("before1", simNow.Add(-50*time.Hour)), nil)
	if got.status != http.StatusConflict {
		t.Fatalf("journey the registry already had: %d %s", got.status, got.body)
	}
	sameAnswer(t, got, reg.rec.answerNumber(t, 3))
	if j, ok := tr.tr.Lookup("before1"); !ok || j.Status != tracker.StatusUnchecked || j.Source != "proxy" {
		t.Errorf("409 tracked as %+v (%v), want unchecked from the proxy", j, ok)
	}

	late := simNow.Add(-30 * time.Hour)
	got = do(t, http.MethodPost, submitURL, token, simulator.SubmissionBody("late1", late), nil)
	if got.status != http.StatusUnprocessableEntity {
		t.Fatalf("late journey: %d %s", got.status, got.body)
	}
	sameAnswer(t, got, reg.rec.answerNumber(t, 4))
	j, ok = tr.tr.Lookup("late1")
	if !ok || j.Status != "terms_violation_error" || !slices.Equal(j.TermsReasons, []string{"expired"}) || !j.Start.Equal(late) {
		t.Errorf("late journey tracked as %+v (%v), want terms_violation_error with expired", j, ok)
	}
	if st := tr.tr.Stats(); st.Tracked != 3 {
		t.Errorf("%d journeys tracked, want 3", st.Tracked)
	}
	// The 409 was not before1's first submission: its lag is counted
	// nowhere, neither in the histogram nor as unknown.
	if st := tr.tr.Stats(); st.Lag[tracker.SourceProxy].Count != 2 || st.LagUnknown[tracker.SourceProxy] != 0 || st.LagNegative[tracker.SourceProxy] != 0 {
		t.Errorf("submission lag counted %d times, %d unknown, %d negative; want 2 (fresh1, late1), none apart",
			st.Lag[tracker.SourceProxy].Count, st.LagUnknown[tracker.SourceProxy], st.LagNegative[tracker.SourceProxy])
	}

	for code, want := range map[string]float64{"201": 1, "409": 2, "422": 1, "401": 0, "other": 0} {
		f.waitMetric(t, want, "covoiturage_proxy_submissions_total", "code", code)
	}
	for result, want := range map[string]float64{"new": 3, "already_tracked": 1} {
		if n := f.metric(t, "covoiturage_proxy_tracked_total", "result", result); n != want {
			t.Errorf("tracked_total{result=%q} = %v, want %v", result, n, want)
		}
	}
	f.waitMetric(t, 4, "covoiturage_proxy_added_latency_seconds")
	if n := f.metric(t, "covoiturage_proxy_requests_total"); n != 0 {
		t.Errorf("requests_total = %v: submissions are not other calls", n)
	}
}

// Ids are any 1 to 256 characters, JSON's own escapes included: an id
// holding a quote or a backslash reaches the registry, and is tracked, as
// that very id.
func TestIDsThatNeedEscapingInJSON(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, nil)
	for _, id := range []string{`say "hi"`, `C:\trips\42`, `\`, `"`, `a\"b/c%2F?#é`} {
		body := simulator.SubmissionBody(id, simNow.Add(-time.Hour))
		got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, body, nil)
		if got.status != http.StatusCreated {
			t.Errorf("%q: %d %s", id, got.status, got.body)
			continue
		}
		if j, ok := reg.sim.Journey(id); !ok || j.OperatorJourneyID != id {
			t.Errorf("%q: the registry stored %+v (%v)", id, j, ok)
		}
		if j, ok := tr.tr.Lookup(id); !ok || j.Status != "pending" {
			t.Errorf("%q: tracked as %+v (%v)", id, j, ok)
		}
	}
}

// /v3/journeys is the newest 3.x and is observed too; a trailing slash
// reaches the same route; so are the retired 3.x, for a registry that
// still serves them.
func TestEveryV3PathIsObserved(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t, simulator.AllVersions...)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, nil)
	for i, path := range []string{"/v3/journeys", "/v3.1/journeys", "/v3.2/journeys", "/v3.3/journeys", "/v3.4/journeys/"} {
		id := "path" + itoa(i)
		got := do(t, http.MethodPost, f.url+path, token, simulator.SubmissionBody(id, simNow.Add(-time.Hour)), nil)
		if got.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", path, got.status, got.body)
		}
		if j, ok := tr.tr.Lookup(id); !ok || j.Status != "pending" {
			t.Errorf("%s: tracked as %+v (%v)", path, j, ok)
		}
	}
}

// Answers that say nothing about the journey's fate are relayed and
// nothing is registered: a bad token, a malformed body, an id the registry
// refuses, a version it no longer serves.
func TestRefusedSubmissionsAreRelayedUntracked(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, nil)
	cases := []struct {
		name, path, auth string
		body             []byte
		status           int
		code             string
	}{
		{"bad token", "/v3.3/journeys", "not-the-token", simulator.SubmissionBody("badtoken1", simNow.Add(-time.Hour)), http.StatusUnauthorized, "401"},
		{"no token", "/v3.3/journeys", "", simulator.SubmissionBody("notoken1", simNow.Add(-time.Hour)), http.StatusForbidden, "403"},
		{"malformed JSON", "/v3.3/journeys", token, []byte(`{"operator_journey_id":"broken1",`), http.StatusBadRequest, "400"},
		{"id the registry refuses", "/v3.3/journeys", token, simulator.SubmissionBody(strings.Repeat("x", 257), simNow.Add(-time.Hour)), http.StatusBadRequest, "400"},
		{"id not a string", "/v3.3/journeys", token, []byte(`{"operator_journey_id":42}`), http.StatusBadRequest, "400"},
		{"v2 is not served", "/v2/journeys", token, simulator.SubmissionBody("v2journey1", simNow.Add(-time.Hour)), http.StatusNotFound, ""},
		{"3.2 is retired", "/v3.2/journeys", token, simulator.SubmissionBody("retired1", simNow.Add(-time.Hour)), http.StatusNotFound, ""},
	}
	for i, c := range cases {
		got := do(t, http.MethodPost, f.url+c.path, c.auth, c.body, nil)
		if got.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, got.status, got.body, c.status)
		}
		sameAnswer(t, got, reg.rec.answerNumber(t, i+1))
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d journeys tracked, want none", n)
	}
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "401")
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "403")
	f.waitMetric(t, 3, "covoiturage_proxy_submissions_total", "code", "400")
	// 3.2, retired: a submission refused; v2: forwarded, not observed.
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "404")
	f.waitMetric(t, 1, "covoiturage_proxy_requests_total")
	if n := f.metric(t, "covoiturage_proxy_tracked_total", "result", "new"); n != 0 {
		t.Errorf("tracked_total{new} = %v", n)
	}
}

// The operator's other calls go through: status, cancel (observed, see
// changes_test.go).
func TestOtherCallsAreForwarded(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, nil)
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("cancel1", simNow.Add(-time.Hour)), nil); got.status != http.StatusCreated {
		t.Fatalf("submission: %d %s", got.status, got.body)
	}
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys/cancel1/cancel", token, []byte(`{"code":"ABCD","message":"passenger no-show"}`), nil)
	if got.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	sameAnswer(t, got, reg.rec.answerNumber(t, 2))
	got = do(t, http.MethodGet, f.url+"/v3.3/journeys/cancel1", token, nil, nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 3))
	var st struct{ Status string }
	if err := json.Unmarshal(got.body, &st); err != nil || st.Status != "canceled" {
		t.Errorf("status through the proxy: %s (%v)", got.body, err)
	}
	for _, r := range reg.sim.Requests() {
		if !r.HasAuthorization {
			t.Errorf("%s %s reached the registry without the operator's token", r.Method, r.Path)
		}
	}
	f.waitMetric(t, 2, "covoiturage_proxy_requests_total")
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "201")
}

// upstream is a fake registry that records the request it got and answers
// what the test says.
type upstream struct {
	mu     sync.Mutex
	reqs   []seenRequest
	answer func(w http.ResponseWriter, r *http.Request)
}

type seenRequest struct {
	method, host, path, rawPath, rawQuery string
	header                                http.Header
	body                                  []byte
	bodyErr                               error
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, seenRequest{r.Method, r.Host, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), b, err})
	u.mu.Unlock()
	if err != nil {
		return
	}
	u.answer(w, r)
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.reqs)
}

func newUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*upstream, *url.URL) {
	t.Helper()
	u := &upstream{answer: answer}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return u, mustURL(t, srv.URL)
}

func created(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"id":1,"jsonrpc":"2.0","result":{"meta":null,"data":{"operator_journey_id":"x","created_at":"2026-11-20T09:00:00Z"}}}`)
}

// Method, path, query (even one net/url would not parse), headers and body
// reach the registry as the operator sent them; the registry's Host is
// used, and no X-Forwarded-* header is added.
func TestRequestsArriveUntouched(t *testing.T) {
	t.Parallel()
	up, target := newUpstream(t, created)
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, nil)

	body := simulator.SubmissionBody("untouched1", simNow.Add(-time.Hour))
	const query = "a=1;b=2&c=%2F&d=%zz"
	header := http.Header{
		"X-Operator-Trace": {"trace-42"},
		"Accept":           {"application/json"},
		"User-Agent":       {"operator-backend/1.2"},
		"Content-Type":     {"application/json; charset=utf-8"},
		"X-Forwarded-For":  {"10.1.2.3"},
	}
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys?"+query, token, body, header)
	if got.status != http.StatusCreated {
		t.Fatalf("%d %s", got.status, got.body)
	}
	do(t, http.MethodGet, f.url+"/v3.3/journeys/untouched1%2Fx?"+query, token, nil, header)
	do(t, http.MethodPatch, f.url+"/v3.3/journeys/untouched1", token, []byte(`{"distance":9000}`), header)

	reqs := up.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests reached the registry, want 3", len(reqs))
	}
	want := []struct{ method, path, rawPath, query string }{
		{http.MethodPost, "/v3.3/journeys", "", query},
		{http.MethodGet, "/v3.3/journeys/untouched1/x", "/v3.3/journeys/untouched1%2Fx", query},
		{http.MethodPatch, "/v3.3/journeys/untouched1", "", ""},
	}
	for i, r := range reqs {
		w := want[i]
		if r.method != w.method || r.path != w.path || r.rawPath != w.rawPath || r.rawQuery != w.query {
			t.Errorf("request %d arrived as %s %s (raw %q) ?%s, want %s %s (raw %q) ?%s", i, r.method, r.path, r.rawPath, r.rawQuery, w.method, w.path, w.rawPath, w.query)
		}
		if r.host != target.Host {
			t.Errorf("request %d: Host %q, want the registry's %q", i, r.host, target.Host)
		}
		if a := r.header.Get("Authorization"); a != "Bearer "+token {
			t.Errorf("request %d: Authorization %q", i, a)
		}
		for _, k := range []string{"X-Operator-Trace", "Accept", "User-Agent", "Content-Type"} {
			if !slices.Equal(r.header[k], header[k]) {
				t.Errorf("request %d: %s arrived as %q, sent %q", i, k, r.header[k], header[k])
			}
		}
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
			if v, ok := r.header[k]; ok {
				t.Errorf("request %d: %s %q reached the registry", i, k, v)
			}
		}
	}
	if !bytes.Equal(reqs[0].body, body) || string(reqs[2].body) != `{"distance":9000}` {
		t.Errorf("bodies arrived as %q and %q", reqs[0].body, reqs[2].body)
	}
	if _, ok := tr.tr.Lookup("untouched1"); !ok {
		t.Error("the submission was not tracked")
	}
}

// The proxy tracks only ids the registry accepts, even when a registry
// answers 201 to something else.
func TestInvalidIDIsNeverTracked(t *testing.T) {
	t.Parallel()
	_, target := newUpstream(t, created)
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, nil)
	long := strings.Repeat("a", 257)
	for _, id := range []string{"", long, "nul\x00byte"} {
		body, _ := json.Marshal(map[string]any{"operator_journey_id": id, "start": map[string]string{"datetime": "2026-11-20T08:00:00Z"}})
		if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, body, nil); got.status != http.StatusCreated {
			t.Fatalf("%q: %d", id, got.status)
		}
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d invalid ids tracked", n)
	}
	// A start the proxy cannot read leaves the start unknown, not the
	// journey untracked.
	do(t, http.MethodPost, f.url+"/v3.3/journeys", token, []byte(`{"operator_journey_id":"nostart1","start":{"datetime":"yesterday"}}`), nil)
	if j, ok := tr.tr.Lookup("nostart1"); !ok || !j.Start.IsZero() {
		t.Errorf("journey with an unreadable start tracked as %+v (%v)", j, ok)
	}
}

// A 422 the registry compressed is relayed compressed, byte for byte, and
// its reasons are still read; one in an encoding the proxy cannot read is
// tracked without reasons.
func TestCompressedTermsViolation(t *testing.T) {
	t.Parallel()
	const plain = `{"id":1,"jsonrpc":"2.0","error":{"code":-32422,"message":"Unprocessable Request","data":{"terms_violation_labels":["distance_too_short","expired"]}}}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, plain)
	_ = zw.Close()
	_, target := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Encoding", r.Header.Get("X-Test-Encoding"))
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write(gz.Bytes())
	})
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, nil)
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("gz1", simNow.Add(-30*time.Hour)),
		http.Header{"Accept-Encoding": {"gzip"}, "X-Test-Encoding": {"gzip"}})
	if got.status != http.StatusUnprocessableEntity || !bytes.Equal(got.body, gz.Bytes()) || got.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("relayed %d %q %q", got.status, got.header.Get("Content-Encoding"), got.body)
	}
	if j, _ := tr.tr.Lookup("gz1"); j.Status != "terms_violation_error" || !slices.Equal(j.TermsReasons, []string{"distance_too_short", "expired"}) {
		t.Errorf("tracked as %+v", j)
	}

	got = do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("br1", simNow.Add(-30*time.Hour)),
		http.Header{"Accept-Encoding": {"br"}, "X-Test-Encoding": {"br"}})
	if got.status != http.StatusUnprocessableEntity || !bytes.Equal(got.body, gz.Bytes()) {
		t.Errorf("relayed %d %q", got.status, got.body)
	}
	if j, _ := tr.tr.Lookup("br1"); j.Status != "terms_violation_error" || len(j.TermsReasons) != 0 {
		t.Errorf("tracked as %+v", j)
	}
}

// Whatever goes wrong with tracking, the operator gets the registry's
// answer unchanged; the failure is counted and logged without the token
// or the body.
func TestTrackingFailureLeavesTheAnswerUnchanged(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		hook   func(context.Context) error
		reason string
	}{
		{"registrar error", func(context.Context) error { return errors.New("disk full") }, "error"},
		{"registrar panic", func(context.Context) error { panic("registrar bug") }, "error"},
		{"registrar too slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := newSimRegistry(t)
			tr := newTrackerRegistrar()
			tr.hook = c.hook
			f := newFront(t, reg.url, tr, func(cfg *proxy.Config) { cfg.TrackTimeout = 50 * time.Millisecond })
			body := simulator.SubmissionBody("fail1", simNow.Add(-time.Hour))
			got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, body, nil)
			if got.status != http.StatusCreated {
				t.Fatalf("%d %s", got.status, got.body)
			}
			sameAnswer(t, got, reg.rec.answerNumber(t, 1))
			if _, ok := reg.sim.Journey("fail1"); !ok {
				t.Error("the registry did not get the journey")
			}
			if n := f.metric(t, "covoiturage_proxy_tracking_failures_total", "reason", c.reason); n != 1 {
				t.Errorf("tracking_failures_total{reason=%q} = %v, want 1", c.reason, n)
			}
			f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "201")
			logs := f.logs.String()
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "fail1") {
				t.Errorf("no warning naming the journey:\n%s", logs)
			}
			var key struct {
				Driver struct {
					Identity struct {
						Key string `json:"identity_key"`
					}
				}
			}
			_ = json.Unmarshal(body, &key)
			if strings.Contains(logs, token) || strings.Contains(logs, key.Driver.Identity.Key) || strings.Contains(logs, "phone") {
				t.Errorf("the log holds the token or the body:\n%s", logs)
			}
		})
	}
}

// A registrar that never returns, even past its context, holds the answer
// for TrackTimeout only.
func TestStuckRegistrarTimesOut(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tr.hook = func(context.Context) error { <-release; return nil }
	f := newFront(t, reg.url, tr, func(cfg *proxy.Config) { cfg.TrackTimeout = 50 * time.Millisecond })
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("stuck1", simNow.Add(-time.Hour)), nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 1))
	if n := f.metric(t, "covoiturage_proxy_tracking_failures_total", "reason", "timeout"); n != 1 {
		t.Errorf("tracking_failures_total{timeout} = %v, want 1", n)
	}
}

// The answer is relayed only once the registrar returned: an acknowledged
// id is durable before the operator hears of it.
func TestAnswerWaitsForTheRegistrar(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	entered, release := make(chan struct{}), make(chan struct{})
	tr.hook = func(context.Context) error {
		close(entered)
		<-release
		return nil
	}
	f := newFront(t, reg.url, tr, func(cfg *proxy.Config) { cfg.TrackTimeout = time.Minute })
	answered := make(chan answer, 1)
	go func() {
		answered <- do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("durable1", simNow.Add(-time.Hour)), nil)
	}()
	<-entered
	// Proving that no answer comes needs a wait: an answer relayed without
	// waiting for the registrar arrives within this one on any machine.
	select {
	case a := <-answered:
		t.Fatalf("answered %d while the registrar had not returned", a.status)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	got := <-answered
	sameAnswer(t, got, reg.rec.answerNumber(t, 1))
	if _, ok := tr.tr.Lookup("durable1"); !ok {
		t.Error("not tracked")
	}
}

// A registry that does not answer gives a 502 in the registry's error
// shape, for a submission and for any other call.
func TestRegistryDown(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	target := mustURL(t, dead.URL)
	dead.Close()
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, nil)
	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPost, "/v3.3/journeys", simulator.SubmissionBody("down1", simNow.Add(-time.Hour))},
		{http.MethodGet, "/v3.3/journeys/down1", nil},
	} {
		got := do(t, c.method, f.url+c.path, token, c.body, nil)
		var e struct {
			Code  int
			Error string
		}
		if got.status != http.StatusBadGateway || json.Unmarshal(got.body, &e) != nil || e.Code != 502 ||
			!strings.Contains(e.Error, "registry did not answer") || got.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, got.status, got.header.Get("Content-Type"), got.body)
		}
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d journeys tracked", n)
	}
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "502")
	f.waitMetric(t, 1, "covoiturage_proxy_requests_total")
	if strings.Contains(f.logs.String(), token) {
		t.Error("the token is in the log")
	}
}

// A registry that takes the connection and the request and never answers
// gets a 504 in the registry's error shape once ResponseTimeout has passed,
// for a submission and any other call, counted like any answer; the
// operator is not held until its own client gives up (10 s here, 20 times
// the configured bound).
func TestRegistryHangs(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-release
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return, then the server closes
	tr := newTrackerRegistrar()
	f := newFront(t, mustURL(t, hung.URL), tr, func(cfg *proxy.Config) { cfg.ResponseTimeout = 500 * time.Millisecond })
	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPost, "/v3.3/journeys", simulator.SubmissionBody("hang1", simNow.Add(-time.Hour))},
		{http.MethodGet, "/v3.3/journeys/hang1", nil},
	} {
		got := do(t, c.method, f.url+c.path, token, c.body, nil)
		var e struct {
			Code  int
			Error string
		}
		if got.status != http.StatusGatewayTimeout || json.Unmarshal(got.body, &e) != nil || e.Code != 504 ||
			!strings.Contains(e.Error, "registry did not answer") || !strings.Contains(e.Error, "500ms") ||
			got.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, got.status, got.header.Get("Content-Type"), got.body)
		}
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d journeys tracked", n)
	}
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "504")
	f.waitMetric(t, 1, "covoiturage_proxy_requests_total")
	if strings.Contains(f.logs.String(), token) {
		t.Error("the token is in the log")
	}
}

// A body over MaxBodyBytes gets 413 and is not forwarded, whether its
// length was announced or not.
func TestOversizedBody(t *testing.T) {
	t.Parallel()
	up, target := newUpstream(t, created)
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, func(cfg *proxy.Config) { cfg.MaxBodyBytes = 1024 })
	big := append(simulator.SubmissionBody("big1", simNow.Add(-time.Hour)), bytes.Repeat([]byte(" "), 2048)...)

	announced := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, big, nil)
	req, _ := http.NewRequest(http.MethodPost, f.url+"/v3.3/journeys", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	chunkedBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if req.ContentLength != 0 { // 0 with a body: length unknown, sent chunked
		t.Fatal("the second request was meant to be chunked")
	}
	for _, got := range []answer{announced, {resp.StatusCode, resp.Header, chunkedBody}} {
		var e struct {
			Code  int
			Error string
		}
		if got.status != http.StatusRequestEntityTooLarge || json.Unmarshal(got.body, &e) != nil || e.Code != 413 || !strings.Contains(e.Error, "1024 bytes") {
			t.Errorf("%d %s", got.status, got.body)
		}
	}
	// Another call with an announced oversized body is refused as well.
	if got := do(t, http.MethodPatch, f.url+"/v3.3/journeys/big1", token, big, nil); got.status != http.StatusRequestEntityTooLarge {
		t.Errorf("PATCH: %d %s", got.status, got.body)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d oversized requests reached the registry", n)
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d journeys tracked", n)
	}
	f.waitMetric(t, 2, "covoiturage_proxy_submissions_total", "code", "413")
	// A body within the limit still goes through.
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, []byte(`{"operator_journey_id":"small1"}`), nil); got.status != http.StatusCreated {
		t.Errorf("small body: %d %s", got.status, got.body)
	}
}

// A client that stops sending its body gets 408 after ReadTimeout, and
// nothing reaches the registry.
func TestSlowClient(t *testing.T) {
	t.Parallel()
	up, target := newUpstream(t, created)
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, func(cfg *proxy.Config) { cfg.ReadTimeout = 100 * time.Millisecond })
	u := mustURL(t, f.url)
	for _, path := range []string{"/v3.3/journeys", "/v3.3/journeys/slow1/cancel"} {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(conn, "POST "+u.Path+path+" HTTP/1.1\r\nHost: "+u.Host+
			"\r\nAuthorization: Bearer "+token+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"operator_journey_id\":")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "not received within 100ms") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	for _, r := range up.requests() {
		// The cancel's body is streamed: the registry may have seen its
		// start, never a complete request.
		if r.bodyErr == nil {
			t.Errorf("a complete request reached the registry: %s %s %q", r.method, r.path, r.body)
		}
	}
	if n := tr.tr.Len(); n != 0 {
		t.Errorf("%d journeys tracked", n)
	}
	f.waitMetric(t, 1, "covoiturage_proxy_submissions_total", "code", "408")
}

// A registry slower than ReadTimeout is not taken for a slow client: the
// deadline covers the operator's body only.
func TestSlowRegistryIsNotASlowClient(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := newTrackerRegistrar()
	f := newFront(t, reg.url, tr, func(cfg *proxy.Config) { cfg.ReadTimeout = 50 * time.Millisecond })
	reg.sim.SetFaults(simulator.Faults{Latency: 300 * time.Millisecond})
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("slowreg1", simNow.Add(-time.Hour)), nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 1))
	got = do(t, http.MethodGet, f.url+"/v3.3/journeys/slowreg1", token, nil, nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 2))
	got = do(t, http.MethodPost, f.url+"/v3.3/journeys/slowreg1/cancel", token, []byte(`{"code":"X","message":"y"}`), nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 3))
	if got.status != http.StatusOK {
		t.Errorf("cancel: %d %s", got.status, got.body)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	good := func() proxy.Config {
		return proxy.Config{Registry: regName, Target: mustURL(t, "https://api.covoiturage.beta.gouv.fr"), Registrar: newTrackerRegistrar()}
	}
	if _, err := proxy.New(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := map[string]func(*proxy.Config){
		"no name":           func(c *proxy.Config) { c.Registry = "" },
		"no registrar":      func(c *proxy.Config) { c.Registrar = nil },
		"no target":         func(c *proxy.Config) { c.Target = nil },
		"ftp target":        func(c *proxy.Config) { c.Target = mustURL(t, "ftp://example.org") },
		"no host":           func(c *proxy.Config) { c.Target = mustURL(t, "https:///v3") },
		"credentials":       func(c *proxy.Config) { c.Target = mustURL(t, "https://user:secret@example.org") },
		"query":             func(c *proxy.Config) { c.Target = mustURL(t, "https://example.org/?x=1") },
		"negative timeout":  func(c *proxy.Config) { c.TrackTimeout = -time.Second },
		"negative body max": func(c *proxy.Config) { c.MaxBodyBytes = -1 },
	}
	for name, mod := range cases {
		c := good()
		mod(&c)
		_, err := proxy.New(c)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the credential: %v", name, err)
		}
	}
}

// busyBody is simulator.SubmissionBody with the driver's identity key set,
// so several journeys can share a driver.
func busyBody(t *testing.T, id string, start time.Time, driverKey string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(simulator.SubmissionBody(id, start), &m); err != nil {
		t.Fatal(err)
	}
	m["driver"].(map[string]any)["identity"].(map[string]any)["identity_key"] = driverKey
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A driver's sixth trip of the day is refused with the counts on 3.3 and
// 3.4 by the current servers, with the label alone by older ones: either
// way the operator gets the answer unchanged and the journey is tracked
// with its reason; the counts go to the debug log only.
func TestTooManyTripsRefusal(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		for _, version := range []string{"3.3", "3.4"} {
			t.Run(fmt.Sprintf("legacy=%v/v%s", legacy, version), func(t *testing.T) {
				t.Parallel()
				reg := newSimRegistry(t)
				tr := newTrackerRegistrar()
				f := newFront(t, reg.url, tr, nil)
				driver := strings.Repeat("d", 64)
				first := simNow.Add(-8 * time.Hour)
				for i := range 5 {
					id := fmt.Sprintf("day%d", i)
					if st, b := reg.sim.Submit(operatorID, busyBody(t, id, first.Add(time.Duration(i)*time.Hour), driver)); st != http.StatusCreated {
						t.Fatalf("%s: %d %s", id, st, b)
					}
				}
				reg.sim.SetFaults(simulator.Faults{LegacyTerms: legacy})
				got := do(t, http.MethodPost, f.url+"/v"+version+"/journeys", token, busyBody(t, "day5", first.Add(6*time.Hour), driver), nil)
				if got.status != http.StatusUnprocessableEntity {
					t.Fatalf("sixth trip: %d %s", got.status, got.body)
				}
				sameAnswer(t, got, reg.rec.answerNumber(t, 1))
				if legacy == strings.Contains(string(got.body), "terms_violation_error_details") {
					t.Errorf("the registry's answer: %s", got.body)
				}
				if j, ok := tr.tr.Lookup("day5"); !ok || j.Status != "terms_violation_error" || !slices.Equal(j.TermsReasons, []string{"too_many_trips_by_day"}) {
					t.Errorf("tracked as %+v (%v), want terms_violation_error with too_many_trips_by_day", j, ok)
				}
				const counts = "reason=too_many_trips_by_day driver_trips=5 passenger_trips=0 limit=4"
				if logs := f.logs.String(); legacy == strings.Contains(logs, counts) {
					t.Errorf("logs (want the counts: %v):\n%s", !legacy, logs)
				}
			})
		}
	}
}

// Details the proxy does not expect change nothing: the answer is relayed
// byte for byte, the labels are tracked (a reason it does not know as
// other), odd counts are left out of the log.
func TestOddTermsDetails(t *testing.T) {
	t.Parallel()
	const body = `{"jsonrpc":"2.0","id":1,"error":{"data":{"terms_violation_labels":["too_many_trips_by_day","a_new_reason"],` +
		`"terms_violation_error_details":[{"label":"too_many_trips_by_day","metas":{"driver":"lots","passenger":-2,"limit":{}}},null,7,` +
		`{"label":"a_new_reason","metas":{"driver":1,"passenger":2,"limit":3,"why":["x"]}},{"label":{"nested":true}}],"extra":{"k":"v"}},` +
		`"code":-32422,"message":"Unprocessable Request","new_field":1}}`
	_, target := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, body)
	})
	tr := newTrackerRegistrar()
	f := newFront(t, target, tr, nil)
	got := do(t, http.MethodPost, f.url+"/v3.4/journeys", token, simulator.SubmissionBody("odd1", simNow.Add(-time.Hour)), nil)
	if got.status != http.StatusUnprocessableEntity || string(got.body) != body {
		t.Errorf("relayed %d %s", got.status, got.body)
	}
	if j, ok := tr.tr.Lookup("odd1"); !ok || j.Status != "terms_violation_error" || !slices.Equal(j.TermsReasons, []string{"too_many_trips_by_day", tracker.Other}) {
		t.Errorf("tracked as %+v (%v)", j, ok)
	}
	logs := f.logs.String()
	if strings.Contains(logs, "lots") || !strings.Contains(logs, "reason=a_new_reason driver_trips=1 passenger_trips=2 limit=3") ||
		strings.Contains(logs, "level=WARN") {
		t.Errorf("logs:\n%s", logs)
	}
}
