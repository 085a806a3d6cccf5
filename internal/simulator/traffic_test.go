package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// submissions collects what the generator reports, from any goroutine.
type submissions struct {
	mu  sync.Mutex
	got []Submission
}

func (s *submissions) add(r Submission) {
	s.mu.Lock()
	s.got = append(s.got, r)
	s.mu.Unlock()
}

func (s *submissions) take() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

func trafficFixture(t *testing.T) (*fixture, *submissions, Traffic) {
	t.Helper()
	subs := &submissions{}
	traffic := DefaultTraffic()
	traffic.PerHour = 60
	traffic.Backfill = 0
	traffic.OnSubmit = subs.add
	return newFixture(t, func(c *Config) { c.Traffic = &traffic }), subs, traffic
}

func decodeSettings(t *testing.T, r reply) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// settingsOf is what the routes should show for t, built from the struct
// rather than typed again.
func settingsOf(t Traffic) map[string]any {
	return map[string]any{
		"per_hour": t.PerHour, "late_ratio": t.LateRatio, "duplicate_ratio": t.DuplicateRatio,
		"fraud_ratio": t.FraudRatio, "anomaly_ratio": t.AnomalyRatio, "short_ratio": t.ShortRatio,
		"too_many_ratio": t.TooManyRatio, "too_close_ratio": t.TooCloseRatio,
		"acquisition_error_ratio": t.AcquisitionErrorRatio, "cancel_ratio": t.CancelRatio,
		"delay": t.Delay.String(), "delay_growth": t.DelayGrowth,
	}
}

func sameSettings(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// GET shows the generator's settings; a bad PUT is refused with a reason
// and changes nothing; a good PUT changes the keys it names and keeps the
// others, and the very next generated cases follow it: with every case
// late, each submission is refused as expired, and back at no late case
// none is.
func TestTrafficRoutes(t *testing.T) {
	t.Parallel()
	f, subs, initial := trafficFixture(t)

	r := f.do(t, "GET", "/_simulator/traffic", "", "")
	if r.status != http.StatusOK || !sameSettings(decodeSettings(t, r), settingsOf(initial)) {
		t.Fatalf("GET traffic = %d %s, want %v", r.status, r.body, settingsOf(initial))
	}

	for _, bad := range []struct{ body, reason string }{
		{`{"late_ratio": 1}`, "more than 1"},
		{`{"late_ratio": -0.1}`, "between 0 and 1"},
		{`{"fraud_ratio": 1.5}`, "between 0 and 1"},
		{`{"per_hour": -1}`, "per hour"},
		{`{"backfill": "1h"}`, "unknown field"},
		{`{"late_ration": 0.5}`, "the keys are per_hour, late_ratio"},
		{`{"late_ratio": "high"}`, "traffic:"},
		{`{"late_ratio": 0.5} {"late_ratio": 0.6}`, "trailing data"},
		{`{"delay": "-1h"}`, "delay must be between 0"},
		{`{"delay": "10000h"}`, "delay must be between 0"},
		{`{"delay": 3600}`, "duration string"},
		{`{"delay": "a day"}`, "not a duration"},
		{`{"delay_growth": 2}`, "cannot fall behind faster"},
		{`{"delay_growth": -100}`, "growth must be between"},
		{`late_ratio=0.5`, "traffic:"},
		{``, "traffic:"},
	} {
		r := f.do(t, "PUT", "/_simulator/traffic", "", bad.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), bad.reason) {
			t.Errorf("PUT %s = %d %s, want 400 saying %q", bad.body, r.status, r.body, bad.reason)
		}
	}
	if got, err := f.sim.Traffic(); err != nil || !sameSettings(settingsOf(got), settingsOf(initial)) {
		t.Fatalf("after refused PUTs, traffic = %+v %v, want %+v", got, err, initial)
	}

	r = f.do(t, "PUT", "/_simulator/traffic", "", `{"late_ratio": 1, "duplicate_ratio": 0, "fraud_ratio": 0,
		"anomaly_ratio": 0, "short_ratio": 0, "too_many_ratio": 0, "too_close_ratio": 0,
		"acquisition_error_ratio": 0, "cancel_ratio": 0}`)
	allLate := Traffic{PerHour: initial.PerHour, LateRatio: 1}
	if r.status != http.StatusOK || !sameSettings(decodeSettings(t, r), settingsOf(allLate)) {
		t.Fatalf("PUT every case late = %d %s, want %v", r.status, r.body, settingsOf(allLate))
	}
	if r := f.do(t, "GET", "/_simulator/traffic", "", ""); !sameSettings(decodeSettings(t, r), settingsOf(allLate)) {
		t.Fatalf("GET after PUT = %s, want %v", r.body, settingsOf(allLate))
	}

	subs.take()
	f.advance(2 * time.Hour)
	late := subs.take()
	if want := int(2 * initial.PerHour); len(late) < want-1 || len(late) > want+1 {
		t.Fatalf("%d submissions in 2 h at %v/h", len(late), initial.PerHour)
	}
	for _, s := range late {
		if s.HTTPStatus != http.StatusUnprocessableEntity || !slices.Equal(s.TermsLabels, []string{TermsExpired}) {
			t.Fatalf("with late_ratio 1, submission %s = %d %v, want 422 [%s]", s.OperatorJourneyID, s.HTTPStatus, s.TermsLabels, TermsExpired)
		}
	}
	if got := f.status(t, late[0].OperatorJourneyID); got["status"] != StatusTermsViolationError {
		t.Errorf("late journey %s in the registry = %v", late[0].OperatorJourneyID, got)
	}

	r = f.do(t, "PUT", "/_simulator/traffic", "", `{"late_ratio": 0}`)
	if r.status != http.StatusOK || !sameSettings(decodeSettings(t, r), settingsOf(Traffic{PerHour: initial.PerHour})) {
		t.Fatalf("PUT late_ratio 0 = %d %s", r.status, r.body)
	}
	f.advance(time.Hour)
	clean := subs.take()
	if len(clean) == 0 {
		t.Fatal("no submission in an hour after late_ratio 0")
	}
	for _, s := range clean {
		if s.HTTPStatus != http.StatusCreated {
			t.Fatalf("with no trouble at all, submission %s = %d %v, want 201", s.OperatorJourneyID, s.HTTPStatus, s.TermsLabels)
		}
	}
}

