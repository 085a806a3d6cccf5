package registry_test

// These tests run the client against the project's simulated registry over
// real HTTP: every error row of docs/registry.md, both authentication schemes,
// rate limiting, v2, v3.x, certificates and both status body variants.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	staticToken = "static-application-token"
	accessKey   = "access-key-1"
	secretKey   = "secret-key-1"
	operatorID  = 7
)

var simStart = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type fixture struct {
	sim   *simulator.Simulator
	srv   *httptest.Server
	clock *clock.Accelerated
}

func newFixture(t testing.TB, mod func(*simulator.Config)) *fixture {
	t.Helper()
	clk := clock.NewAccelerated(simStart, 0)
	cfg := simulator.Config{
		Tokens: []simulator.Token{{Value: staticToken, OperatorID: operatorID}},
		Keys:   []simulator.KeyPair{{AccessKey: accessKey, SecretKey: secretKey, OperatorID: operatorID}},
		Clock:  clk,
		Seed:   1,
	}
	if mod != nil {
		mod(&cfg)
	}
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &fixture{sim: sim, srv: srv, clock: clk}
}

// put stores a journey that started an hour before the simulated now.
func (f *fixture) put(id, status string) {
	f.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: id, Status: status,
		CreatedAt: simStart, StartAt: registry.ListEndLimit(simStart).Add(-time.Hour), EndAt: registry.ListEndLimit(simStart), DistanceMeters: 5000})
}

// writeSecret puts a credential in a file, as an operator would.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func staticAuth(t *testing.T) registry.Auth {
	a, err := registry.StaticTokenFile(writeSecret(t, staticToken))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func keyAuth(t *testing.T, secret string) registry.Auth {
	a, err := registry.KeyPairFile(accessKey, writeSecret(t, secret))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// observations collects what the client reports.
type observations struct {
	mu  sync.Mutex
	obs []registry.Observation
}

func (o *observations) add(ob registry.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.obs = append(o.obs, ob)
}

func (o *observations) byEndpoint(endpoint string) []registry.Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []registry.Observation
	for _, ob := range o.obs {
		if ob.Endpoint == endpoint {
			out = append(out, ob)
		}
	}
	return out
}

func (f *fixture) client(t testing.TB, auth registry.Auth, mod func(*registry.Config)) (*registry.Client, *observations) {
	t.Helper()
	obs := &observations{}
	cfg := registry.Config{
		BaseURL:     f.srv.URL,
		Version:     "3.3",
		Auth:        auth,
		Rate:        rate.Inf,
		Burst:       1,
		TokenRate:   rate.Inf,
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  50 * time.Millisecond,
		Observer:    obs.add,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, obs
}

// requests counts the simulator's answers to path prefixes, by status.
func (f *fixture) answers(method, pathSuffix string) []simulator.RequestRecord {
	var out []simulator.RequestRecord
	for _, r := range f.sim.Requests() {
		if r.Method == method && (pathSuffix == "" || strings.HasSuffix(r.Path, pathSuffix)) {
			out = append(out, r)
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A journey in every known state, plus values the registry might invent.
func sampleJourneys() []simulator.Journey {
	start := simStart.Add(-60 * time.Hour)
	j := func(id, status string) simulator.Journey {
		return simulator.Journey{OperatorID: operatorID, OperatorJourneyID: id, Status: status,
			CreatedAt: start.Add(time.Hour), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 12000}
	}
	var out []simulator.Journey
	for i, s := range registry.Statuses {
		out = append(out, j("status"+strconv.Itoa(i+1), s))
	}
	fraud := j("fraudall", "fraud_error")
	fraud.FraudLabels = registry.FraudLabels
	anomaly := j("anomalyall", "anomaly_error")
	anomaly.Anomalies = []simulator.Anomaly{
		{Label: "temporal_overlap_anomaly", ConflictingOperatorJourneyID: "other1", OverlapRatio: 0.85},
		{Label: "distance_duration_anomaly"},
	}
	terms := j("termsall", "terms_violation_error")
	terms.TermsViolations = registry.TermsReasons
	invented := j("invented", "brand_new_status")
	invented.FraudLabels = []string{"interoperator_new_rule"}
	invented.TermsViolations = []string{"new_reason"}
	return append(out, fraud, anomaly, terms, invented)
}

// legacyVersions has the simulator serve every version it knows, the
// retired ones included: the client still speaks them, for servers that
// still serve them.
func legacyVersions(c *simulator.Config) { c.Versions = simulator.AllVersions }

// Every version the client speaks (3.1 included), on a simulator serving
// them all.
func TestJourneyStatusEveryVersionAndVariant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, legacyVersions)
	for _, j := range sampleJourneys() {
		f.sim.Put(j)
	}
	for _, version := range []string{"3.1", "3.2", "3.3", "3.4", "3"} {
		for _, variant := range []string{"code", "spec"} {
			t.Run(version+"/"+variant, func(t *testing.T) {
				f.sim.SetFaults(simulator.Faults{StatusVariant: variant})
				c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.Version = version })
				for _, want := range sampleJourneys() {
					got, err := c.JourneyStatus(ctxT(t), want.OperatorJourneyID)
					if err != nil {
						t.Fatalf("%s: %v", want.OperatorJourneyID, err)
					}
					if got.Status != want.Status || got.OperatorJourneyID != want.OperatorJourneyID ||
						!got.CreatedAt.Equal(want.CreatedAt) || got.JourneyID == "" {
						t.Errorf("%s: got %+v", want.OperatorJourneyID, got)
					}
					if !sameStrings(got.FraudLabels, want.FraudLabels) || !sameStrings(got.TermsViolations, want.TermsViolations) {
						t.Errorf("%s: labels %v %v, want %v %v", want.OperatorJourneyID, got.FraudLabels, got.TermsViolations, want.FraudLabels, want.TermsViolations)
					}
					if len(got.Anomalies) != len(want.Anomalies) {
						t.Fatalf("%s: anomalies %+v", want.OperatorJourneyID, got.Anomalies)
					}
					for i, a := range want.Anomalies {
						g := got.Anomalies[i]
						if g.Label != a.Label || g.ConflictingJourneyID != a.ConflictingOperatorJourneyID || g.OverlapRatio != a.OverlapRatio {
							t.Errorf("%s: anomaly %+v, want %+v", want.OperatorJourneyID, g, a)
						}
					}
				}
			})
		}
	}
}

