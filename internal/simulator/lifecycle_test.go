package simulator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := epoch.Add(-time.Hour)
	brief := clean("brief", start)
	brief.dur = 30 * time.Second
	nowhere := clean("nowhere", start)
	nowhere.lat, nowhere.lon = 0, 0
	first := clean("first", start)
	twin := clean("twin", start.Add(2*time.Minute))
	twin.trip, twin.driver, twin.passenger = first.trip, first.driver, first.passenger
	fraud := clean("fraud", start)
	for _, b := range []journeyBody{clean("fine", start), brief, nowhere, first, twin, fraud, clean("gone", start)} {
		if r := f.do(t, "POST", "/v3.3/journeys", token, b.String()); r.status != 201 {
			t.Fatalf("submit %s = %d %s", b.id, r.status, r.body)
		}
	}
	f.sim.mu.Lock()
	f.sim.st.addInterop(interopTrip{identityKey: fraud.passenger, operatorID: 9, start: start.Add(5 * time.Minute), end: start.Add(40 * time.Minute)})
	f.sim.mu.Unlock()
	if r := f.do(t, "POST", "/v3.3/journeys/gone/cancel", token, `{"code":"ABC"}`); r.status != 200 {
		t.Fatalf("cancel = %d %s", r.status, r.body)
	}
	// The servers' journey.cancel schema: code required, possibly empty,
	// of letters, digits, _ and -, at most 32; message at most 512;
	// nothing else but the id.
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{}`, 400},
		{`{"message":"no code"}`, 400},
		{`{"code":""}`, 200},
		{`{"code":"A_b-9","message":"` + strings.Repeat("é", 512) + `"}`, 200},
		{`{"code":"A_b-9","operator_journey_id":"gone"}`, 200},
		{`{"code":"` + strings.Repeat("x", 33) + `"}`, 400},
		{`{"code":"a b"}`, 400},
		{`{"code":"ok","message":"` + strings.Repeat("x", 513) + `"}`, 400},
		{`{"code":"ok","reason":"extra key"}`, 400},
		{`{"code":"ok"} {"code":"again"}`, 400},
		{`{"code":7}`, 400},
	} {
		if r := f.do(t, "POST", "/v3.3/journeys/gone/cancel", token, tc.body); r.status != tc.want {
			t.Errorf("cancel with %.60s = %d %s, want %d", tc.body, r.status, r.body, tc.want)
		}
	}

	if got := f.status(t, "nowhere")["status"]; got != StatusPending {
		t.Fatalf("nowhere before normalisation = %v", got)
	}
	f.advance(6 * time.Minute)
	if got := f.status(t, "nowhere")["status"]; got != StatusAcquisitionError {
		t.Fatalf("nowhere after normalisation = %v", got)
	}
	f.advance(46 * time.Hour)
	if got := f.status(t, "fine")["status"]; got != StatusPending {
		t.Fatalf("fine at 47h = %v", got)
	}
	f.advance(2 * time.Hour)
	want := map[string]string{"fine": StatusOK, "brief": StatusAnomalyError, "first": StatusOK, "twin": StatusAnomalyError,
		"fraud": StatusFraudError, "gone": StatusCanceled, "nowhere": StatusAcquisitionError}
	for id, st := range want {
		if got := f.status(t, id)["status"]; got != st {
			t.Errorf("%s = %v, want %s", id, got, st)
		}
	}
	twinStatus := f.status(t, "twin")
	details, _ := json.Marshal(twinStatus["anomaly_error_details"])
	if string(details) != `[{"label":"temporal_overlap_anomaly","metas":{"conflicting_operator_journey_id":"first","overlap_duration_ratio":0.9}}]` {
		t.Fatalf("twin details = %s", details)
	}
	fraudLabels, _ := json.Marshal(f.status(t, "fraud")["fraud_error_labels"])
	if string(fraudLabels) != `["interoperator_overlap"]` {
		t.Fatalf("fraud labels = %s", fraudLabels)
	}

	// PATCH sends the journey back through the checks.
	if r := f.do(t, "PATCH", "/v3.3/journeys/brief", token, `{"distance":5000}`); r.status != 400 {
		t.Fatalf("PATCH without the schema's required fields = %d %s", r.status, r.body)
	}
	if r := f.do(t, "PATCH", "/v3.3/journeys/brief", token, brief.patch()); r.status != 200 {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	if got := f.status(t, "brief")["status"]; got != StatusPending {
		t.Fatalf("brief after PATCH = %v", got)
	}
	if r := f.do(t, "PATCH", "/v3.3/journeys/unknown", token, brief.patch()); r.status != 404 {
		t.Fatalf("PATCH unknown = %d", r.status)
	}
	f.advance(time.Hour)
	// Still within the check window, so the next batch finds it again.
	if got := f.status(t, "brief")["status"]; got != StatusAnomalyError {
		t.Fatalf("brief after next batch = %v", got)
	}
	// Past the window, a journey PATCHed back to pending is simply passed.
	f.do(t, "PATCH", "/v3.3/journeys/twin", token, twin.patch())
	f.advance(6 * time.Hour)
	if got := f.status(t, "twin")["status"]; got != StatusOK {
		t.Fatalf("twin after window = %v", got)
	}
}
