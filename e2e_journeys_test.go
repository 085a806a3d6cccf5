package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// checkJourneysURL opens a notified alert's journeys_url as the on-call
// would: the exporter that raised the alert lists journeys, each carrying
// the reason the alert counts.
func checkJourneysURL(t *testing.T, a notifiedAlert, reason string) {
	t.Helper()
	link := a.Annotations["journeys_url"]
	if link == "" {
		t.Errorf("%s: no journeys_url; annotations %v", a.Labels["alertname"], a.Annotations)
		return
	}
	journeys, ok := openJourneysURL(t, link)
	if !ok {
		return
	}
	for _, j := range journeys {
		if !slices.Contains(j.TermsReasons, reason) {
			t.Errorf("journeys_url %s lists %s, whose reasons are %v", link, j.ID, j.TermsReasons)
			break
		}
	}
	t.Logf("journeys_url %s: %d journeys", link, len(journeys))
}

// openJourneysURL opens an alert's journeys_url as the on-call would and
// returns the journeys it lists, failing the test unless it lists some.
func openJourneysURL(t *testing.T, link string) ([]tracker.Journey, bool) {
	t.Helper()
	code, body, err := get(link)
	var page struct {
		Journeys []tracker.Journey `json:"journeys"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
		t.Errorf("journeys_url %s: %d %v %.300s", link, code, err, body)
		return nil, false
	}
	if len(page.Journeys) == 0 {
		t.Errorf("journeys_url %s lists no journey", link)
	}
	return page.Journeys, true
}

// checkLagJourneysURL opens the lag warning's journeys_url as the on-call
// would: it starts with the external URL the exporter exports, derived
// from its plain-HTTP listener, and lists journeys, each registered from
// a submission more than lagFrom after its start.
func checkLagJourneysURL(t *testing.T, a notifiedAlert, exp *process, prom *prometheusAPI, lagFrom time.Duration) {
	t.Helper()
	r, err := prom.query("covoiturage_exporter_web_info")
	if err != nil || len(r.series) != 1 || r.series[0].Metric["external_url"] != exp.base {
		t.Errorf("covoiturage_exporter_web_info in Prometheus: %v %+v, want one series with external_url %s", err, r, exp.base)
	}
	link := a.Annotations["journeys_url"]
	prefix := exp.base + "/api/v1/journeys/demo?"
	if !strings.HasPrefix(link, prefix) {
		t.Errorf("%s: journeys_url %q does not start with %s; annotations %v", a.Labels["alertname"], link, prefix, a.Annotations)
		return
	}
	journeys, ok := openJourneysURL(t, link)
	if !ok {
		return
	}
	for _, j := range journeys {
		if !slices.Contains(tracker.LagSources, sourceNamed(j.Source)) || j.Start.IsZero() || j.RegisteredAt.Sub(j.Start) < lagFrom {
			t.Errorf("journeys_url %s lists %s (source %s, start %v, registered %v): not a submission %v late", link, j.ID, j.Source, j.Start, j.RegisteredAt, lagFrom)
			break
		}
	}
	t.Logf("journeys_url %s: %d journeys submitted more than %v after their start", link, len(journeys), lagFrom)
}

// sourceNamed is the source a journey's answer names.
func sourceNamed(name string) tracker.Source {
	for i, n := range tracker.SourceNames {
		if n == name {
			return tracker.Source(i)
		}
	}
	return tracker.Source(len(tracker.SourceNames))
}

// checkExemplars reads back from Prometheus, stored with
// --enable-feature=exemplar-storage, the exemplars of a seen counter
// since a time: journey ids the exporter tracks.
func checkExemplars(t *testing.T, prom *prometheusAPI, exp *process, series string, since time.Time) {
	t.Helper()
	var data []struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels map[string]string `json:"labels"`
		} `json:"exemplars"`
	}
	params := url.Values{
		"query": {series},
		"start": {strconv.FormatInt(since.Unix(), 10)},
		"end":   {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)},
	}
	if err := prom.get("/api/v1/query_exemplars", params, &data); err != nil {
		t.Errorf("query_exemplars %s: %v", series, err)
		return
	}
	var ids []string
	for _, s := range data {
		for _, e := range s.Exemplars {
			ids = append(ids, e.Labels["journey_id"])
		}
	}
	if len(ids) == 0 {
		t.Errorf("Prometheus kept no exemplar of %s since %v", series, since.Format(time.RFC3339))
		return
	}
	id := ids[len(ids)-1]
	code, body, err := get(exp.url("/api/v1/journeys/" + demo.Name + "/" + url.PathEscape(id)))
	if err != nil || code != http.StatusOK {
		t.Errorf("the exemplar's journey %q: %d %v %.300s", id, code, err, body)
	}
	t.Logf("%d exemplars of %s, the latest journey %s", len(ids), series, id)
}
