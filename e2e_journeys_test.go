package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
	code, body, err := get(link)
	var page struct {
		Journeys []tracker.Journey `json:"journeys"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
		t.Errorf("journeys_url %s: %d %v %.300s", link, code, err, body)
		return
	}
	if len(page.Journeys) == 0 {
		t.Errorf("journeys_url %s lists no journey", link)
	}
	for _, j := range page.Journeys {
		if !slices.Contains(j.TermsReasons, reason) {
			t.Errorf("journeys_url %s lists %s, whose reasons are %v", link, j.ID, j.TermsReasons)
			break
		}
	}
	t.Logf("journeys_url %s: %d journeys", link, len(page.Journeys))
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
