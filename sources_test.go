package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	sourcesRegistry = "sources"
	sourcesToken    = "sources-e2e-token-4b8e2d71"
	// sourcesSimAhead puts the simulated registry's clock this far ahead
	// of the exporter's: journeys submitted through the proxy at the
	// simulator's "now" then start after the newest start discovery
	// lists (the exporter's now), and the late one before the oldest, so
	// discovery cannot register them between the registry's answer and
	// the proxy's registration and take their source. Backfilled
	// journeys fill the window discovery does list.
	sourcesSimAhead = 2 * time.Hour
	// sourcesSimSpeed keeps the simulator's lifecycle and traffic moving
	// during the test: a simulated minute a second.
	sourcesSimSpeed = 60
)

// tappedAnswer is one exchange as the simulated registry saw it.
type tappedAnswer struct {
	method, path string
	request      []byte
	status       int
	header       http.Header
	body         []byte
}

// simTap sits in front of the simulator and keeps every answer it gives,
// so the test can compare what the operator got through the proxy with
// what the registry answered.
type simTap struct {
	next http.Handler
	mu   sync.Mutex
	log  []tappedAnswer
}

func (s *simTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(req))
	tw := testkit.NewTeeWriter(w)
	s.next.ServeHTTP(tw, r)
	s.mu.Lock()
	s.log = append(s.log, tappedAnswer{r.Method, r.URL.Path, req, tw.Status, w.Header().Clone(), bytes.Clone(tw.Body.Bytes())})
	s.mu.Unlock()
}

