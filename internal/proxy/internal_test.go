package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

func TestIsSubmitPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/v3/journeys":             true,
		"/v3.3/journeys":           true,
		"/v3.4/journeys/":          true,
		"/v3.10/journeys":          true,
		"v3.3/journeys":            true, // mounted with the trailing slash stripped too
		"/v2/journeys":             false,
		"/v3./journeys":            false,
		"/v3.x/journeys":           false,
		"/v33/journeys":            false,
		"/v4/journeys":             false,
		"/v3.3/journeys/a1":        false,
		"/v3.3/journeys/a1/cancel": false,
		"/v3.3/journeys//":         false,
		"/v3.3/auth/access_token":  false,
		"/journeys":                false,
		"/":                        false,
		"":                         false,
	} {
		if got := isSubmitPath(path); got != want {
			t.Errorf("isSubmitPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestChangeCall(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 256)
	cases := []struct {
		method, path string
		op           tracker.Operation
		id           string
	}{
		{http.MethodPost, "/v3.3/journeys/a1/cancel", tracker.Cancel, "a1"},
		{http.MethodPost, "/v3/journeys/a1/cancel/", tracker.Cancel, "a1"},
		{http.MethodPost, "/v3.4/journeys/a%2Fb%20c%25d/cancel", tracker.Cancel, "a/b c%d"},
		{http.MethodPost, "/v3.3/journeys/" + url.PathEscape(long) + "/cancel", tracker.Cancel, long},
		{http.MethodPatch, "/v3.3/journeys/A-1_x", tracker.Patch, "A-1_x"},
		{http.MethodPatch, "/v3.3/journeys/A-1_x/", tracker.Patch, "A-1_x"},
		{http.MethodPatch, "v3.3/journeys/a+b", tracker.Patch, "a+b"},
		// v2 has neither call; other versions, methods and routes are
		// forwarded only.
		{http.MethodPost, "/v2/journeys/a1/cancel", 0, ""},
		{http.MethodPatch, "/v2/journeys/7", 0, ""},
		{http.MethodPost, "/v3.x/journeys/a1/cancel", 0, ""},
		{http.MethodGet, "/v3.3/journeys/a1/cancel", 0, ""},
		{http.MethodPut, "/v3.3/journeys/a1", 0, ""},
		{http.MethodPost, "/v3.3/journeys/a1", 0, ""},
		{http.MethodGet, "/v3.3/journeys/a1", 0, ""},
		{http.MethodPatch, "/v3.3/journeys", 0, ""},
		{http.MethodPatch, "/v3.3/journeys/", 0, ""},
		{http.MethodPost, "/v3.3/journeys//cancel", 0, ""},
		{http.MethodPost, "/v3.3/journeys/a1/cancel/x", 0, ""},
		{http.MethodPatch, "/v3.3/journeys/a1//", 0, ""},
		{http.MethodPatch, "/v3.3/certificates/a1", 0, ""},
		// Ids the registry refuses: a bad escape, too long, a NUL.
		{http.MethodPost, "/v3.3/journeys/a%zz/cancel", 0, ""},
		{http.MethodPost, "/v3.3/journeys/" + url.PathEscape(long+"x") + "/cancel", 0, ""},
		{http.MethodPatch, "/v3.3/journeys/a%00b", 0, ""},
	}
	for _, c := range cases {
		if op, id := changeCall(c.method, c.path); op != c.op || id != c.id {
			t.Errorf("changeCall(%s %s) = %v %q, want %v %q", c.method, c.path, op, id, c.op, c.id)
		}
	}
}

func TestParseJourney(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 20, 7, 45, 0, 0, time.UTC)
	cases := []struct {
		body string
		want journeyRef
	}{
		{`{"operator_journey_id":"abc1","start":{"datetime":"2026-11-20T08:45:00+01:00"}}`, journeyRef{id: "abc1", start: start, ok: true}},
		{`{"operator_journey_id":"abc1"}`, journeyRef{id: "abc1", ok: true}},
		{`{"operator_journey_id":"abc1","start":"2026-11-20T07:45:00Z"}`, journeyRef{id: "abc1", ok: true}},
		{`{"operator_journey_id":"abc1","start":{"datetime":20261120}}`, journeyRef{id: "abc1", ok: true}},
		{`{"operator_journey_id":"abc1","start":{"datetime":"2026-11-20 07:45"}}`, journeyRef{id: "abc1", ok: true}},
		{`{"operator_journey_id":"ABC-1/x y"}`, journeyRef{id: "ABC-1/x y", ok: true}},
		{`{"operator_journey_id":""}`, journeyRef{}},
		{`{"operator_journey_id":12}`, journeyRef{}},
		{`{"operator_journey_id":null}`, journeyRef{}},
		{`{"operator_journey_id":"abc1"`, journeyRef{}},
		{`{"operator_journey_id":"abc1"} trailing`, journeyRef{}},
		{`[]`, journeyRef{}},
		{``, journeyRef{}},
	}
	for _, c := range cases {
		if got := parseJourney([]byte(c.body), start); got.id != c.want.id || got.ok != c.want.ok || !got.start.Equal(c.want.start) {
			t.Errorf("parseJourney(%s) = %+v, want %+v", c.body, got, c.want)
		}
	}
}

// A start is bounded with the registry's time, not the wall clock: under
// --demo, a journey of the demo's day (years ahead of the wall clock here)
// keeps its start, and one more than a day past the registry's time, or
// before 2015, is tracked without it.
func TestParseJourneyBoundsTheStartWithTheRegistrysTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		start string
		want  time.Time
	}{
		{"2031-06-01T11:00:00Z", time.Date(2031, 6, 1, 11, 0, 0, 0, time.UTC)},
		{"2031-06-02T12:00:00Z", time.Date(2031, 6, 2, 12, 0, 0, 0, time.UTC)},
		{"2031-06-02T12:00:01Z", time.Time{}},
		{"2014-12-31T23:59:59Z", time.Time{}},
	} {
		body := `{"operator_journey_id":"abc1","start":{"datetime":"` + c.start + `"}}`
		if got := parseJourney([]byte(body), now); !got.ok || !got.start.Equal(c.want) {
			t.Errorf("parseJourney(%s) at %v = %+v, want start %v", body, now, got, c.want)
		}
	}
}

