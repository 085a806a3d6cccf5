package simulator

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"
)

func listIDs(t *testing.T, f *fixture, query string) []string {
	t.Helper()
	r := f.do(t, "GET", "/v3.3/journeys?"+query, token, "")
	if r.status != 200 {
		t.Fatalf("list %s = %d %s", query, r.status, r.body)
	}
	var page []map[string]string
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range page {
		ids = append(ids, p["operator_journey_id"])
	}
	slices.Sort(ids)
	return ids
}

func TestListQuirks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// The list ends at today 00:00 Paris: journeys are put before it.
	limit := listEndLimit(epoch)
	if want := time.Date(2025, 6, 1, 22, 0, 0, 0, time.UTC); !limit.Equal(want) {
		t.Fatalf("list end limit at %v = %v, want %v", epoch, limit, want)
	}
	for i, id := range []string{"a", "b", "c"} {
		f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: id, Status: StatusOK, StartAt: limit.Add(-time.Duration(i+1) * time.Hour)})
	}
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "today", Status: StatusOK, StartAt: limit})
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "old", Status: StatusOK, StartAt: limit.Add(-7*24*time.Hour - time.Second)})
	f.sim.Put(Journey{OperatorID: 2, OperatorJourneyID: "theirs", Status: StatusOK, StartAt: limit.Add(-time.Hour)})
	late := clean("late", epoch.Add(-25*time.Hour))
	f.sim.Submit(1, []byte(late.String()))
	f.sim.Submit(1, []byte(clean("pend", limit.Add(-time.Hour)).String()))
	f.sim.Submit(1, []byte(clean("gone", limit.Add(-time.Hour)).String()))
	f.do(t, "POST", "/v3.3/journeys/gone/cancel", token, `{"code":"X1"}`)

	if got := listIDs(t, f, "status=ok"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("ok = %v", got)
	}
	q := url.Values{"status": {"ok"}, "start": {limit.Add(-9 * 24 * time.Hour).Format(time.RFC3339)}, "end": {limit.In(paris).Format(time.RFC3339)}}
	if got := listIDs(t, f, q.Encode()); len(got) != 4 {
		t.Fatalf("ok over 9 days = %v", got)
	}
	// Filters on the start time, start ≤ t < end.
	q = url.Values{"status": {"ok"}, "start": {limit.Add(-2 * time.Hour).Format(time.RFC3339)}, "end": {limit.Add(-time.Hour).Format(time.RFC3339)}}
	if got := listIDs(t, f, q.Encode()); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("ok in window = %v", got)
	}
	// Pending also matches canceled and refused journeys until checked.
	if got := listIDs(t, f, "status=pending"); !slices.Equal(got, []string{"gone", "late", "pend"}) {
		t.Fatalf("pending = %v", got)
	}
	if got := listIDs(t, f, "status=canceled"); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("canceled = %v", got)
	}
	f.advance(60 * time.Hour)
	if got := listIDs(t, f, "status=pending"); len(got) != 0 {
		t.Fatalf("pending after batches = %v", got)
	}
	f.clock.Advance(-time.Hour) // ignored, the clock stays monotonic

	// Offset paging with the default limit of 50.
	g := newFixture(t, nil)
	for i := range 120 {
		g.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "p" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Status: StatusOK, StartAt: limit.Add(-time.Hour)})
	}
	var seen []string
	for _, off := range []string{"0", "50", "100"} {
		page := listIDs(t, g, "status=ok&offset="+off)
		seen = append(seen, page...)
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != 120 {
		t.Fatalf("paged %d distinct ids", len(seen))
	}
	if got := listIDs(t, g, "status=ok&limit=7&offset=118"); len(got) != 2 {
		t.Fatalf("last page = %v", got)
	}

	now := f.clock.Now()
	for _, bad := range []string{
		"", "status=terms_violation_error", "status=unknown", "status=weird",
		"status=ok&end=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)),
		"status=ok&start=" + url.QueryEscape(now.Add(-91*24*time.Hour).Format(time.RFC3339)),
		"status=ok&start=yesterday", "status=ok&limit=x", "status=ok&sort=start",
		"status=ok&end=" + url.QueryEscape(now.Format("2006-01-02T15:04:05")),
	} {
		if r := f.do(t, "GET", "/v3.3/journeys?"+bad, token, ""); r.status != 400 {
			t.Errorf("list %q = %d %s", bad, r.status, r.body)
		}
	}
}

func TestStatusVariants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "x", JourneyID: 77, Status: StatusAnomalyError, CreatedAt: epoch,
		FraudLabels: []string{FraudOverlap},
		Anomalies:   []Anomaly{{Label: AnomalyTemporalOverlap, ConflictingOperatorJourneyID: "y", OverlapRatio: 0.8}, {Label: AnomalyDistanceDuration}}})
	code := `{"operator_journey_id":"x","status":"anomaly_error","created_at":"2025-06-02T10:00:00.000Z","journey_id":"77","fraud_error_labels":["interoperator_overlap"],"anomaly_error_details":[{"label":"temporal_overlap_anomaly","metas":{"conflicting_operator_journey_id":"y","overlap_duration_ratio":0.8}},{"label":"distance_duration_anomaly","metas":null}],"terms_violation_details":[]}`
	spec := `{"operator_journey_id":"x","status":"anomaly_error","created_at":"2025-06-02T10:00:00.000Z","journey_id":"77","fraud_error_labels":[{"label":"interoperator_overlap"}],"anomaly_error_details":[{"label":"temporal_overlap_anomaly","metas":{"conflicting_journey_id":"y","temporal_overlap_duration_ratio":0.8}},{"label":"distance_duration_anomaly","metas":null}],"terms_violation_details":[]}`
	for variant, want := range map[string]string{"": code, VariantCode: code, VariantSpec: spec} {
		f.sim.SetFaults(Faults{StatusVariant: variant})
		if r := f.do(t, "GET", "/v3.3/journeys/x", token, ""); string(r.body) != want {
			t.Fatalf("variant %q = %s", variant, r.body)
		}
	}
	f.sim.SetFaults(Faults{StatusVariant: VariantMixed})
	seen := map[string]bool{}
	for range 64 {
		seen[string(f.do(t, "GET", "/v3.3/journeys/x", token, "").body)] = true
	}
	if !seen[code] || !seen[spec] || len(seen) != 2 {
		t.Fatalf("mixed gave %d shapes", len(seen))
	}
	// Invented statuses pass through untouched.
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "n", Status: "new_status", FraudLabels: []string{"new_label"}})
	if got := f.status(t, "n")["status"]; got != "new_status" {
		t.Fatalf("invented status = %v", got)
	}
}

// The list has no ORDER BY: rows come oldest registration first, never in
// the specs' anti-chronological order.
func TestListNotAntiChronological(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := listEndLimit(epoch).Add(-time.Hour)
	for _, id := range []string{"first", "second", "third"} {
		f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: id, Status: StatusOK, StartAt: start})
	}
	r := f.do(t, "GET", "/v3.3/journeys?status=ok", token, "")
	if want := `[{"operator_journey_id":"first"},{"operator_journey_id":"second"},{"operator_journey_id":"third"}]`; r.status != 200 || string(r.body) != want {
		t.Fatalf("list = %d %s, want %s", r.status, r.body, want)
	}
}