func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// The v2 API: by the registry's journey_id, JSON-RPC envelope,
// its own status names.
func TestJourneyStatusV2(t *testing.T) {
	t.Parallel()
	f := newFixture(t, legacyVersions)
	start := simStart.Add(-30 * time.Hour)
	f.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: "late1", JourneyID: 4242, Status: "terms_violation_error",
		TermsViolations: []string{"expired"}, CreatedAt: start.Add(26 * time.Hour), StartAt: start, EndAt: start.Add(time.Hour), DistanceMeters: 9000})
	f.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: "fraud1", JourneyID: 4243, Status: "fraud_error",
		FraudLabels: []string{"interoperator_overlap"}, CreatedAt: start, StartAt: start, EndAt: start.Add(time.Hour), DistanceMeters: 9000})
	c, _ := f.client(t, staticAuth(t), nil)
	for id, want := range map[string]string{"4242": "expired", "4243": "fraudcheck_error"} {
		got, err := c.JourneyStatusV2(ctxT(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want || got.JourneyID != id || got.CreatedAt.IsZero() {
			t.Errorf("v2 %s: got %+v, want status %s", id, got, want)
		}
	}
	if _, err := c.JourneyStatusV2(ctxT(t), "999999"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown v2 journey: %v", err)
	}
}

// Against a registry serving what the real servers serve (3.3 and 3.4),
// "3" is the newest of them, and the retired versions, v2 included, are
// told apart from a vanished journey: an unsupported version, at once.
func TestServedVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.put("known1", "pending")
	for _, version := range []string{"3.3", "3.4", "3", "v3"} {
		c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.Version = version })
		if got, err := c.JourneyStatus(ctxT(t), "known1"); err != nil || got.Status != "pending" {
			t.Errorf("v%s: %+v, %v", version, got, err)
		}
	}
	if n := len(f.answers(http.MethodGet, "")); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	for _, r := range f.answers(http.MethodGet, "") {
		if r.Status != http.StatusOK {
			t.Errorf("%s answered %d", r.Path, r.Status)
		}
	}
	for _, version := range []string{"3.1", "3.2"} {
		c, obs := f.client(t, staticAuth(t), func(c *registry.Config) { c.Version = version; c.MaxAttempts = 3 })
		_, err := c.JourneyStatus(ctxT(t), "known1")
		if !errors.Is(err, registry.ErrUnsupportedVersion) || errors.Is(err, registry.ErrNotFound) {
			t.Errorf("v%s status: %v, want an unsupported version", version, err)
		}
		if _, err := c.Certificate(ctxT(t), "8a9d2da9-39e3-4db7-be8e-12b4d2179fda"); !errors.Is(err, registry.ErrUnsupportedVersion) {
			t.Errorf("v%s certificate: %v, want an unsupported version", version, err)
		}
		if n := len(obs.obs); n != 2 {
			t.Errorf("v%s: %d attempts, want 2: an unsupported version is not retried", version, n)
		}
	}
	c, _ := f.client(t, staticAuth(t), nil)
	j, _ := f.sim.Journey("known1")
	if _, err := c.JourneyStatusV2(ctxT(t), strconv.FormatInt(j.JourneyID, 10)); !errors.Is(err, registry.ErrUnsupportedVersion) {
		t.Errorf("v2: %v, want an unsupported version", err)
	}
}

