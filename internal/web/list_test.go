package web_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

// listAll pages through a list with limit per page and returns every
// journey, checking that no id comes twice.
func listAll(t *testing.T, base string, q url.Values, limit int) []tracker.Journey {
	t.Helper()
	var all []tracker.Journey
	seen := map[string]bool{}
	q = cloneValues(q)
	q.Set("limit", strconv.Itoa(limit))
	for pages := 0; ; pages++ {
		code, _, body := get(t, base+"?"+q.Encode())
		if code != http.StatusOK {
			t.Fatalf("GET ?%s: %d %s", q.Encode(), code, body)
		}
		var page web.Page
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("GET ?%s: %v", q.Encode(), err)
		}
		if len(page.Journeys) > limit || (page.Next != "" && len(page.Journeys) != limit) {
			t.Fatalf("page of %d journeys for limit %d, next %q", len(page.Journeys), limit, page.Next)
		}
		for _, j := range page.Journeys {
			if seen[j.ID] {
				t.Fatalf("%s listed twice", j.ID)
			}
			seen[j.ID] = true
		}
		all = append(all, page.Journeys...)
		if page.Next == "" {
			return all
		}
		q.Set("cursor", page.Next)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func ids(js []tracker.Journey) []string {
	out := make([]string, 0, len(js))
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

// lagOf is a journey's submission lag as the lag filter reads it, -1
// when it has none: registered from a source other than a submission,
// or with a start unknown or after its registration.
func lagOf(j tracker.Journey) time.Duration {
	if (j.Source != "push" && j.Source != "proxy" && j.Source != "demo") || j.Start.IsZero() || j.Start.After(j.RegisteredAt) {
		return -1
	}
	return j.RegisteredAt.Sub(j.Start)
}

func inRange(t time.Time, from, to time.Time) bool {
	return !t.IsZero() && !t.Before(from) && t.Before(to)
}

// Every filter, alone and combined, lists exactly the journeys that match
// it, in registration order, across pages of every size.
func TestListFilters(t *testing.T) {
	t.Parallel()
	s := newSettled(t)
	tr := s.ex.Registry(registryName).Tracker()
	var truth []tracker.Journey // in registration order: the configured ids, then the pushed
	for _, id := range s.ids {
		j, ok := tr.Lookup(id)
		if !ok {
			t.Fatalf("%s not tracked", id)
		}
		truth = append(truth, j)
	}
	mid := startOf(100)
	later := startOf(150)
	checked := firstRound
	cases := []struct {
		query string
		want  func(j tracker.Journey) bool
	}{
		{"", func(tracker.Journey) bool { return true }},
		{"status=ok", func(j tracker.Journey) bool { return j.Status == "ok" }},
		{"status=pending", func(j tracker.Journey) bool { return j.Status == "pending" }},
		{"status=not_found", func(j tracker.Journey) bool { return j.Status == "not_found" }},
		{"status=fraud_error,anomaly_error", func(j tracker.Journey) bool { return j.Status == "fraud_error" || j.Status == "anomaly_error" }},
		{"status=fraud_error&status=canceled", func(j tracker.Journey) bool { return j.Status == "fraud_error" || j.Status == "canceled" }},
		{"status=expired", func(tracker.Journey) bool { return false }},
		{"fraud_label=interoperator_overlap", func(j tracker.Journey) bool { return slices.Contains(j.FraudLabels, "interoperator_overlap") }},
		{"fraud_label=interoperator_too_close_trips,interoperator_too_many_trips_by_day", func(j tracker.Journey) bool {
			return slices.Contains(j.FraudLabels, "interoperator_too_close_trips") || slices.Contains(j.FraudLabels, "interoperator_too_many_trips_by_day")
		}},
		{"anomaly_label=distance_duration_anomaly", func(j tracker.Journey) bool { return slices.Contains(j.AnomalyLabels, "distance_duration_anomaly") }},
		{"reason=too_close_trips", func(j tracker.Journey) bool { return slices.Contains(j.TermsReasons, "too_close_trips") }},
		{"source=push", func(j tracker.Journey) bool { return j.Source == "push" }},
		{"source=config", func(j tracker.Journey) bool { return j.Source == "config" }},
		{"start_from=" + mid.Format(time.RFC3339), func(j tracker.Journey) bool { return inRange(j.Start, mid, time.Unix(1<<40, 0)) }},
		{"start_to=" + strconv.FormatInt(mid.Unix(), 10), func(j tracker.Journey) bool { return inRange(j.Start, time.Unix(0, 0), mid) }},
		{"start_from=" + mid.Format(time.RFC3339) + "&start_to=" + later.Format(time.RFC3339), func(j tracker.Journey) bool { return inRange(j.Start, mid, later) }},
		{"registered_from=" + s.pushedAt.Format(time.RFC3339), func(j tracker.Journey) bool { return !j.RegisteredAt.Before(s.pushedAt) }},
		{"registered_to=" + s.pushedAt.Format(time.RFC3339), func(j tracker.Journey) bool { return j.RegisteredAt.Before(s.pushedAt) }},
		{"last_check_from=" + checked.Add(time.Second).Format(time.RFC3339), func(j tracker.Journey) bool { return j.LastCheck.After(checked) }},
		{"last_check_to=" + checked.Add(time.Second).Format(time.RFC3339), func(j tracker.Journey) bool { return inRange(j.LastCheck, time.Unix(0, 0), checked.Add(time.Second)) }},
		{"changed_from=" + strconv.FormatInt(checked.Add(time.Second).Unix(), 10), func(j tracker.Journey) bool { return decided(j.ID) }},
		{"changed_to=" + checked.Add(time.Second).Format(time.RFC3339), func(j tracker.Journey) bool { return !decided(j.ID) }},
		{"lag_from=0", func(j tracker.Journey) bool { return lagOf(j) >= 0 }},
		{"lag_from=64800", func(j tracker.Journey) bool { return lagOf(j) >= 18*time.Hour }},
		{"lag_to=64800", func(j tracker.Journey) bool { return lagOf(j) >= 0 && lagOf(j) < 18*time.Hour }},
		{"lag_from=3600&lag_to=86400", func(j tracker.Journey) bool { return lagOf(j) >= time.Hour && lagOf(j) < 24*time.Hour }},
		// Combinations.
		{"status=fraud_error&fraud_label=interoperator_overlap", func(j tracker.Journey) bool {
			return j.Status == "fraud_error" && slices.Contains(j.FraudLabels, "interoperator_overlap")
		}},
		{"status=ok&source=push", func(j tracker.Journey) bool { return j.Status == "ok" && j.Source == "push" }},
		{"status=ok,pending&source=config&start_from=" + mid.Format(time.RFC3339), func(j tracker.Journey) bool {
			return (j.Status == "ok" || j.Status == "pending") && j.Source == "config" && inRange(j.Start, mid, time.Unix(1<<40, 0))
		}},
		{"status=fraud_error&last_check_from=" + checked.Add(time.Second).Format(time.RFC3339), func(j tracker.Journey) bool {
			return j.Status == "fraud_error" && j.LastCheck.After(checked)
		}},
		{"reason=distance_too_short&status=terms_violation_error&source=config", func(j tracker.Journey) bool {
			return slices.Contains(j.TermsReasons, "distance_too_short") && j.Status == "terms_violation_error" && j.Source == "config"
		}},
	}
	base := s.srv.URL + "/api/v1/journeys/" + registryName
	for _, c := range cases {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, j := range truth {
			if c.want(j) {
				want = append(want, j.ID)
			}
		}
		if c.query != "" && c.query != "status=expired" && (len(want) == 0 || len(want) == len(truth)) {
			t.Errorf("?%s: the fixture gives it %d of %d journeys: it tells nothing", c.query, len(want), len(truth))
		}
		for _, limit := range []int{1, 7, 100, web.MaxLimit} {
			got := ids(listAll(t, base, q, limit))
			if !slices.Equal(got, want) {
				t.Errorf("?%s limit %d:\n got %v\nwant %v", c.query, limit, got, want)
			}
		}
	}
}

// A page gives each journey as the one-journey answer does, story
// included.
func TestListGivesTheOneJourneyAnswer(t *testing.T) {
	t.Parallel()
	s := newSettled(t)
	base := s.srv.URL + "/api/v1/journeys/" + registryName
	page := listAll(t, base, url.Values{"status": {"fraud_error"}}, 1000)
	stories := 0
	for _, j := range page {
		code, _, body := get(t, base+"/"+url.PathEscape(j.ID))
		var one tracker.Journey
		if code != http.StatusOK || json.Unmarshal([]byte(body), &one) != nil {
			t.Fatalf("%s: %d %s", j.ID, code, body)
		}
		a, _ := json.Marshal(j)
		b, _ := json.Marshal(one)
		if string(a) != string(b) {
			t.Errorf("%s in the list:\n%s\nalone:\n%s", j.ID, a, b)
		}
		if decided(j.ID) {
			stories++
			var got []string
			for _, tr := range one.Transitions {
				got = append(got, tr.Status+"/"+strings.Join(tr.FraudLabels, "+"))
			}
			if len(got) != 3 || got[0] != "unchecked/" || got[1] != "pending/" || !strings.HasPrefix(got[2], "fraud_error/interoperator") ||
				!one.Transitions[1].At.Before(one.Transitions[2].At) || !one.Transitions[2].At.Equal(one.LastCheck) {
				t.Errorf("%s story: %v %+v", j.ID, got, one.Transitions)
			}
		}
	}
	if stories != 30 {
		t.Errorf("%d journeys decided at their second check, want 30", stories)
	}
}

// The CSV export is the JSON list, row for row, as encoding/csv reads it
// back; it is chosen by format=csv or by Accept.
func TestListCSV(t *testing.T) {
	t.Parallel()
	s := newSettled(t)
	base := s.srv.URL + "/api/v1/journeys/" + registryName
	for _, query := range []string{"", "status=ok", "source=push", "fraud_label=interoperator_overlap&status=fraud_error", "lag_from=64800"} {
		q, _ := url.ParseQuery(query)
		want := listAll(t, base, q, 13)
		for _, how := range []struct{ query, accept string }{
			{query + "&format=csv", ""},
			{query, "text/csv"},
			{query, "text/csv;q=1.0, application/json;q=0.5"},
		} {
			code, h, body := get(t, base+"?"+how.query, "Accept", how.accept)
			if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
				t.Fatalf("?%s Accept %q: %d %s", how.query, how.accept, code, h.Get("Content-Type"))
			}
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("?%s: %v", how.query, err)
			}
			if !slices.Equal(rows[0], web.CSVHeader) || len(rows)-1 != len(want) {
				t.Fatalf("?%s: header %v, %d rows, want %d", how.query, rows[0], len(rows)-1, len(want))
			}
			for i, j := range want {
				row := rows[i+1]
				if !slices.Equal(row, web.CSVRecord(j)) {
					t.Errorf("row %d:\n got %q\nwant %q", i, row, web.CSVRecord(j))
				}
				// Read back by meaning, not only by the writer's own format.
				reg, err := time.Parse(time.RFC3339, row[8])
				if row[0] != j.ID || row[2] != j.Status || strings.Join(j.FraudLabels, "|") != row[3] || err != nil || !reg.Equal(j.RegisteredAt) ||
					row[12] != strconv.Itoa(j.Checks) || strings.Count(row[13], ";")+1 != len(j.Transitions) {
					t.Errorf("row %d does not read back as %+v: %q", i, j, row)
				}
			}
		}
	}
	// A CSV page cut by limit gives the cursor of the rest in a trailer.
	code, h, body := get(t, base+"?format=csv&limit=5")
	rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != http.StatusOK || len(rows) != 6 || h.Get(web.NextCursorTrailer) == "" {
		t.Fatalf("limit 5: %d, %d rows, next %q", code, len(rows), h.Get(web.NextCursorTrailer))
	}
	_, _, rest := get(t, base+"?format=csv&cursor="+h.Get(web.NextCursorTrailer))
	more, _ := csv.NewReader(strings.NewReader(rest)).ReadAll()
	if len(rows)-1+len(more)-1 != len(s.ids) || more[1][0] == rows[5][0] {
		t.Errorf("the rest after the trailer's cursor: %d rows", len(more)-1)
	}
}

