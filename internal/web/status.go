package web

import (
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

type statusPage struct {
	Version     string
	Demo        bool
	MetricsPath string
	ExternalURL string
	Prefix      string // of every link: ExternalURL's path
	Now         string
	Registries  []registryView
}

type registryView struct {
	Name, APIVersion, State     string
	LastSuccess                 string
	SamplingRatio               string
	RequestsPerSecond           string
	Concurrency, Due, InFlight  int
	Checks                      uint64
	Tracked                     int64
	ListURL, CSVURL, ExampleURL string
	ExampleID                   string
	Sources                     []string
	Groups                      []countGroup
}

type countGroup struct {
	Title  string
	Counts []count
}

type count struct {
	Name string
	N    int64
	URL  string
}

// status serves the status page: what the exporter watches, each count a
// link to its list. Server-side HTML, no script: it works in any browser,
// a phone's included.
func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	page := statusPage{
		Version: s.opts.Version, Demo: s.opts.Demo, MetricsPath: s.prefix + s.opts.MetricsPath,
		ExternalURL: s.opts.ExternalURL, Prefix: s.prefix, Now: time.Now().UTC().Format(time.RFC3339),
	}
	for _, r := range s.opts.Registries() {
		page.Registries = append(page.Registries, view(r, s.prefix))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, page); err != nil {
		s.opts.Logger.Error("rendering the status page", "err", err)
	}
}

func view(r Registry, prefix string) registryView {
	base := prefix + "/api/v1/journeys/" + url.PathEscape(r.Name)
	link := func(param, value string) string { return base + "?" + url.Values{param: {value}}.Encode() }
	v := registryView{
		Name: r.Name, APIVersion: r.APIVersion, State: r.Scheduler.State, LastSuccess: "never",
		SamplingRatio:     strconv.FormatFloat(r.Scheduler.SamplingRatio, 'g', 3, 64),
		RequestsPerSecond: strconv.FormatFloat(r.RequestsPerSecond, 'f', -1, 64),
		Concurrency:       r.Concurrency, Due: r.Scheduler.Due, InFlight: r.Scheduler.InFlight,
		Tracked: r.Journeys.Tracked, ListURL: base, CSVURL: base + "?format=csv", Sources: r.Sources,
	}
	for _, n := range r.Scheduler.Outcomes[:] {
		v.Checks += n
	}
	if !r.Scheduler.LastSuccess.IsZero() {
		v.LastSuccess = r.Scheduler.LastSuccess.UTC().Format(time.RFC3339)
	}
	group := func(title, param string, names []string, values []int64) {
		g := countGroup{Title: title}
		for i, name := range names {
			var n int64
			if i < len(values) {
				n = values[i]
			}
			g.Counts = append(g.Counts, count{Name: name, N: n, URL: link(param, name)})
		}
		v.Groups = append(v.Groups, g)
	}
	j := r.Journeys
	group("Status", "status", tracker.Statuses.Names(), j.ByStatus)
	group("Fraud label", "fraud_label", tracker.FraudLabels.Names(), j.ByFraud)
	group("Anomaly label", "anomaly_label", tracker.AnomalyLabels.Names(), j.ByAnomaly)
	group("Terms violation", "reason", tracker.TermsReasons.Names(), j.ByTerms)
	group("Source", "source", tracker.SourceNames[:], j.BySource[:])
	// An id to try the look-up box with: a new user has none at hand.
	for _, ids := range [][]string{r.Latest.Status, r.Latest.Fraud} {
		for _, id := range ids {
			if id != "" {
				v.ExampleID = id
			}
		}
	}
	if v.ExampleID != "" {
		v.ExampleURL = base + "/" + url.PathEscape(v.ExampleID)
	}
	return v
}