// The certificate check (a 3.1 route shown on 3.2, dropped from
// the specs since and still routed), on every version the client speaks.
func TestCertificate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, legacyVersions)
	okID, expiredID := "8a9d2da9-39e3-4db7-be8e-12b4d2179fda", "9415300a-7a51-4296-96d1-68636e46485d"
	f.sim.AddCertificate(simulator.Certificate{UUID: okID, OperatorID: operatorID, Type: "ok",
		StartAt: simStart.AddDate(0, -1, 0), EndAt: simStart, CreatedAt: simStart})
	f.sim.AddCertificate(simulator.Certificate{UUID: expiredID, OperatorID: operatorID, Type: "expired",
		StartAt: simStart.AddDate(-1, 0, 0), EndAt: simStart.AddDate(0, -6, 0), CreatedAt: simStart.AddDate(0, -6, 0)})
	for _, version := range []string{"3.1", "3.2", "3.3", "3.4", "3"} {
		c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.Version = version })
		for id, want := range map[string]string{okID: "ok", expiredID: "expired"} {
			got, err := c.Certificate(ctxT(t), id)
			if err != nil {
				t.Fatalf("v%s: %v", version, err)
			}
			if got.Type != want || got.UUID != id || got.EndAt.IsZero() {
				t.Errorf("v%s certificate %s: %+v", version, id, got)
			}
		}
	}
	c, obs := f.client(t, staticAuth(t), nil)
	if _, err := c.Certificate(ctxT(t), "0b2b7c5e-0000-4000-8000-000000000000"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown certificate: %v", err)
	}
	before := len(obs.byEndpoint(registry.EndpointCertificate))
	if _, err := c.Certificate(ctxT(t), "../journeys"); !errors.Is(err, registry.ErrBadRequest) {
		t.Errorf("malformed uuid: %v", err)
	}
	if after := len(obs.byEndpoint(registry.EndpointCertificate)); after != before {
		t.Errorf("a malformed uuid was sent to the registry")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c, _ := f.client(t, registry.Auth{}, nil)
	h, err := c.Health(ctxT(t))
	if err != nil || h.Status != "ok" {
		t.Fatalf("health: %+v %v", h, err)
	}
	f.sim.SetFaults(simulator.Faults{Maintenance: true})
	if _, err := c.Health(ctxT(t)); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("health in maintenance: %v", err)
	}
	if n := len(f.answers(http.MethodGet, "/health")); n != 2 {
		t.Errorf("health probes are not retried: %d requests, want 2", n)
	}
}