// Bad parameters are a 400 naming the parameter and, where a list of
// values exists, the values it accepts.
func TestListBadFilters(t *testing.T) {
	t.Parallel()
	s := newSettled(t)
	base := s.srv.URL + "/api/v1/journeys/" + registryName
	cases := []struct {
		query, param string
		allowed      string // one of the allowed values the answer must list
	}{
		{"status=done", "status", "fraud_error"},
		{"status=ok,nope", "status", "pending"},
		{"fraud_label=overlap", "fraud_label", "interoperator_overlap"},
		{"anomaly_label=x", "anomaly_label", "temporal_overlap_anomaly"},
		{"reason=late", "reason", "distance_too_short"},
		{"source=api", "source", "push"},
		{"stauts=ok", "stauts", "status"},
		{"format=xml", "format", "csv"},
		{"limit=0", "limit", ""},
		{"limit=10001", "limit", ""},
		{"limit=ten", "limit", ""},
		{"limit=1&limit=2", "limit", ""},
		{"cursor=nonsense", "cursor", ""},
		{"cursor=zz.1", "cursor", ""},
		{"start_from=yesterday", "start_from", ""},
		{"registered_to=2026-13-01T00:00:00Z", "registered_to", ""},
		{"last_check_from=-5", "last_check_from", ""},
		{"changed_to=soon", "changed_to", ""},
		{"start_from=2026-11-03T00:00:00Z&start_to=2026-11-02T00:00:00Z", "start_to", ""},
		{"lag_from=-1", "lag_from", ""},
		{"lag_from=18h", "lag_from", ""},
		{"lag_from=1&lag_from=2", "lag_from", ""},
		{"lag_to=0", "lag_to", ""},
		{"lag_from=64800&lag_to=3600", "lag_to", ""},
		{"lag_to=99999999999", "lag_to", ""},
	}
	for _, c := range cases {
		code, h, body := get(t, base+"?"+c.query)
		var e web.QueryError
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || h.Get("Content-Type") != "application/json" {
			t.Errorf("?%s: %d %s", c.query, code, body)
			continue
		}
		if e.Parameter != c.param || !strings.Contains(e.Message, c.param) || (c.allowed != "" && !slices.Contains(e.Allowed, c.allowed)) {
			t.Errorf("?%s: %+v, want parameter %s allowing %q", c.query, e, c.param, c.allowed)
		}
	}
	if code, _, _ := get(t, s.srv.URL+"/api/v1/journeys/nosuch?status=ok"); code != http.StatusNotFound {
		t.Errorf("an unknown registry: %d", code)
	}
	if code, _, _ := get(t, s.srv.URL+"/api/v1/journeys/nosuch/c001"); code != http.StatusNotFound {
		t.Errorf("a journey of an unknown registry: %d", code)
	}
}