// Whatever the operator sends, reading it never panics and never yields an
// id the registry would refuse.
func FuzzParseJourney(f *testing.F) {
	for _, seed := range []string{
		`{"operator_journey_id":"abc1","start":{"datetime":"2026-11-20T08:45:00+01:00","lat":48.8,"lon":2.3}}`,
		`{"operator_journey_id":"abc1","start":null}`,
		`{"operator_journey_id":"a\u0062c"}`,
		`{"OPERATOR_JOURNEY_ID":"abc1"}`,
		`{"operator_journey_id":"abc1","operator_journey_id":"Bad"}`,
		`not json`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		j := parseJourney(body, time.Now())
		if j.ok != (j.id != "") || (j.ok && !registry.ValidOperatorJourneyID(j.id)) {
			t.Fatalf("parseJourney(%q) = %+v", body, j)
		}
		if !j.ok && !j.start.IsZero() {
			t.Fatalf("a start without a journey: %+v", j)
		}
	})
}

// blockedRegistrar never returns until released, whatever its context says.
type blockedRegistrar struct {
	calls   atomic.Int32
	release chan struct{}
}

func (r *blockedRegistrar) Register(context.Context, []tracker.Registration) (int, error) {
	r.calls.Add(1)
	<-r.release
	return 1, nil
}

func (r *blockedRegistrar) Relayed(context.Context, tracker.Change) (bool, error) {
	r.calls.Add(1)
	<-r.release
	return true, nil
}

// Registrations still running after their timeout are bounded: past the
// bound a submission is relayed at once, untracked, and counted.
func TestStuckRegistrationsAreBounded(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(upstream.Close)
	target, _ := url.Parse(upstream.URL)
	reg := &blockedRegistrar{release: make(chan struct{})}
	t.Cleanup(func() { close(reg.release) })
	metrics := prometheus.NewPedanticRegistry()
	observer := collector.NewProxyMetrics(metrics)
	observer.Declare("prod") // as the exporter does
	p, err := New(Config{Registry: "prod", Target: target, Registrar: reg, TrackTimeout: 20 * time.Millisecond,
		Observer: observer})
	if err != nil {
		t.Fatal(err)
	}
	p.pending = make(chan struct{}, 1)
	for i := range 3 {
		w := httptest.NewRecorder()
		body := strings.NewReader(`{"operator_journey_id":"stuck` + strconv.Itoa(i) + `"}`)
		p.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v3.3/journeys", body))
		if w.Code != http.StatusCreated {
			t.Fatalf("submission %d: %d", i, w.Code)
		}
	}
	if n := reg.calls.Load(); n != 1 {
		t.Errorf("the registrar was called %d times, want once: the first call still holds the only slot", n)
	}
	if n, err := testutil.GatherAndCount(metrics, "covoiturage_proxy_tracking_failures_total"); err != nil || n != 2 {
		t.Fatalf("%d failure series (%v)", n, err)
	}
	want := `
# HELP covoiturage_proxy_tracking_failures_total Submissions, and cancels and PATCHes the registry accepted, relayed without being tracked because registering them failed (error) or took longer than the tracking timeout (timeout).
# TYPE covoiturage_proxy_tracking_failures_total counter
covoiturage_proxy_tracking_failures_total{reason="error",registry="prod"} 0
covoiturage_proxy_tracking_failures_total{reason="timeout",registry="prod"} 3
`
	if err := testutil.GatherAndCompare(metrics, strings.NewReader(want), "covoiturage_proxy_tracking_failures_total"); err != nil {
		t.Error(err)
	}
}