// Every row of docs/registry.md's error table, from the simulator, as a typed
// error a caller can act on.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		faults    simulator.Faults
		simConfig func(*simulator.Config)
		auth      func(t *testing.T) registry.Auth
		version   string
		call      func(ctx context.Context, c *registry.Client) error
		want      error
		code      int
		attempts  int // HTTP attempts the client makes
	}{
		{name: "400 list start before now-90d", want: registry.ErrBadRequest, code: -32602, attempts: 1,
			call: func(ctx context.Context, c *registry.Client) error {
				_, err := c.ListJourneys(ctx, registry.ListQuery{Status: "ok", Start: simStart.AddDate(0, 0, -100)})
				return err
			}},
		{name: "401 wrong static token", want: registry.ErrUnauthorized, code: -32501, attempts: 1,
			auth: func(t *testing.T) registry.Auth { return registry.Auth{Token: "not-a-token"} }},
		{name: "401 wrong secret key", want: registry.ErrUnauthorized, code: -32501, attempts: 0,
			auth: func(t *testing.T) registry.Auth { return keyAuth(t, "wrong-secret") }},
		{name: "403 no credentials", want: registry.ErrForbidden, code: -32503, attempts: 1,
			auth: func(t *testing.T) registry.Auth { return registry.Auth{} }},
		{name: "403 missing permission", want: registry.ErrForbidden, code: -32503, attempts: 1,
			simConfig: func(c *simulator.Config) {
				c.Tokens = []simulator.Token{{Value: staticToken, OperatorID: operatorID, Permissions: []string{simulator.PermCreate}}}
			}},
		{name: "404 unknown journey", want: registry.ErrNotFound, code: -32504, attempts: 1,
			call: func(ctx context.Context, c *registry.Client) error {
				_, err := c.JourneyStatus(ctx, "nosuchjourney")
				return err
			}},
		{name: "404 unsupported version", want: registry.ErrUnsupportedVersion, attempts: 1, version: "3.1",
			simConfig: func(c *simulator.Config) { c.Versions = []string{"3.2", "3.3"} }},
		{name: "404 retired version", want: registry.ErrUnsupportedVersion, attempts: 1, version: "3.2"},
		{name: "429 storm", want: registry.ErrRateLimited, code: 429, attempts: 1,
			faults: simulator.Faults{RateLimitStorm: time.Minute}},
		{name: "500 server error", want: registry.ErrServerError, code: -32603, attempts: 3,
			faults: simulator.Faults{ServerErrorRatio: 1}},
		{name: "500 badly signed JWT", want: registry.ErrServerError, code: -32603, attempts: 3,
			auth: func(t *testing.T) registry.Auth {
				return registry.Auth{Token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"}
			}},
		{name: "503 maintenance", want: registry.ErrUnavailable, code: 503, attempts: 3,
			faults: simulator.Faults{Maintenance: true}},
		{name: "malformed body", want: registry.ErrDecode, attempts: 3,
			faults: simulator.Faults{MalformedRatio: 1}},
		{name: "truncated body", want: registry.ErrDecode, attempts: 3,
			faults: simulator.Faults{TruncatedRatio: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.simConfig)
			f.put("known1", "pending")
			f.sim.SetFaults(tt.faults)
			auth := staticAuth(t)
			if tt.auth != nil {
				auth = tt.auth(t)
			}
			c, obs := f.client(t, auth, func(c *registry.Config) {
				c.MaxAttempts = 3
				if tt.version != "" {
					c.Version = tt.version
				}
			})
			call := tt.call
			if call == nil {
				call = func(ctx context.Context, c *registry.Client) error {
					_, err := c.JourneyStatus(ctx, "known1")
					return err
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := call(ctx, c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var e *registry.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("registry code = %d, want %d (%v)", e.Code, tt.code, err)
			}
			if containsSecret(err.Error()) {
				t.Errorf("error leaks a credential: %v", err)
			}
			var statusAttempts int
			for _, ob := range obs.obs {
				if ob.Endpoint != registry.EndpointAccessToken {
					statusAttempts++
				}
			}
			if statusAttempts != tt.attempts {
				t.Errorf("%d attempts, want %d", statusAttempts, tt.attempts)
			}
		})
	}
}

func containsSecret(s string) bool {
	for _, secret := range []string{staticToken, secretKey, "wrong-secret", "not-a-token"} {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// 409 and 422 only answer submissions: SubmitJourney and DecodeSubmission
// turn them into typed errors, with the terms labels.
func TestSubmissionAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c, _ := f.client(t, staticAuth(t), nil)
	start := simStart.Add(-2 * time.Hour)
	body := journeyBody("sub1", start, 8000)
	got, err := c.SubmitJourney(ctxT(t), body)
	if err != nil || got.OperatorJourneyID != "sub1" || got.CreatedAt.IsZero() {
		t.Fatalf("first submission: %+v %v", got, err)
	}
	_, err = c.SubmitJourney(ctxT(t), body)
	if !errors.Is(err, registry.ErrConflict) || registry.KindOf(err) != registry.KindConflict {
		t.Errorf("duplicate: %v", err)
	}
	_, err = c.SubmitJourney(ctxT(t), journeyBody("late1", simStart.Add(-30*time.Hour), 8000))
	var e *registry.Error
	if !errors.As(err, &e) || e.Kind != registry.KindTermsViolation || !slices.Contains(e.TermsLabels, "expired") {
		t.Fatalf("late submission: %v", err)
	}
	st, err := c.JourneyStatus(ctxT(t), "late1")
	if err != nil || st.Status != "terms_violation_error" || !slices.Contains(st.TermsViolations, "expired") {
		t.Errorf("a 422 journey is stored as terms_violation_error: %+v %v", st, err)
	}
	_, err = c.SubmitJourney(ctxT(t), []byte(`{"operator_journey_id":"x"}`))
	if !errors.Is(err, registry.ErrBadRequest) {
		t.Errorf("schema error: %v", err)
	}
}

// A refusal for too many trips a day carries the counts on 3.3 and 3.4,
// as the current servers send them; older servers' 422 has the labels
// alone and gives no details.
func TestSubmissionTermsDetails(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		for _, version := range []string{"3.3", "3.4"} {
			t.Run(fmt.Sprintf("legacy=%v/v%s", legacy, version), func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, nil)
				c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.Version = version })
				start := simStart.Add(-8 * time.Hour)
				for i := range 5 {
					body := journeyBodyOf(fmt.Sprintf("day%d", i), start.Add(time.Duration(i)*time.Hour), 8000, 'a', byte('c'+i))
					if _, err := c.SubmitJourney(ctxT(t), body); err != nil {
						t.Fatalf("trip %d of the day: %v", i, err)
					}
				}
				f.sim.SetFaults(simulator.Faults{LegacyTerms: legacy})
				_, err := c.SubmitJourney(ctxT(t), journeyBodyOf("day5", start.Add(6*time.Hour), 500, 'a', 'z'))
				var e *registry.Error
				if !errors.As(err, &e) || e.Kind != registry.KindTermsViolation {
					t.Fatalf("sixth trip of the day: %v", err)
				}
				want := []registry.TermsDetail{{Label: "distance_too_short"},
					{Label: "too_many_trips_by_day", Trips: &registry.TripCounts{Driver: 5, Passenger: 0, Limit: 4}}}
				if legacy {
					want = nil
				}
				if !slices.Equal(e.TermsLabels, []string{"distance_too_short", "too_many_trips_by_day"}) || !reflect.DeepEqual(e.TermsDetails, want) {
					t.Errorf("labels %v details %+v, want %+v", e.TermsLabels, e.TermsDetails, want)
				}
				if !legacy && !strings.Contains(e.Error(), "too_many_trips_by_day: driver 5, passenger 0, limit 4") {
					t.Errorf("the error does not tell the counts: %v", e)
				}
			})
		}
	}
}