// For a settled state, the list counts what the gauges count: each
// status, label and reason, and each source.
func TestListAgreesWithTheGauges(t *testing.T) {
	t.Parallel()
	s := newSettled(t)
	_, _, exposition := get(t, s.srv.URL+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	base := s.srv.URL + "/api/v1/journeys/" + registryName
	checks := []struct{ metric, label, param string }{
		{"covoiturage_journeys", "status", "status"},
		{"covoiturage_journeys_fraud_labels", "label", "fraud_label"},
		{"covoiturage_journeys_anomaly_labels", "label", "anomaly_label"},
		{"covoiturage_journeys_terms_violations", "reason", "reason"},
		{"covoiturage_journeys_tracked", "source", "source"},
	}
	nonzero := 0
	for _, c := range checks {
		f := families[c.metric]
		if f == nil {
			t.Fatalf("%s not exposed", c.metric)
		}
		for _, m := range f.GetMetric() {
			var value string
			for _, l := range m.GetLabel() {
				if l.GetName() == c.label {
					value = l.GetValue()
				}
			}
			gauge := int(m.GetGauge().GetValue())
			listed := len(listAll(t, base, url.Values{c.param: {value}}, web.MaxLimit))
			if listed != gauge {
				t.Errorf("%s{%s=%q} = %d, the list has %d", c.metric, c.label, value, gauge, listed)
			}
			if gauge > 0 {
				nonzero++
			}
		}
	}
	if nonzero < 15 {
		t.Errorf("only %d series are not 0: the fixture tells little", nonzero)
	}
}
