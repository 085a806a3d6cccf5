package simulator

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestGeneratorProducesEverything(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	codes := map[int]int{}
	traffic := DefaultTraffic()
	traffic.PerHour = 60
	traffic.OnSubmit = func(s Submission) {
		mu.Lock()
		codes[s.HTTPStatus]++
		mu.Unlock()
	}
	f := newFixture(t, func(c *Config) { c.Traffic = &traffic })

	statuses, fraud, anomalies, terms := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	f.sim.mu.Lock()
	for _, r := range f.sim.st.byID {
		statuses[r.Status] = true
		for _, l := range r.FraudLabels {
			fraud[l] = true
		}
		for _, a := range r.Anomalies {
			anomalies[a.Label] = true
		}
		for _, l := range r.TermsViolations {
			terms[l] = true
		}
	}
	f.sim.mu.Unlock()
	for _, want := range []struct {
		name string
		got  map[string]bool
		all  []string
	}{
		{"status", statuses, []string{StatusOK, StatusPending, StatusCanceled, StatusFraudError, StatusAnomalyError, StatusTermsViolationError, StatusAcquisitionError}},
		{"fraud label", fraud, []string{FraudOverlap, FraudTooManyTrips, FraudTooCloseTrips}},
		{"anomaly label", anomalies, []string{AnomalyTemporalOverlap, AnomalyDistanceDuration}},
		{"terms reason", terms, []string{TermsDistanceTooShort, TermsTooManyTrips, TermsTooCloseTrips, TermsExpired}},
	} {
		for _, v := range want.all {
			if !want.got[v] {
				t.Errorf("no %s %s after the backfill", want.name, v)
			}
		}
	}
	mu.Lock()
	if codes[201] == 0 || codes[409] == 0 || codes[422] == 0 {
		t.Errorf("submission codes = %v", codes)
	}
	mu.Unlock()

	// Every listable status is found through the API with the default window.
	for _, st := range []string{StatusOK, StatusPending, StatusCanceled, StatusFraudError, StatusAnomalyError, StatusAcquisitionError} {
		r := f.do(t, "GET", "/v3.3/journeys?status="+st+"&limit=1000", token, "")
		var page []map[string]string
		if err := json.Unmarshal(r.body, &page); err != nil || len(page) == 0 {
			t.Errorf("list %s = %d %s", st, r.status, r.body)
		}
	}

	// Live traffic keeps coming as simulated time passes.
	before := len(f.sim.Requests())
	n := f.count()
	f.advance(2 * time.Hour)
	if got := f.count(); got < n+100 {
		t.Errorf("journeys %d -> %d after 2 h at 60/h", n, got)
	}
	if len(f.sim.Requests()) != before {
		t.Error("generated traffic shows in the HTTP request log")
	}
}

func (f *fixture) count() int {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	return len(f.sim.st.byID)
}

func TestGeneratorIsDeterministic(t *testing.T) {
	t.Parallel()
	snapshot := func() []Journey {
		traffic := DefaultTraffic()
		traffic.PerHour, traffic.Backfill = 30, 60*time.Hour
		f := newFixture(t, func(c *Config) { c.Traffic = &traffic })
		f.sim.mu.Lock()
		defer f.sim.mu.Unlock()
		var out []Journey
		for _, r := range f.sim.st.byID {
			out = append(out, r.clone())
		}
		slices.SortFunc(out, func(a, b Journey) int { return int(a.JourneyID - b.JourneyID) })
		return out
	}
	a, b := snapshot(), snapshot()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("sizes %d and %d", len(a), len(b))
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("same seed, different journeys")
	}
}

func TestTrafficValidation(t *testing.T) {
	t.Parallel()
	for _, tr := range []Traffic{{PerHour: -1}, {Backfill: -time.Hour}, {LateRatio: 2}, {LateRatio: 0.6, FraudRatio: 0.6}} {
		if _, err := New(Config{Traffic: &tr}); err == nil {
			t.Errorf("%+v accepted", tr)
		}
	}
	for _, cfg := range []Config{{Versions: []string{"3.0"}}, {Tokens: []Token{{}}}, {Keys: []KeyPair{{AccessKey: "a"}}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