func journeyBody(id string, start time.Time, distance int) []byte {
	return journeyBodyOf(id, start, distance, 'a', 'b')
}

// journeyBodyOf is journeyBody with the driver's and the passenger's
// identity keys made of one letter each.
func journeyBodyOf(id string, start time.Time, distance int, driver, passenger byte) []byte {
	key := func(c byte) string {
		b := make([]byte, 64)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	end := start.Add(40 * time.Minute)
	return []byte(`{"operator_journey_id":"` + id + `","operator_trip_id":"trip-` + id + `","operator_class":"C","incentives":[],
	"start":{"datetime":"` + start.UTC().Format(time.RFC3339) + `","lat":48.85,"lon":2.35},
	"end":{"datetime":"` + end.UTC().Format(time.RFC3339) + `","lat":48.95,"lon":2.45},
	"distance":` + strconv.Itoa(distance) + `,
	"driver":{"identity":{"identity_key":"` + key(driver) + `","operator_user_id":"d-` + id + `","phone_trunc":"+336010203"},"revenue":200},
	"passenger":{"identity":{"identity_key":"` + key(passenger) + `","operator_user_id":"p-` + id + `","phone_trunc":"+336010204"},"contribution":200,"seats":1}}`)
}

// The key pair is traded for a JWT once, reused, renewed before it expires,
// and renewed once (not in a loop) when the registry refuses it mid-run.
func TestKeyPairJWTLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *simulator.Config) { c.JWTTTL = 3 * time.Second })
	f.put("j1", "pending")
	c, obs := f.client(t, keyAuth(t, secretKey), nil)
	for range 5 {
		if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(obs.byEndpoint(registry.EndpointAccessToken)); n != 1 {
		t.Fatalf("%d token exchanges for 5 calls, want 1", n)
	}

	// Mid-run, every issued JWT is refused: one 401, one renewal, success.
	f.sim.ExpireTokens()
	if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
		t.Fatalf("after the registry expired the token: %v", err)
	}
	if n := len(obs.byEndpoint(registry.EndpointAccessToken)); n != 2 {
		t.Errorf("%d token exchanges after one refusal, want 2", n)
	}
	refused := 0
	for _, ob := range obs.byEndpoint(registry.EndpointJourneyStatus) {
		if ob.StatusCode == http.StatusUnauthorized {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused status calls, want 1", refused)
	}

	// Running past the JWT's lifetime renews it before it expires: no
	// further call is refused.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(obs.byEndpoint(registry.EndpointAccessToken)); n < 3 {
		t.Errorf("%d token exchanges over a run longer than the JWT lifetime, want at least 3", n)
	}
	for _, ob := range obs.byEndpoint(registry.EndpointJourneyStatus) {
		if ob.StatusCode == http.StatusUnauthorized {
			refused--
		}
	}
	if refused != 0 {
		t.Errorf("a token was used after its expiry (%d extra 401s)", -refused)
	}
	for _, r := range f.sim.Requests() {
		if r.Group == "token" && r.Status != http.StatusCreated {
			t.Errorf("token route answered %d", r.Status)
		}
	}
}