// answerTo waits for the registry's answer to the request with this
// method, path and body: the operator may read the relayed answer before
// the tap has stored it.
func (s *simTap) answerTo(t *testing.T, method, path string, request []byte) tappedAnswer {
	t.Helper()
	var got tappedAnswer
	testkit.WaitUntil(t, 10*time.Second, 5*time.Millisecond, "the registry's answer to "+method+" "+path, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, a := range slices.Backward(s.log) {
			if a.method == method && a.path == path && bytes.Equal(a.request, request) {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

// relayed is an answer as an HTTP client got it.
type relayed struct {
	status int
	header http.Header
	body   []byte
}

// sourcesCall sends one request, with the registry token when token is
// set, and reads the whole answer.
func sourcesCall(t *testing.T, method, u, token, contentType string, body []byte) relayed {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return relayed{resp.StatusCode, resp.Header, b}
}

// sameAsRegistry checks that the operator got the registry's answer
// unchanged: status, body byte for byte, every header the registry set.
func sameAsRegistry(t *testing.T, what string, got relayed, sent tappedAnswer) {
	t.Helper()
	if got.status != sent.status {
		t.Errorf("%s: status %d relayed, the registry answered %d", what, got.status, sent.status)
	}
	if !bytes.Equal(got.body, sent.body) {
		t.Errorf("%s: body relayed:\n%s\nthe registry's:\n%s", what, got.body, sent.body)
	}
	if len(sent.header) == 0 {
		t.Errorf("%s: the registry's answer had no header to compare", what)
	}
	for k, vs := range sent.header {
		if fmt.Sprint(got.header[k]) != fmt.Sprint(vs) {
			t.Errorf("%s: header %s relayed as %q, the registry sent %q", what, k, got.header[k], vs)
		}
	}
}

// trackedJourney is the part of GET /api/v1/journeys/{registry}/{id} the
// test reads.
type trackedJourney struct {
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Status          string    `json:"status"`
	TermsViolations []string  `json:"terms_violations"`
	Start           time.Time `json:"start"`
	LastCheck       time.Time `json:"last_check"`
}

// lookup reads what the exporter knows of one journey, the id escaped in
// the path as any HTTP client must send it; ok is false on a 404.
func (p *process) lookup(t *testing.T, registryName, id string) (trackedJourney, bool) {
	t.Helper()
	code, body, err := get(p.url("/api/v1/journeys/" + registryName + "/" + url.PathEscape(id)))
	if err != nil {
		t.Fatalf("journey %q: %v", id, err)
	}
	if code == http.StatusNotFound {
		return trackedJourney{}, false
	}
	var j trackedJourney
	if code != http.StatusOK || json.Unmarshal([]byte(body), &j) != nil || j.ID != id {
		t.Fatalf("journey %q: HTTP %d %s", id, code, body)
	}
	return j, true
}

// sourceCounts reads the series of name of each source of the sources
// registry.
func sourceCounts(m metrics, name string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range []string{"config", "push", "proxy", "discovery"} {
		out[s], _ = m.value(name, "registry", sourcesRegistry, "source", s)
	}
	return out
}

// sourcesWorld is the built exporter on durable storage watching one
// simulated registry, seen through a tap, with every journey source on:
// two configured ids, the push endpoint, the submission proxy, and
// discovery on a registry with generated traffic.
type sourcesWorld struct {
	bin, cfg, data string
	p              *process
	sim            *simulator.Simulator
	clk            *clock.Accelerated
	simStart       time.Time // the simulator's time when the exporter started
	tap            *simTap
	srv            *httptest.Server
	began          time.Time
}

func newSourcesWorld(t *testing.T) *sourcesWorld {
	t.Helper()
	w := &sourcesWorld{bin: buildExporter(t), began: time.Now()}
	traffic := simulator.DefaultTraffic()
	traffic.PerHour = 12
	// Journeys can only be listed from the Paris midnight after their
	// start: history reaches past the 50 h the list's window covers.
	traffic.Backfill = 80 * time.Hour
	w.clk = clock.NewAccelerated(time.Now().Add(sourcesSimAhead), sourcesSimSpeed)
	w.simStart = w.clk.Now()
	sim, err := simulator.New(simulator.Config{
		Tokens:  []simulator.Token{{Value: sourcesToken, OperatorID: 1}},
		Clock:   w.clk,
		Traffic: &traffic,
		Seed:    7,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.sim = sim
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go sim.Run(ctx)
	w.tap = &simTap{next: sim.Handler()}
	w.srv = httptest.NewServer(w.tap)
	t.Cleanup(w.srv.Close)

	dir := t.TempDir()
	w.data = filepath.Join(dir, "data")
	writeFile(t, filepath.Join(dir, "token"), sourcesToken+"\n")
	configStart := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	w.cfg = filepath.Join(dir, "covoiturage.yml")
	writeFile(t, w.cfg, fmt.Sprintf(`registries:
  - name: %s
    base_url: %s
    token_file: token
    budget:
      requests_per_second: 20
      burst: 40
    journeys:
      ids:
        - "srccfg1 %s"
        - srccfg2
    discovery:
      enabled: true
      interval: 1s
    proxy:
      enabled: true
    health_interval: 1s
`, sourcesRegistry, w.srv.URL, configStart.Format(time.RFC3339)))
	w.start(t)
	return w
}

// start runs the exporter on the world's configuration and storage and
// waits for it to be ready.
func (w *sourcesWorld) start(t *testing.T) {
	t.Helper()
	w.p = startExporter(t, w.bin, "--config.file="+w.cfg, "--storage.path="+w.data)
	w.p.waitFor(t, 30*time.Second, func(metrics) []string {
		if code, _, err := get(w.p.url("/-/ready")); err != nil || code != http.StatusOK {
			return []string{"/-/ready answering 200"}
		}
		return nil
	})
}

// push sends srcpush1, with its start, and srcpush2 to the push endpoint
// and expects both new.
func (w *sourcesWorld) push(t *testing.T) (start time.Time) {
	t.Helper()
	start = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a := sourcesCall(t, http.MethodPost, w.p.url("/api/v1/journeys/"+sourcesRegistry), "", "application/json",
		fmt.Appendf(nil, `[{"operator_journey_id":"srcpush1","start":%q},{"operator_journey_id":"srcpush2"}]`, start.Format(time.RFC3339)))
	var pushed struct {
		Accepted      int `json:"accepted"`
		New           int `json:"new"`
		RejectedCount int `json:"rejected_count"`
	}
	if err := json.Unmarshal(a.body, &pushed); err != nil || a.status != http.StatusOK || pushed.New != 2 || pushed.Accepted != 2 || pushed.RejectedCount != 0 {
		t.Fatalf("push of two journeys: %d %s, want 200 with new 2", a.status, a.body)
	}
	return start
}

// submit sends a submission through the proxy, as the operator does once
// its registry base URL points at the exporter, and checks the operator
// got the registry's answer unchanged, with wantCode.
func (w *sourcesWorld) submit(t *testing.T, what string, body []byte, wantCode int) relayed {
	t.Helper()
	got := sourcesCall(t, http.MethodPost, w.p.url("/proxy/"+sourcesRegistry+"/v3.3/journeys"), sourcesToken, "application/json", body)
	sameAsRegistry(t, what, got, w.tap.answerTo(t, http.MethodPost, "/v3.3/journeys", body))
	if got.status != wantCode {
		t.Fatalf("%s: HTTP %d %s, want %d", what, got.status, got.body, wantCode)
	}
	return got
}

// freshSubmission and lateSubmission are accepted (201) and refused as
// expired (422) by the registry.
func (w *sourcesWorld) freshSubmission() []byte {
	return simulator.SubmissionBody("srcproxyfresh", w.clk.Now().Add(-30*time.Minute))
}

func (w *sourcesWorld) lateSubmission() []byte {
	return simulator.SubmissionBody("srcproxylate", w.clk.Now().Add(-30*time.Hour))
}

// discovered waits for a discovery round and returns the journeys the
// simulator held before the exporter started and lists as pending, well
// inside the window a round lists: discovery must follow every one.
func (w *sourcesWorld) discovered(t *testing.T) []string {
	t.Helper()
	w.p.waitFor(t, 30*time.Second, func(m metrics) []string {
		var missing []string
		if v, _ := m.value("covoiturage_journeys_tracked", "registry", sourcesRegistry, "source", "discovery"); v <= 0 {
			missing = append(missing, fmt.Sprintf("journeys_tracked{source=discovery} > 0 (got %v)", v))
		}
		if v, _ := m.value("covoiturage_discovery_rounds_total", "registry", sourcesRegistry, "result", "ok"); v < 1 {
			missing = append(missing, fmt.Sprintf("discovery_rounds_total{result=ok} >= 1 (got %v)", v))
		}
		return missing
	})
	// The list ends at today 00:00 Paris (of the exporter's date: the
	// simulator's clock is ahead).
	end := registry.ListEndLimit(time.Now())
	q := url.Values{"status": {"pending"}, "limit": {"10000"},
		"start": {end.Add(-48 * time.Hour).Format(time.RFC3339)}, "end": {end.Format(time.RFC3339)}}
	a := sourcesCall(t, http.MethodGet, w.srv.URL+"/v3.3/journeys?"+q.Encode(), sourcesToken, "", nil)
	var listed []struct {
		ID string `json:"operator_journey_id"`
	}
	if err := json.Unmarshal(a.body, &listed); a.status != http.StatusOK || err != nil {
		t.Fatalf("the simulator's list: %d %v %s", a.status, err, a.body)
	}
	var ids []string
	for _, l := range listed {
		if sj, ok := w.sim.Journey(l.ID); ok && !sj.CreatedAt.After(w.simStart) {
			ids = append(ids, l.ID)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("the simulator lists no pending journey it held before the exporter started (%d listed)", len(listed))
	}
	return ids
}

// expectSources fails the test for each journey not tracked with the
// source given.
func (w *sourcesWorld) expectSources(t *testing.T, when string, sources map[string]string) {
	t.Helper()
	for id, source := range sources {
		if j, ok := w.p.lookup(t, sourcesRegistry, id); !ok || j.Source != source {
			t.Errorf("%s %s: %+v (tracked %v), want source %s", id, when, j, ok, source)
		}
	}
}

// expectNotFound checks a refusal for an unknown registry: a 404 whose
// JSON body says why.
func expectNotFound(t *testing.T, what string, a relayed, wantCode bool) {
	t.Helper()
	var refusal struct {
		Code  int    `json:"code"`
		Error string `json:"error"`
	}
	err := json.Unmarshal(a.body, &refusal)
	if a.status != http.StatusNotFound || err != nil || refusal.Error == "" ||
		(wantCode && refusal.Code != http.StatusNotFound) || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: %d %q %s, want a JSON 404 with an error", what, a.status, a.header.Get("Content-Type"), a.body)
	}
}

// Journeys pushed to /api/v1/journeys/{registry} are tracked with source
// push and the start pushed, and counted; a push to a registry the
// exporter does not watch is a 404 that says so.
func TestPushedJourneysAreTrackedAsPush(t *testing.T) {
	t.Parallel()
	w := newSourcesWorld(t)
	start := w.push(t)
	w.expectSources(t, "pushed", map[string]string{"srcpush1": "push", "srcpush2": "push"})
	if j, _ := w.p.lookup(t, sourcesRegistry, "srcpush1"); !j.Start.Equal(start) {
		t.Errorf("pushed srcpush1 has start %v, want the pushed %v", j.Start, start)
	}
	w.p.waitFor(t, 10*time.Second, func(m metrics) []string {
		return unmetWants(m, []want{
			{"covoiturage_journeys_registered_total", []string{"registry", sourcesRegistry, "source", "push"}, 2},
			{"covoiturage_push_journeys_total", []string{"registry", sourcesRegistry, "result", "new"}, 2},
			{"covoiturage_push_requests_total", []string{"registry", sourcesRegistry, "code", "200"}, 1},
		})
	})
	a := sourcesCall(t, http.MethodPost, w.p.url("/api/v1/journeys/nosuchregistry"), "", "application/json", []byte(`{"operator_journey_id":"srcpush3"}`))
	expectNotFound(t, "push to an unknown registry", a, false)
}

// The submission proxy relays each answer as the registry sent it and
// tracks what it submitted, with source proxy: a 201 is pending; a late
// 422 is counted as expired at once, before any status check; a 409 for
// a journey already tracked changes nothing; a status GET goes through
// unchanged. A registry the exporter does not watch is a JSON 404.
func TestProxyRelaysAndTracksSubmissions(t *testing.T) {
	t.Parallel()
	w := newSourcesWorld(t)
	fresh := w.freshSubmission()
	w.submit(t, "fresh submission", fresh, http.StatusCreated)
	if j, ok := w.p.lookup(t, sourcesRegistry, "srcproxyfresh"); !ok || j.Source != "proxy" || j.Status != "pending" {
		t.Errorf("proxied fresh journey: %+v (tracked %v), want pending from the proxy", j, ok)
	}

	m, _, err := w.p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	expiredBefore, _ := m.value("covoiturage_journeys_terms_violations_seen_total", "registry", sourcesRegistry, "reason", "expired")
	w.submit(t, "late submission", w.lateSubmission(), http.StatusUnprocessableEntity)
	// One scrape, right after the answer: the rejection is counted when
	// it happens, not at a later status check (none has run: the first
	// comes 10 minutes after registration).
	if m, _, err = w.p.scrape(); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.value("covoiturage_journeys_terms_violations_seen_total", "registry", sourcesRegistry, "reason", "expired"); v < expiredBefore+1 || v < 1 {
		t.Errorf("terms_violations_seen_total{reason=expired} = %v right after the 422, was %v before: want one more", v, expiredBefore)
	}
	if v, _ := m.value("covoiturage_scheduler_checks_total", "registry", sourcesRegistry, "outcome", "checked"); v != 0 {
		t.Errorf("%v status checks already made: the expired count could come from one", v)
	}
	j, ok := w.p.lookup(t, sourcesRegistry, "srcproxylate")
	if !ok || j.Source != "proxy" || j.Status != "terms_violation_error" || !slices.Contains(j.TermsViolations, "expired") || !j.LastCheck.IsZero() {
		t.Errorf("proxied late journey: %+v (tracked %v), want terms_violation_error with expired, from the proxy, never checked", j, ok)
	}
	w.submit(t, "fresh submission again", fresh, http.StatusConflict)
	if j, ok := w.p.lookup(t, sourcesRegistry, "srcproxyfresh"); !ok || j.Source != "proxy" || j.Status != "pending" {
		t.Errorf("proxied fresh journey after its 409: %+v (tracked %v), want pending from the proxy", j, ok)
	}

	base := w.p.url("/proxy/" + sourcesRegistry)
	got := sourcesCall(t, http.MethodGet, base+"/v3.3/journeys/srcproxyfresh", sourcesToken, "", nil)
	sameAsRegistry(t, "status GET", got, w.tap.answerTo(t, http.MethodGet, "/v3.3/journeys/srcproxyfresh", nil))
	direct := sourcesCall(t, http.MethodGet, w.srv.URL+"/v3.3/journeys/srcproxyfresh", sourcesToken, "", nil)
	if got.status != http.StatusOK || direct.status != got.status || !bytes.Equal(direct.body, got.body) {
		t.Errorf("status GET through the proxy: %d %s; asked directly: %d %s", got.status, got.body, direct.status, direct.body)
	}

	w.p.waitFor(t, 10*time.Second, func(m metrics) []string {
		return unmetWants(m, []want{
			{"covoiturage_journeys_registered_total", []string{"registry", sourcesRegistry, "source", "proxy"}, 2},
			{"covoiturage_proxy_submissions_total", []string{"registry", sourcesRegistry, "code", "201"}, 1},
			{"covoiturage_proxy_submissions_total", []string{"registry", sourcesRegistry, "code", "422"}, 1},
			{"covoiturage_proxy_submissions_total", []string{"registry", sourcesRegistry, "code", "409"}, 1},
			{"covoiturage_proxy_tracked_total", []string{"registry", sourcesRegistry, "result", "new"}, 2},
			{"covoiturage_proxy_tracked_total", []string{"registry", sourcesRegistry, "result", "already_tracked"}, 1},
			{"covoiturage_proxy_requests_total", []string{"registry", sourcesRegistry}, 1},
		})
	})

	a := sourcesCall(t, http.MethodPost, w.p.url("/proxy/nosuchregistry/v3.3/journeys"), sourcesToken, "application/json", fresh)
	expectNotFound(t, "proxy of an unknown registry", a, true)
}

// Discovery follows every journey the registry lists that the operator
// submitted before the exporter started, with source discovery, and
// counts each registration once.
func TestDiscoveryFollowsListedJourneys(t *testing.T) {
	t.Parallel()
	w := newSourcesWorld(t)
	discovered := w.discovered(t)
	sources := map[string]string{}
	for _, id := range discovered {
		sources[id] = "discovery"
	}
	w.expectSources(t, "listed by the simulator", sources)
	w.p.waitFor(t, 10*time.Second, func(m metrics) []string {
		registered, tracked := sourceCounts(m, "covoiturage_journeys_registered_total"), sourceCounts(m, "covoiturage_journeys_tracked")
		if registered["discovery"] != tracked["discovery"] || registered["discovery"] < float64(len(discovered)) {
			return []string{fmt.Sprintf("discovery: registered_total %v, tracked %v, want equal and at least the %d checked", registered["discovery"], tracked["discovery"], len(discovered))}
		}
		return nil
	})
}

// Every source on one registry: each journey keeps the source that
// registered it, registered_total counts each source's registrations, the
// exposition passes promtool and shows no token, and after SIGTERM and a
// restart on the same storage every journey is back with its source and
// no total went down.
func TestEverySourceSurvivesARestart(t *testing.T) {
	t.Parallel()
	w := newSourcesWorld(t)
	w.push(t)
	w.submit(t, "fresh submission", w.freshSubmission(), http.StatusCreated)
	w.submit(t, "late submission", w.lateSubmission(), http.StatusUnprocessableEntity)
	discovered := w.discovered(t)
	expect := map[string]string{"srccfg1": "config", "srccfg2": "config", "srcpush1": "push", "srcpush2": "push",
		"srcproxyfresh": "proxy", "srcproxylate": "proxy"}
	for _, id := range discovered {
		expect[id] = "discovery"
	}
	w.expectSources(t, "before the restart", expect)

	m, exposition := w.p.waitFor(t, 10*time.Second, func(m metrics) []string {
		registered, tracked := sourceCounts(m, "covoiturage_journeys_registered_total"), sourceCounts(m, "covoiturage_journeys_tracked")
		var missing []string
		for _, s := range []string{"config", "push", "proxy"} {
			if registered[s] != 2 || tracked[s] != 2 {
				missing = append(missing, fmt.Sprintf("%s: registered_total %v and tracked %v, want 2", s, registered[s], tracked[s]))
			}
		}
		if registered["discovery"] != tracked["discovery"] || registered["discovery"] < float64(len(discovered)) {
			missing = append(missing, fmt.Sprintf("discovery: registered_total %v, tracked %v, want equal and at least the %d checked", registered["discovery"], tracked["discovery"], len(discovered)))
		}
		return missing
	})
	promtoolCheck(t, exposition)
	before := sourceCounts(m, "covoiturage_journeys_registered_total")
	t.Logf("before the restart, %v after the start: registered_total by source %v", time.Since(w.began).Round(time.Millisecond), before)

	w.p.Stop(t)
	for _, out := range []string{w.p.Logs.String(), exposition} {
		if strings.Contains(out, sourcesToken) {
			t.Errorf("the registry token shows in the logs or the metrics")
		}
	}

	w.start(t)
	w.p.waitFor(t, 10*time.Second, func(m metrics) []string {
		var missing []string
		after := sourceCounts(m, "covoiturage_journeys_registered_total")
		for s, v := range before {
			if after[s] < v {
				missing = append(missing, fmt.Sprintf("registered_total{source=%s} %v after the restart, %v before", s, after[s], v))
			}
		}
		return missing
	})
	w.expectSources(t, "after the restart", expect)
	if j, _ := w.p.lookup(t, sourcesRegistry, "srcproxylate"); j.Status != "terms_violation_error" || !slices.Contains(j.TermsViolations, "expired") {
		t.Errorf("the late journey after the restart: %+v, want terms_violation_error with expired", j)
	}
	w.p.Stop(t)
	t.Logf("%d discovered journeys checked across the restart; whole run %v", len(discovered), time.Since(w.began).Round(time.Millisecond))
}
