package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/piechart"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The panels share a handful of shapes; a panel says only what sets it
// apart, and these helpers give every panel of a kind the same look.

// target is one PromQL query of a panel and the legend of its series.
type target struct {
	expr, legend string
}

// step is a threshold: from value at on, the color.
type step struct {
	at    float64
	color string
}

// mapping shows a value as a word, in a color.
type mapping struct {
	value, text, color string
}

// link is a data link of a panel's series.
type link struct {
	title, url string
}

// override changes a property of the fields whose name matches.
type override struct {
	regexp bool // match is a regular expression, else a name
	match  string
	props  []dashboard.DynamicConfigValue
}

// spec is what a panel shows. Zero values are the common case.
type spec struct {
	// id is what Grafana's links to a panel (viewPanel=…) point at: once
	// given, it stays, wherever the panel moves.
	id          uint32
	title, desc string
	unit        string
	w, h        uint32
	targets     []target
	// base is the color below the first step (green when empty).
	base  string
	steps []step
	// max, when set, bounds a ratio: the axis or gauge runs from 0 to it.
	max       float64
	links     []link
	overrides []override
	mappings  []mapping

	// timeseries
	stacked       bool // areas stacked on each other
	stepped       bool // the value holds until the next sample
	thresholdLine bool // draw the thresholds on the graph

	// stat
	colorless bool // the value in the text color, not the thresholds'
	nameOnly  bool // show the series' name, not its value

	// table: the columns the merge of the queries leaves out, and the
	// names of those it keeps.
	hide   []string
	rename map[string]string
}

var promDS = common.DataSourceRef{Type: new("prometheus"), Uid: new("${datasource}")}

func (s spec) queries(table bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(s.targets))
	for i, t := range s.targets {
		q := prometheus.NewDataqueryBuilder().
			Datasource(promDS).
			Expr(t.expr).
			LegendFormat(t.legend).
			RefId(string(rune('A' + i)))
		if table {
			q.Format(prometheus.PromQueryFormatTable).Instant()
		} else {
			q.Range()
		}
		out = append(out, q)
	}
	return out
}

func (s spec) thresholds() *dashboard.ThresholdsConfigBuilder {
	base := s.base
	if base == "" {
		base = "green"
	}
	steps := []dashboard.Threshold{{Color: base}}
	for _, st := range s.steps {
		steps = append(steps, dashboard.Threshold{Value: new(st.at), Color: st.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func (s spec) valueMappings() []dashboard.ValueMapping {
	if len(s.mappings) == 0 {
		return []dashboard.ValueMapping{}
	}
	options := map[string]dashboard.ValueMappingResult{}
	for i, m := range s.mappings {
		options[m.value] = dashboard.ValueMappingResult{Text: new(m.text), Color: new(m.color), Index: new(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}}
}

func (s spec) dataLinks() []cog.Builder[dashboard.DashboardLink] {
	var out []cog.Builder[dashboard.DashboardLink]
	for _, l := range s.links {
		out = append(out, dashboard.NewDashboardLinkBuilder(l.title).Url(l.url).TargetBlank(true))
	}
	return out
}

func (s spec) fieldOverrides() []cog.Builder[dashboard.DashboardFieldConfigSourceOverrides] {
	out := []cog.Builder[dashboard.DashboardFieldConfigSourceOverrides]{}
	for _, o := range s.overrides {
		id := "byName"
		if o.regexp {
			id = "byRegexp"
		}
		out = append(out, dashboard.NewDashboardFieldConfigSourceOverridesBuilder().
			Matcher(dashboard.MatcherConfig{Id: id, Options: o.match}).
			Properties(o.props))
	}
	return out
}

func prop(id string, value any) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: id, Value: value}
}

func reduceLast() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)
}

func color(mode dashboard.FieldColorModeId) *dashboard.FieldColorBuilder {
	return dashboard.NewFieldColorBuilder().Mode(mode)
}

func timeseriesPanel(s spec) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Id(s.id).Title(s.title).Description(s.desc).Datasource(promDS).
		Span(s.w).Height(s.h).
		Unit(s.unit).ColorScheme(color(dashboard.FieldColorModeIdPaletteClassic)).
		Thresholds(s.thresholds()).Mappings(s.valueMappings()).Min(0).
		DrawStyle(common.GraphDrawStyleLine).LineInterpolation(common.LineInterpolationLinear).
		LineWidth(1).FillOpacity(10).ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: new(false)}).AxisSoftMin(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNone).Group("A")).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeOff)).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"}).SortBy("Last *").SortDesc(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Targets(s.queries(false)).
		Overrides(s.fieldOverrides())
	if s.max != 0 {
		p.Max(s.max)
	}
	if s.stacked {
		p.FillOpacity(20).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal).Group("A"))
	}
	if s.stepped {
		p.LineInterpolation(common.LineInterpolationStepAfter)
	}
	if s.thresholdLine {
		p.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
	}
	if len(s.links) > 0 {
		p.DataLinks(s.dataLinks())
	}
	return p
}