// A JWT the registry refuses again right after renewal is not renewed in a
// loop.
func TestRefusedJWTRenewedOnlyOnce(t *testing.T) {
	t.Parallel()
	// Issued JWTs live 1 ns: every one is expired on arrival.
	f := newFixture(t, func(c *simulator.Config) { c.JWTTTL = time.Nanosecond })
	c, obs := f.client(t, keyAuth(t, secretKey), nil)
	_, err := c.JourneyStatus(ctxT(t), "j1")
	if !errors.Is(err, registry.ErrAuthExpired) {
		t.Fatalf("got %v, want ErrAuthExpired", err)
	}
	if n := len(obs.byEndpoint(registry.EndpointAccessToken)); n != 2 {
		t.Errorf("%d token exchanges, want 2 (the first and one renewal)", n)
	}
	if n := len(obs.byEndpoint(registry.EndpointJourneyStatus)); n != 2 {
		t.Errorf("%d status calls, want 2", n)
	}
}

// After a 429, nothing reaches the registry before Retry-After has passed.
func TestNoRequestBeforeRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.put("j1", "ok")
	f.sim.SetFaults(simulator.Faults{RateLimitStorm: 2 * time.Second})
	c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.MaxAttempts = 1 })
	_, err := c.JourneyStatus(ctxT(t), "j1")
	if !errors.Is(err, registry.ErrRateLimited) || registry.RetryAfterOf(err) <= 0 {
		t.Fatalf("storm: %v", err)
	}
	limitedAt := time.Now()
	retryAfter := registry.RetryAfterOf(err)
	if b := c.BlockedFor(); b <= 0 || b > retryAfter {
		t.Errorf("BlockedFor = %v, want (0, %v]", b, retryAfter)
	}

	// A caller that cannot wait that long is told so at once, without a
	// request.
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.JourneyStatus(short, "j1"); !errors.Is(err, registry.ErrRateLimited) {
		t.Errorf("short deadline during Retry-After: %v", err)
	}
	// /health has its own counter: the probe still answers.
	if h, err := c.Health(short); err != nil || h.Status != "ok" {
		t.Errorf("health during Retry-After: %+v %v, want ok", h, err)
	}

	// One that can wait gets its answer once the storm is over.
	f.sim.SetFaults(simulator.Faults{})
	if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
		t.Fatal(err)
	}
	var limited time.Time
	for _, r := range f.sim.Requests() {
		switch {
		case r.Group == "health":
		case r.Status == http.StatusTooManyRequests:
			limited = r.Time
		case !limited.IsZero() && r.Time.Before(limited.Add(retryAfter)):
			t.Errorf("request %s %s at %v, %v after the 429, before Retry-After %v",
				r.Method, r.Path, r.Time, r.Time.Sub(limited), retryAfter)
		}
	}
	if limited.IsZero() || time.Since(limitedAt) < retryAfter-50*time.Millisecond {
		t.Errorf("the call after the storm did not wait for Retry-After")
	}
}

