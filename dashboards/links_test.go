package dashboards

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

const journeyLinkPrefix = "${exporter}/api/v1/journeys/${__field.labels.registry}"

var (
	byClause   = regexp.MustCompile(`^\s*(?:sum|max) by \(([^)]*)\)`)
	fieldLabel = regexp.MustCompile(`\$\{__field\.labels\.(\w+)\}`)
	fromMacro  = regexp.MustCompile(`\$\{__from:date:seconds\}`)
	toMacro    = regexp.MustCompile(`\$\{__to:date:seconds\}`)
)

// Each panel of the operator dashboard that shows journeys by registry
// links each series to the exporter's list of those journeys, at the
// external URL the exporter variable holds; each link, its labels filled
// in, is a list request the exporter accepts.
func TestJourneyDataLinks(t *testing.T) {
	t.Parallel()
	d := dashboardFiles(t)["operator.json"]
	templating, _ := d["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	var exporter map[string]any
	for _, v := range list {
		if m, _ := v.(map[string]any); m["name"] == "exporter" {
			exporter = m
		}
	}
	// Its choices are the external URLs the exporters export, and one
	// typed in serves an exporter too old to export it.
	const externalURLs = `label_values(covoiturage_exporter_web_info{job=~"$job", instance=~"$instance"}, external_url)`
	query, _ := exporter["query"].(map[string]any)
	if exporter == nil || exporter["type"] != "query" || exporter["definition"] != externalURLs || query["query"] != externalURLs ||
		exporter["allowCustomValue"] != true || exporter["multi"] != false || exporter["includeAll"] != false {
		t.Fatalf("want an exporter query variable listing %s, single-valued, taking a custom value; got %v", externalURLs, exporter)
	}
	top, _ := d["panels"].([]any)
	linked := 0
	for _, p := range allPanels(top) {
		title, _ := p["title"].(string)
		targets, _ := p["targets"].([]any)
		if len(targets) != 1 {
			continue // a table of several queries, a row
		}
		expr, _ := targets[0].(map[string]any)["expr"].(string)
		by := byClause.FindStringSubmatch(expr)
		if !strings.Contains(expr, "covoiturage_journeys") || by == nil {
			continue
		}
		grouping := map[string]bool{}
		for l := range strings.SplitSeq(by[1], ",") {
			grouping[strings.TrimSpace(l)] = true
		}
		if !grouping["registry"] {
			continue // across registries: no one list to open
		}
		fc, _ := p["fieldConfig"].(map[string]any)
		defaults, _ := fc["defaults"].(map[string]any)
		links, _ := defaults["links"].([]any)
		if len(links) != 1 {
			t.Errorf("panel %q shows journeys by registry: want a link to their list, got %v", title, links)
			continue
		}
		link, _ := links[0].(map[string]any)["url"].(string)
		if !strings.HasPrefix(link, journeyLinkPrefix) {
			t.Errorf("panel %q: link %q does not start with %s", title, link, journeyLinkPrefix)
			continue
		}
		linked++
		// Fill the link in as Grafana does for one series.
		sample := map[string]string{"status": "fraud_error", "label": "interoperator_overlap", "reason": "expired", "source": "push"}
		if strings.Contains(link, "anomaly_label") {
			sample["label"] = tracker.AnomalyLabels.Names()[0]
		}
		filled := fieldLabel.ReplaceAllStringFunc(strings.TrimPrefix(link, journeyLinkPrefix), func(m string) string {
			name := fieldLabel.FindStringSubmatch(m)[1]
			if !grouping[name] {
				t.Errorf("panel %q: link uses label %s, which its query %q does not keep", title, name, expr)
			}
			return sample[name]
		})
		filled = toMacro.ReplaceAllString(fromMacro.ReplaceAllString(filled, "1764547200"), "1764633600")
		q, err := url.ParseQuery(strings.TrimPrefix(filled, "?"))
		if err == nil {
			_, err = web.ParseQuery(q, false)
		}
		if err != nil {
			t.Errorf("panel %q: the exporter refuses %s: %v", title, filled, err)
		}
		// The series' own labels narrow the list: a status series opens
		// that status.
		for label, param := range map[string]string{"status": "status", "source": "source", "reason": "reason"} {
			if grouping[label] && q.Get(param) == "" {
				t.Errorf("panel %q: series by %s, but the link does not filter on %s", title, label, param)
			}
		}
	}
	if linked < 8 {
		t.Errorf("%d panels link to journeys", linked)
	}
}
