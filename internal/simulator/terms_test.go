package simulator

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// trip is a journey of driver and passenger (short names, see key)
// starting at start, 20 minutes long.
func trip(id, driver, passenger string, start time.Time) journeyBody {
	b := clean(id, start)
	b.driver, b.passenger = key(driver), key(passenger)
	return b
}

// spaced gives n trips of who, every apart from first, each with a
// partner of its own, so only the trips-a-day rule can see them together.
func spaced(who string, asDriver bool, first time.Time, every time.Duration, n int) []journeyBody {
	var out []journeyBody
	for i := range n {
		id, partner := fmt.Sprintf("%s%d", who, i), fmt.Sprintf("%spartner%d", who, i)
		start := first.Add(time.Duration(i) * every)
		if asDriver {
			out = append(out, trip(id, who, partner, start))
		} else {
			out = append(out, trip(id, partner, who, start))
		}
	}
	return out
}

func hourly(who string, asDriver bool, first time.Time, n int) []journeyBody {
	return spaced(who, asDriver, first, time.Hour, n)
}

// TestTermsViolations submits, over HTTP on 3.3 and 3.4, a journey after
// some earlier ones and checks the answer against the servers' checks
// (CarpoolAcquisitionService.verifyTermsViolation): the current ones by
// default, those of servers up to 2025-09 under legacy_terms.
func TestTermsViolations(t *testing.T) {
	t.Parallel()
	// epoch is 2025-06-02 10:00 UTC, 12:00 in Paris (UTC+2).
	morning := epoch.Add(-5 * time.Hour) // 07:00 Paris
	parisMidnight := time.Date(2025, 6, 1, 22, 0, 0, 0, time.UTC)
	reunion := func(b journeyBody) journeyBody { b.lat, b.lon = -21.1, 55.5; return b } // UTC+4
	many := func(driver, passenger int) string {
		return fmt.Sprintf(`[{"label":"too_many_trips_by_day","metas":{"driver":%d,"passenger":%d,"limit":4}}]`, driver, passenger)
	}
	type outcome struct {
		status  int
		labels  []string
		details string // the JSON array of terms_violation_error_details
	}
	refused := func(details string, labels ...string) outcome {
		return outcome{422, labels, details}
	}
	accepted := outcome{status: 201}
	short := func(m int) journeyBody { b := clean("short", morning); b.distance = m; return b }
	for _, tc := range []struct {
		name    string
		before  []journeyBody
		journey journeyBody
		current outcome
		legacy  outcome // servers up to 2025-09: labels alone, no details
	}{
		// The servers compare fractional hours (differenceInHours in
		// api/src/lib/date, milliseconds / 3600000, since 2024-11), not
		// whole ones: exactly 24 h is in time, a second more is expired.
		{name: "24 h", journey: clean("day", epoch.Add(-24*time.Hour)), current: accepted, legacy: accepted},
		{name: "24 h 1 s", journey: clean("daysecond", epoch.Add(-24*time.Hour-time.Second)),
			current: refused(`[{"label":"expired"}]`, TermsExpired),
			legacy:  refused("", TermsExpired)},
		{name: "expired", journey: clean("late", epoch.Add(-25*time.Hour)),
			current: refused(`[{"label":"expired"}]`, TermsExpired),
			legacy:  refused("", TermsExpired)},
		{name: "999 m", journey: short(999),
			current: refused(`[{"label":"distance_too_short"}]`, TermsDistanceTooShort),
			legacy:  refused("", TermsDistanceTooShort)},
		{name: "1 km", journey: short(1000), current: accepted, legacy: refused("", TermsDistanceTooShort)},
		{name: "2 km", journey: short(2000), current: accepted, legacy: accepted},
		{name: "late and short, in the servers' order", journey: func() journeyBody {
			b := clean("lateshort", epoch.Add(-26*time.Hour))
			b.distance = 500
			return b
		}(),
			current: refused(`[{"label":"expired"},{"label":"distance_too_short"}]`, TermsExpired, TermsDistanceTooShort),
			legacy:  refused("", TermsExpired, TermsDistanceTooShort)},
		{name: "driver's fifth trip of the day", before: hourly("drv", true, morning.Add(-4*time.Hour), 4),
			journey: trip("new", "drv", "fresh", morning.Add(time.Hour)),
			current: accepted,
			legacy:  refused("", TermsTooManyTrips)},
		{name: "driver's sixth trip of the day", before: hourly("drv", true, morning.Add(-4*time.Hour), 5),
			journey: trip("new", "drv", "fresh", morning.Add(2*time.Hour)),
			current: refused(many(5, 0), TermsTooManyTrips),
			legacy:  refused("", TermsTooManyTrips)},
		{name: "passenger with five other trips in either role", before: append(hourly("pax", false, morning.Add(-6*time.Hour), 3),
			trip("asdriver1", "pax", "someone1", morning.Add(-2*time.Hour)), trip("asdriver2", "pax", "someone2", morning.Add(-time.Hour))),
			journey: trip("new", "fresh", "pax", morning.Add(2*time.Hour)),
			current: refused(many(0, 5), TermsTooManyTrips),
			legacy:  refused("", TermsTooManyTrips)},
		{name: "two people with four trips each, together", before: append(hourly("drv", true, morning.Add(-6*time.Hour), 4),
			hourly("pax", false, morning.Add(-5*time.Hour-30*time.Minute), 4)...),
			journey: trip("new", "drv", "pax", morning.Add(3*time.Hour)),
			current: accepted,
			legacy:  refused("", TermsTooManyTrips)},
		{name: "three trips of the two together", before: append(hourly("drv", true, morning.Add(-4*time.Hour), 2),
			hourly("pax", false, morning.Add(-3*time.Hour-30*time.Minute), 1)...),
			journey: trip("new", "drv", "pax", morning.Add(2*time.Hour)),
			current: accepted, legacy: accepted},
		{name: "two journeys of one trip count once", before: func() []journeyBody {
			b := hourly("drv", true, morning.Add(-5*time.Hour), 5)
			b[1].trip = b[0].trip
			return b
		}(),
			journey: trip("new", "drv", "fresh", morning.Add(2*time.Hour)),
			current: accepted,
			legacy:  refused("", TermsTooManyTrips)},
		{name: "five trips the Paris day before, the same UTC day", before: hourly("drv", true, parisMidnight.Add(-6*time.Hour), 5),
			journey: trip("new", "drv", "fresh", parisMidnight.Add(time.Hour)),
			current: accepted, legacy: accepted},
		{name: "five trips the same Paris day, the UTC day before", before: spaced("drv", true, parisMidnight, 25*time.Minute, 5),
			journey: trip("new", "drv", "fresh", parisMidnight.Add(7*time.Hour)),
			current: refused(many(5, 0), TermsTooManyTrips),
			legacy:  refused("", TermsTooManyTrips)},
		{name: "Réunion's day, not Paris'", before: func() []journeyBody {
			var out []journeyBody
			for _, b := range hourly("drv", true, time.Date(2025, 6, 1, 14, 0, 0, 0, time.UTC), 5) {
				out = append(out, reunion(b))
			}
			return out
		}(),
			journey: reunion(trip("new", "drv", "fresh", time.Date(2025, 6, 1, 20, 30, 0, 0, time.UTC))),
			current: accepted,
			legacy:  refused("", TermsTooManyTrips)},
		{name: "same two people 10 minutes apart", before: []journeyBody{trip("first", "a", "b", morning.Add(-30*time.Minute))},
			journey: trip("new", "a", "b", morning),
			current: refused(`[{"label":"too_close_trips"}]`, TermsTooCloseTrips),
			legacy:  refused("", TermsTooCloseTrips)},
		{name: "same two people, roles swapped, overlapping", before: []journeyBody{trip("first", "b", "a", morning.Add(10*time.Minute))},
			journey: trip("new", "a", "b", morning),
			current: refused(`[{"label":"too_close_trips"}]`, TermsTooCloseTrips),
			legacy:  refused("", TermsTooCloseTrips)},
		{name: "same trip id", before: func() []journeyBody {
			b := trip("first", "a", "b", morning.Add(10*time.Minute))
			b.trip = "tnew"
			return []journeyBody{b}
		}(),
			journey: trip("new", "a", "b", morning), current: accepted, legacy: accepted},
		{name: "one of the two 10 minutes apart", before: []journeyBody{trip("first", "a", "c", morning.Add(-30*time.Minute))},
			journey: trip("new", "a", "b", morning), current: accepted, legacy: accepted},
	} {
		for _, legacy := range []bool{false, true} {
			want := tc.current
			if legacy {
				want = tc.legacy
			}
			for _, version := range []string{"3.3", "3.4"} {
				t.Run(fmt.Sprintf("%s/legacy=%v/v%s", tc.name, legacy, version), func(t *testing.T) {
					t.Parallel()
					f := newFixture(t, nil)
					for _, b := range tc.before {
						if st, body := f.sim.Submit(1, []byte(b.String())); st != 201 {
							t.Fatalf("earlier journey %s = %d %s", b.id, st, body)
						}
					}
					if legacy {
						// As a test of a client would: the admin route, by its JSON key.
						if r := f.do(t, "PUT", "/_simulator/faults", "", `{"legacy_terms":true}`); r.status != 200 || !f.sim.Faults().LegacyTerms {
							t.Fatalf("PUT legacy_terms = %d %s", r.status, r.body)
						}
					}
					r := f.do(t, "POST", "/v"+version+"/journeys", token, tc.journey.String())
					if r.status != want.status {
						t.Fatalf("%d %s, want %d", r.status, r.body, want.status)
					}
					if want.status != 422 {
						return
					}
					checkRefusal(t, r.body, want.labels, want.details)
					st := f.status(t, tc.journey.id)
					if got, _ := json.Marshal(st["terms_violation_details"]); st["status"] != StatusTermsViolationError || !sameJSON(t, got, labelsJSON(want.labels)) {
						t.Fatalf("stored as %v %s, want %s with the labels alone", st["status"], got, StatusTermsViolationError)
					}
				})
			}
		}
	}
}