func statPanel(s spec) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().
		Id(s.id).Title(s.title).Description(s.desc).Datasource(promDS).
		Span(s.w).Height(s.h).
		Unit(s.unit).ColorScheme(color(dashboard.FieldColorModeIdThresholds)).
		Thresholds(s.thresholds()).Mappings(s.valueMappings()).
		ReduceOptions(reduceLast()).
		ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeNone).
		JustifyMode(common.BigValueJustifyModeAuto).Orientation(common.VizOrientationAuto).
		TextMode(common.BigValueTextModeAuto).WideLayout(true).ShowPercentChange(false).
		Targets(s.queries(false)).
		Overrides(s.fieldOverrides())
	if s.max != 0 {
		p.Min(0).Max(s.max)
	}
	if s.colorless {
		p.ColorMode(common.BigValueColorModeNone)
	}
	if s.nameOnly {
		p.TextMode(common.BigValueTextModeName)
	}
	if len(s.links) > 0 {
		p.DataLinks(s.dataLinks())
	}
	return p
}

func bargaugePanel(s spec) *bargauge.PanelBuilder {
	p := bargauge.NewPanelBuilder().
		Id(s.id).Title(s.title).Description(s.desc).Datasource(promDS).
		Span(s.w).Height(s.h).
		Unit(s.unit).ColorScheme(color(dashboard.FieldColorModeIdThresholds)).
		Thresholds(s.thresholds()).Mappings(s.valueMappings()).Min(0).
		ReduceOptions(reduceLast()).
		DisplayMode(common.BarGaugeDisplayModeGradient).Orientation(common.VizOrientationHorizontal).
		ShowUnfilled(true).ValueMode(common.BarGaugeValueModeColor).
		NamePlacement(common.BarGaugeNamePlacementAuto).Sizing(common.BarGaugeSizingAuto).
		MinVizHeight(16).MinVizWidth(8).MaxVizHeight(300).
		Targets(s.queries(false)).
		Overrides(s.fieldOverrides())
	if s.max != 0 {
		p.Max(s.max)
	}
	if len(s.links) > 0 {
		p.DataLinks(s.dataLinks())
	}
	return p
}

func piechartPanel(s spec) *piechart.PanelBuilder {
	p := piechart.NewPanelBuilder().
		Id(s.id).Title(s.title).Description(s.desc).Datasource(promDS).
		Span(s.w).Height(s.h).
		Unit(s.unit).ColorScheme(color(dashboard.FieldColorModeIdPaletteClassic)).
		Thresholds(s.thresholds()).Mappings(s.valueMappings()).
		ReduceOptions(reduceLast()).
		PieType(piechart.PieChartTypePie).
		DisplayLabels([]piechart.PieChartLabels{piechart.PieChartLabelsPercent}).
		Legend(piechart.NewPieChartLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementRight).ShowLegend(true).
			Values([]piechart.PieChartLegendValues{piechart.PieChartLegendValuesValue, piechart.PieChartLegendValuesPercent})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone)).
		Targets(s.queries(false)).
		Overrides(s.fieldOverrides())
	if len(s.links) > 0 {
		p.DataLinks(s.dataLinks())
	}
	return p
}

// tablePanel merges instant queries into one row per series, a column
// per query.
func tablePanel(s spec) *table.PanelBuilder {
	exclude := map[string]bool{}
	for _, h := range s.hide {
		exclude[h] = true
	}
	rename := s.rename
	if rename == nil {
		rename = map[string]string{}
	}
	p := table.NewPanelBuilder().
		Id(s.id).Title(s.title).Description(s.desc).Datasource(promDS).
		Span(s.w).Height(s.h).
		Unit(s.unit).ColorScheme(color(dashboard.FieldColorModeIdThresholds)).
		Thresholds(s.thresholds()).Mappings(s.valueMappings()).
		Align(common.FieldTextAlignmentAuto).
		CellOptions(common.TableCellOptions{TableAutoCellOptions: &common.TableAutoCellOptions{Type: "auto"}}).
		Inspect(false).
		ShowHeader(true).CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Targets(s.queries(true)).
		Overrides(s.fieldOverrides()).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": exclude, "renameByName": rename, "indexByName": map[string]any{},
		}})
	if len(s.links) > 0 {
		p.DataLinks(s.dataLinks())
	}
	return p
}

// item is a row or a panel, in the order the dashboard shows them.
type item struct {
	row   *dashboard.RowBuilder
	panel cog.Builder[dashboard.Panel]
}

func row(id uint32, title string) item {
	return item{row: dashboard.NewRowBuilder(title).Id(id).Collapsed(false)}
}

func timeseriesItem(s spec) item { return item{panel: timeseriesPanel(s)} }
func statItem(s spec) item       { return item{panel: statPanel(s)} }
func bargaugeItem(s spec) item   { return item{panel: bargaugePanel(s)} }
func piechartItem(s spec) item   { return item{panel: piechartPanel(s)} }
func tableItem(s spec) item      { return item{panel: tablePanel(s)} }