// A simulator without a generator says so rather than pretending to
// change a traffic that does not exist.
func TestTrafficRoutesWithoutGenerator(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, method := range []string{"GET", "PUT"} {
		r := f.do(t, method, "/_simulator/traffic", "", `{"late_ratio": 0.5}`)
		if r.status != http.StatusConflict || !strings.Contains(string(r.body), "generates no traffic") {
			t.Errorf("%s traffic without a generator = %d %s, want 409", method, r.status, r.body)
		}
	}
}

// Changing the traffic while the generator runs and reports is safe: run
// with -race, this catches a write to a field the reports read outside the
// simulator's lock.
func TestTrafficUpdateWhileGenerating(t *testing.T) {
	t.Parallel()
	f, subs, _ := trafficFixture(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			f.advance(time.Minute)
		}
	}()
	for i := range 50 {
		ratio := float64(i%2) / 2
		if r := f.do(t, "PUT", "/_simulator/traffic", "", fmt.Sprintf(`{"late_ratio": %v}`, ratio)); r.status != http.StatusOK {
			t.Fatalf("PUT late_ratio %v = %d %s", ratio, r.status, r.body)
		}
	}
	<-done
	if len(subs.take()) == 0 {
		t.Error("no submission in 200 simulated minutes")
	}
}

