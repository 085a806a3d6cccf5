package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// board is what tells one dashboard from the other.
type board struct {
	file, uid, title, desc string
	from                   string // the default time range, up to now
	// link goes to the other dashboard, with the variables and time range.
	linkTitle, linkUID string
	// extra variables after datasource, job, instance and registry.
	extra []cog.Builder[dashboard.VariableModel]
	items []item
}

// boards are the dashboards the project ships, in the files users import.
func boards() []board {
	return []board{
		{
			file:  "exporter.json",
			uid:   "covoiturage-exporter",
			title: "Covoiturage exporter",
			desc:  "How the covoiturage exporter spends the registry's budget: requests, errors, rate limiting, sampling, backlog, freshness, where journeys come from (config, push, discovery, proxy), the durable state and its own process.",
			from:  "now-6h", linkTitle: "Journeys and verdicts", linkUID: "covoiturage-operator",
			items: exporterPanels(),
		},
		{
			file:  "operator.json",
			uid:   "covoiturage-operator",
			title: "Covoiturage registry: journeys and verdicts",
			desc:  "What the carpooling proof registry decided about the operator's journeys: statuses, rejections and why, time to a settled status, what is still pending.",
			from:  "now-7d", linkTitle: "Exporter", linkUID: "covoiturage-exporter",
			extra: []cog.Builder[dashboard.VariableModel]{exporterVariable()},
			items: operatorPanels(),
		},
	}
}

// queryVariable lists its choices with query, a label_values(): what
// every variable of the dashboards but the data source shares.
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(promDS).
		Definition(query).
		Query(dashboard.StringOrMap{Map: map[string]any{
			"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
		}}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Regex("").
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Hide(dashboard.VariableHideDontHide)
}

// labelVariable chooses values of a label, several at once or all; query
// is the label_values() that lists them.
func labelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return queryVariable(name, label, query).
		Multi(true).IncludeAll(true).AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: new(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// exporterVariable holds the exporter's external URL, where the journey
// links of the operator dashboard open its list of journeys.
func exporterVariable() *dashboard.QueryVariableBuilder {
	return queryVariable("exporter", "Exporter address",
		`label_values(covoiturage_exporter_web_info{job=~"$job", instance=~"$instance"}, external_url)`).
		Description("The exporter's external URL, where your browser reaches it: the journey links of the panels open its list of journeys there. Its choices are the external URLs the selected exporters export (covoiturage_exporter_web_info: --web.external-url, or the address the exporter derives from its listener); for an exporter too old to export one, type its address (https://host:9896).").
		Multi(false).IncludeAll(false).AllowCustomValue(true)
}

// build returns the dashboard, a dashboard.Dashboard: the SDK deprecates
// it for dashboardv2, Grafana 12's schema, which Grafana 10 and 11 cannot
// import.
func (b board) build() (any, error) {
	//lint:ignore SA1019 dashboardv2 is Grafana 12's schema, not importable by Grafana 10 and 11
	d := dashboard.NewDashboardBuilder(b.title) //nolint:staticcheck // see build's comment
	d.Uid(b.uid).
		Description(b.desc).
		Tags([]string{"covoiturage", "prometheus"}).
		Timezone("browser").
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		FiscalYearStartMonth(0).
		LiveNow(false).
		WeekStart("").
		Version(1).
		Refresh("1m").
		Time(b.from, "now").
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			BuiltIn(1).
			Datasource(common.DataSourceRef{Type: new("grafana"), Uid: new("-- Grafana --")}).
			Enable(true).Hide(true).
			IconColor("rgba(0, 211, 255, 1)").
			Type("dashboard")).
		Link(dashboard.NewDashboardLinkBuilder(b.linkTitle).
			Type(dashboard.DashboardLinkTypeLink).
			Url("/d/" + b.linkUID).
			Icon("dashboard").
			IncludeVars(true).KeepTime(true).
			AsDropdown(false).TargetBlank(false).
			Tags([]string{}).Tooltip("")).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus").
			Regex("").
			Multi(false).IncludeAll(false).
			Hide(dashboard.VariableHideDontHide)).
		WithVariable(labelVariable("job", "Job", "label_values(covoiturage_exporter_build_info, job)")).
		WithVariable(labelVariable("instance", "Instance", `label_values(covoiturage_exporter_build_info{job=~"$job"}, instance)`)).
		WithVariable(labelVariable("registry", "Registry", `label_values(covoiturage_journeys{job=~"$job", instance=~"$instance"}, registry)`))
	for _, v := range b.extra {
		d.WithVariable(v)
	}
	for _, it := range b.items {
		if it.row != nil {
			d.WithRow(it.row)
		} else {
			d.WithPanel(it.panel)
		}
	}
	return d.Build()
}