// On the client's Clock, shared with the registry's limits, a 10-minute
// Retry-After is kept to the letter without waiting 10 minutes: a call
// that got the 429 goes again once the clock has passed it, not before;
// on a clock that runs, a caller whose deadline the block outlasts is told
// so at once.
func TestRetryAfterOnTheClientsClock(t *testing.T) {
	t.Parallel()
	t.Run("manual clock", func(t *testing.T) {
		t.Parallel()
		limits := clock.NewAccelerated(simStart, 0)
		f := newFixture(t, func(c *simulator.Config) { c.LimitClock = limits })
		f.put("j1", "ok")
		f.sim.SetFaults(simulator.Faults{RateLimitStorm: 10 * time.Minute})
		c, obs := f.client(t, staticAuth(t), func(c *registry.Config) { c.Clock, c.MaxAttempts = limits, 4 })
		done := make(chan error, 1)
		go func() {
			_, err := c.JourneyStatus(ctxT(t), "j1")
			done <- err
		}()
		testkit.WaitUntil(t, 5*time.Second, time.Millisecond, "the 429", func() bool { return len(obs.byEndpoint(registry.EndpointJourneyStatus)) == 1 })
		if b := c.BlockedFor(); b != 10*time.Minute {
			t.Fatalf("BlockedFor = %v, want 10m", b)
		}
		limits.Advance(10*time.Minute - time.Second)
		if b := c.BlockedFor(); b != time.Second {
			t.Fatalf("BlockedFor = %v a second before the end, want 1s", b)
		}
		limits.Advance(time.Second)
		if err := <-done; err != nil {
			t.Fatalf("after the block: %v", err)
		}
		attempts := obs.byEndpoint(registry.EndpointJourneyStatus)
		if len(attempts) != 2 || attempts[0].StatusCode != http.StatusTooManyRequests || attempts[1].StatusCode != http.StatusOK {
			t.Fatalf("attempts %+v, want a 429 then a 200", attempts)
		}
		if got := attempts[1].Admitted.Sub(attempts[0].Admitted); got < 10*time.Minute {
			t.Errorf("the second attempt left %v after the first, before the 429's Retry-After of 10m", got)
		}
	})
	t.Run("running clock", func(t *testing.T) {
		t.Parallel()
		limits := clock.NewAccelerated(simStart, 60) // the 10 minutes in 10 s
		f := newFixture(t, func(c *simulator.Config) { c.LimitClock = limits })
		f.put("j1", "ok")
		f.sim.SetFaults(simulator.Faults{RateLimitStorm: 10 * time.Minute})
		c, obs := f.client(t, staticAuth(t), func(c *registry.Config) { c.Clock, c.MaxAttempts = limits, 1 })
		if _, err := c.JourneyStatus(ctxT(t), "j1"); !errors.Is(err, registry.ErrRateLimited) {
			t.Fatalf("storm: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.JourneyStatus(ctx, "j1"); !errors.Is(err, registry.ErrRateLimited) || registry.RetryAfterOf(err) <= 9*time.Minute {
			t.Errorf("a second's deadline during a 10-minute block: %v, want rate limited at once", err)
		}
		if n := len(obs.byEndpoint(registry.EndpointJourneyStatus)); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

// A sustained run against the registry's own limit stays within it: the
// client reads X-RateLimit-Remaining/Reset and spreads its last requests
// instead of running into 429s.
func TestSustainedRunStaysWithinRegistryLimit(t *testing.T) {
	t.Parallel()
	const limit, window = 30, 2 * time.Second
	f := newFixture(t, func(c *simulator.Config) {
		c.Limits.Status = simulator.Limit{Requests: limit, Window: window}
	})
	f.put("j1", "pending")
	c, obs := f.client(t, staticAuth(t), nil) // no budget of its own: rate.Inf
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	for _, ob := range obs.byEndpoint(registry.EndpointJourneyStatus) {
		if ob.StatusCode == http.StatusTooManyRequests {
			t.Errorf("a request ran into a 429 although the headers announced the limit")
		}
	}
	if n := len(obs.byEndpoint(registry.EndpointJourneyStatus)); n != 80 {
		t.Errorf("%d attempts for 80 calls", n)
	}
}

// The configured budget holds even when the registry would allow more: in
// any second, at most burst + rate requests.
func TestConfiguredBudgetHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.put("j1", "pending")
	const r, burst = 20, 2
	c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.Rate, c.Burst = r, burst })
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 15 {
				if _, err := c.JourneyStatus(ctxT(t), "j1"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	times := []time.Time{}
	for _, rec := range f.answers(http.MethodGet, "/journeys/j1") {
		times = append(times, rec.Time)
	}
	if len(times) != 45 {
		t.Fatalf("%d requests, want 45", len(times))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// Allow a little scheduling slack on the server side timestamps.
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second-20*time.Millisecond {
			j++
		}
		if n := j - i; n > r+burst {
			t.Fatalf("%d requests within one second starting at request %d, budget allows %d", n, i, r+burst)
		}
	}
}

// The list walks every page, de-duplicates shifting pages, and finds what
// the per-status lists hold.
func TestListAllJourneys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var want []string
	for i := range 130 {
		id := "list" + strconv.Itoa(i+1)
		start := registry.ListEndLimit(simStart).Add(-time.Duration(i+1) * time.Hour)
		f.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: id, Status: "ok",
			CreatedAt: start.Add(time.Hour), StartAt: start, EndAt: start.Add(30 * time.Minute), DistanceMeters: 5000})
		want = append(want, id)
	}
	c, obs := f.client(t, staticAuth(t), nil)
	got, err := c.ListAllJourneys(ctxT(t), registry.ListQuery{Status: "ok", Start: simStart.Add(-7 * 24 * time.Hour), End: registry.ListEndLimit(simStart)})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listed %d ids, want %d", len(got), len(want))
	}
	if n := len(obs.byEndpoint(registry.EndpointJourneyList)); n != 3 {
		t.Errorf("%d list pages for 130 journeys at 50 a page, want 3", n)
	}

	// With shifting pages, no id is returned twice.
	f.sim.SetFaults(simulator.Faults{ShiftPages: true})
	got, err = c.ListAllJourneys(ctxT(t), registry.ListQuery{Status: "ok", Start: simStart.Add(-7 * 24 * time.Hour), End: registry.ListEndLimit(simStart), Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("id %s listed twice", id)
		}
		seen[id] = true
	}
	if _, err := c.ListJourneys(ctxT(t), registry.ListQuery{Status: "terms_violation_error"}); !errors.Is(err, registry.ErrBadRequest) {
		t.Errorf("unlistable status: %v", err)
	}
}

// Secrets stay in files and headers: no error, observation or log of the
// client shows them, even when the registry refuses them.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c, obs := f.client(t, keyAuth(t, "wrong-secret"), nil)
	_, err := c.JourneyStatus(ctxT(t), "j1")
	if err == nil || containsSecret(err.Error()) {
		t.Fatalf("error: %v", err)
	}
	for _, ob := range obs.obs {
		if ob.Err != nil && containsSecret(ob.Err.Error()) {
			t.Errorf("observation leaks a secret: %v", ob.Err)
		}
	}
}