// checkRefusal compares a 422 with what the servers send: the envelope,
// then data holding the labels and, when details is not empty, the details.
func checkRefusal(t *testing.T, body []byte, labels []string, details string) {
	t.Helper()
	var got struct {
		JSONRPC string `json:"jsonrpc"`
		ID      int    `json:"id"`
		Error   struct {
			Code    int             `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.JSONRPC != "2.0" || got.ID != 1 ||
		got.Error.Code != -32422 || got.Error.Message != "Unprocessable Request" {
		t.Fatalf("422 envelope %s (%v)", body, err)
	}
	want := `{"terms_violation_labels":` + string(labelsJSON(labels))
	if details != "" {
		want += `,"terms_violation_error_details":` + details
	}
	want += "}"
	if !sameJSON(t, got.Error.Data, []byte(want)) {
		t.Fatalf("422 data = %s, want %s", got.Error.Data, want)
	}
}

func labelsJSON(labels []string) []byte {
	b, _ := json.Marshal(labels)
	return b
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// A PATCH that gives the journey another operator_trip_id stores it, as
// the servers' carpool update does: the terms checks of later journeys
// then see the journey under its new trip.
func TestPatchStoresTripID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := epoch.Add(-2 * time.Hour)
	first := trip("first", "x", "y", start)
	first.trip = "shared"
	if r := f.do(t, "POST", "/v3.3/journeys", token, first.String()); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	patch := fmt.Sprintf(`{"operator_trip_id":"other",%s`, first.patch()[1:])
	if r := f.do(t, "PATCH", "/v3.3/journeys/first", token, patch); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	// The same two people, ten minutes later, on trip "shared": the
	// first journey is another trip now, too close.
	again := trip("again", "x", "y", start.Add(10*time.Minute))
	again.trip = "shared"
	r := f.do(t, "POST", "/v3.3/journeys", token, again.String())
	if r.status != 422 {
		t.Fatalf("a close trip after the PATCH moved the first to another trip: %d %s", r.status, r.body)
	}
	checkRefusal(t, r.body, []string{TermsTooCloseTrips}, `[{"label":"too_close_trips"}]`)
}

// A PATCH's incentives are checked as a submission's: the servers' patch
// schema uses the same incentives schema.
func TestPatchChecksIncentives(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	j := clean("inc", epoch.Add(-2*time.Hour))
	if r := f.do(t, "POST", "/v3.3/journeys", token, j.String()); r.status != 201 {
		t.Fatalf("submission: %d %s", r.status, r.body)
	}
	body := strings.Replace(j.patch(), `"incentives":[]`, `"incentives":[{"index":0}]`, 1)
	if r := f.do(t, "PATCH", "/v3.3/journeys/inc", token, body); r.status != 400 {
		t.Fatalf("PATCH with an incentive lacking amount and siret: %d %s", r.status, r.body)
	}
}