// An operator falling behind by degrees: with a delay and a growth set
// through the admin route, each journey is submitted later after its
// start than the one before, GET shows the delay as it grows, and once
// the lag passes 24 h the registry refuses the journeys as expired, as
// it would a real late pipeline. A negative growth catches up, down to 0.
func TestTrafficFallsBehind(t *testing.T) {
	t.Parallel()
	f, subs, _ := trafficFixture(t)
	r := f.do(t, "PUT", "/_simulator/traffic", "", `{"late_ratio": 0, "duplicate_ratio": 0, "fraud_ratio": 0,
		"anomaly_ratio": 0, "short_ratio": 0, "too_many_ratio": 0, "too_close_ratio": 0,
		"acquisition_error_ratio": 0, "cancel_ratio": 0, "delay": "18h", "delay_growth": 0.5}`)
	if r.status != http.StatusOK || decodeSettings(t, r)["delay"] != "18h0m0s" || decodeSettings(t, r)["delay_growth"] != 0.5 {
		t.Fatalf("PUT delay = %d %s", r.status, r.body)
	}
	subs.take()
	for range 12 {
		f.advance(time.Hour)
	}
	got := subs.take()
	if len(got) < 700 {
		t.Fatalf("%d submissions in 12 h at 60 an hour", len(got))
	}
	lag := func(s Submission) time.Duration { return s.SubmittedAt.Sub(s.StartAt) }
	first, last := got[0], got[len(got)-1]
	// 18 h of delay plus 12 min to 2 h for the journey itself, growing by
	// half of the 12 h that passed.
	if l := lag(first); l < 18*time.Hour || l > 20*time.Hour+time.Minute {
		t.Errorf("first lag %s, want 18 h and a journey", l)
	}
	if l := lag(last); l < 24*time.Hour || l > 26*time.Hour+time.Minute {
		t.Errorf("last lag %s, want 24 h and a journey", l)
	}
	expired := 0
	for _, s := range got {
		switch {
		case s.HTTPStatus == http.StatusUnprocessableEntity && slices.Equal(s.TermsLabels, []string{TermsExpired}):
			expired++
			if lag(s) <= 24*time.Hour {
				t.Errorf("%s refused as expired with a lag of %s", s.OperatorJourneyID, lag(s))
			}
		case s.HTTPStatus != http.StatusCreated:
			t.Errorf("%s = %d %v", s.OperatorJourneyID, s.HTTPStatus, s.TermsLabels)
		case lag(s) > 24*time.Hour:
			t.Errorf("%s accepted with a lag of %s", s.OperatorJourneyID, lag(s))
		}
	}
	if expired == 0 || expired == len(got) {
		t.Errorf("%d of %d expired: want the lag to cross 24 h during the run", expired, len(got))
	}
	r = f.do(t, "GET", "/_simulator/traffic", "", "")
	if d := decodeSettings(t, r)["delay"]; d != "24h0m0s" {
		t.Errorf("delay after 12 h at 0.5 = %v, want 24h0m0s", d)
	}

	f.do(t, "PUT", "/_simulator/traffic", "", `{"delay_growth": -24}`)
	f.advance(2 * time.Hour)
	subs.take()
	if d := decodeSettings(t, f.do(t, "GET", "/_simulator/traffic", "", ""))["delay"]; d != "0s" {
		t.Errorf("delay after catching up = %v, want 0s", d)
	}
}

// RealisticTraffic ends about 90 % of its journeys ok, and gives every
// other outcome a few percent, with its labels; StatusSince tells when the
// registry decided each.
func TestRealisticTrafficMix(t *testing.T) {
	t.Parallel()
	traffic := RealisticTraffic()
	traffic.PerHour = 1000
	f := newFixture(t, func(c *Config) { c.Traffic = &traffic })
	for range 6 {
		f.clock.Advance(10 * time.Minute)
		f.sim.Tick()
	}
	if _, err := f.sim.UpdateTraffic(func(t *Traffic) { t.PerHour = 0 }); err != nil {
		t.Fatal(err)
	}
	submittedBy := f.clock.Now()
	for range 4 * 24 {
		f.clock.Advance(time.Hour)
		f.sim.Tick()
	}
	count := map[string]int{}
	labelled := map[string]int{}
	total := 0
	f.sim.mu.Lock()
	for _, r := range f.sim.st.byID {
		if r.OperatorID != 1 {
			continue
		}
		total++
		count[r.Status]++
		switch {
		case r.Status == StatusFraudError && len(r.FraudLabels) > 0,
			r.Status == StatusAnomalyError && len(r.Anomalies) > 0,
			r.Status == StatusTermsViolationError && len(r.TermsViolations) > 0:
			labelled[r.Status]++
		}
		if r.statusAt.IsZero() || r.statusAt.Before(r.CreatedAt) || (r.Status == StatusOK && !r.statusAt.After(submittedBy)) {
			t.Errorf("%s %s: decided at %v, created at %v", r.OperatorJourneyID, r.Status, r.statusAt, r.CreatedAt)
		}
	}
	f.sim.mu.Unlock()
	if ok := float64(count[StatusOK]) / float64(total); ok < 0.85 || ok > 0.94 {
		t.Errorf("%.1f %% ok of %d journeys (%v), want about 90 %%", 100*ok, total, count)
	}
	for _, s := range []string{StatusFraudError, StatusAnomalyError, StatusTermsViolationError, StatusCanceled, StatusAcquisitionError} {
		share := float64(count[s]) / float64(total)
		if share < 0.003 || share > 0.05 {
			t.Errorf("%s: %.1f %% of %d journeys, want a few percent", s, 100*share, total)
		}
		if s != StatusCanceled && s != StatusAcquisitionError && labelled[s] != count[s] {
			t.Errorf("%s: %d of %d with their labels", s, labelled[s], count[s])
		}
	}
	t.Logf("%d journeys: %v", total, count)
}