// Against an operator's generated history (mixed body variants), the list
// finds journeys in every listable status and the per-journey GETs show
// every status, fraud label, anomaly label and terms reason.
func TestGeneratedTrafficThroughTheClient(t *testing.T) {
	t.Parallel()
	traffic := simulator.DefaultTraffic()
	traffic.OperatorID = operatorID
	traffic.PerHour = 40
	f := newFixture(t, func(c *simulator.Config) {
		c.Traffic = &traffic
		c.Limits.Status = simulator.Limit{Requests: 1 << 20, Window: time.Minute}
	})
	f.sim.SetFaults(simulator.Faults{StatusVariant: "mixed"})
	c, _ := f.client(t, staticAuth(t), nil)
	ctx := ctxT(t)
	seen := map[string]bool{}
	ids := map[string]bool{}
	for _, status := range []string{"ok", "pending", "canceled", "fraud_error", "anomaly_error", "acquisition_error"} {
		got, err := c.ListAllJourneys(ctx, registry.ListQuery{Status: status, Limit: 100,
			Start: simStart.Add(-5 * 24 * time.Hour), End: registry.ListEndLimit(simStart)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Errorf("no %s journey listed", status)
		}
		for _, id := range got {
			ids[id] = true
		}
	}
	for id := range ids {
		st, err := c.JourneyStatus(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		seen["status:"+st.Status] = true
		for _, l := range st.FraudLabels {
			seen["fraud:"+l] = true
		}
		for _, a := range st.Anomalies {
			seen["anomaly:"+a.Label] = true
		}
		for _, r := range st.TermsViolations {
			seen["terms:"+r] = true
		}
	}
	want := []string{"status:ok", "status:pending", "status:canceled", "status:fraud_error", "status:anomaly_error",
		"status:acquisition_error", "status:terms_violation_error"}
	for _, l := range registry.FraudLabels {
		want = append(want, "fraud:"+l)
	}
	for _, l := range registry.AnomalyLabels {
		want = append(want, "anomaly:"+l)
	}
	for _, r := range registry.TermsReasons {
		want = append(want, "terms:"+r)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("never saw %s through the client", w)
		}
	}
}

// Answers are read through a size limit, and a registry that cannot be
// reached is a transport error after the configured attempts.
func TestOversizedAnswerAndUnreachableRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i := range 60 {
		id := "big" + strconv.Itoa(i+1)
		f.put(id, "ok")
	}
	c, _ := f.client(t, staticAuth(t), func(c *registry.Config) { c.MaxBodyBytes = 1024; c.MaxAttempts = 1 })
	_, err := c.ListJourneys(ctxT(t), registry.ListQuery{Status: "ok", Limit: 60})
	if !errors.Is(err, registry.ErrDecode) {
		t.Errorf("oversized list page: %v", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	obs := &observations{}
	c2, err := registry.New(registry.Config{BaseURL: closed.URL, Auth: registry.Auth{Token: staticToken},
		MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, Observer: obs.add})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.JourneyStatus(ctxT(t), "j1")
	if !errors.Is(err, registry.ErrTransport) {
		t.Errorf("unreachable registry: %v", err)
	}
	if n := len(obs.obs); n != 3 {
		t.Errorf("%d attempts at an unreachable registry, want 3", n)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  registry.Config
		want string
	}{
		{registry.Config{BaseURL: "ftp://x"}, "base URL"},
		{registry.Config{BaseURL: "https://u:p@x"}, "credentials in the URL"},
		{registry.Config{BaseURL: "ftp://u:p@x"}, "credentials in the URL"},
		{registry.Config{BaseURL: "https://u:p@x/%zz"}, "not a valid URL"},
		{registry.Config{BaseURL: "https://x", Version: "2"}, "version"},
		{registry.Config{BaseURL: "https://x", Auth: registry.Auth{Token: "t", AccessKey: "a"}}, "either a token or an access key"},
		{registry.Config{BaseURL: "https://x", Auth: registry.Auth{AccessKey: "a"}}, "without a secret key"},
		{registry.Config{BaseURL: "https://x", MaxBodyBytes: 10}, "max body bytes"},
	}
	for _, tt := range tests {
		_, err := registry.New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "p@") {
			t.Errorf("error repeats URL credentials: %v", err)
		}
	}
	if _, err := registry.StaticTokenFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing token file accepted")
	}
	empty := writeSecret(t, "  ")
	if _, err := registry.StaticTokenFile(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty token file: %v", err)
	}
}
