package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// wantUIDs are the dashboards' stable uids: links and provisioning refer
// to them, so renaming one is a breaking change.
var wantUIDs = map[string]bool{"covoiturage-operator": true, "covoiturage-exporter": true}

var promDatasource = map[string]any{"type": "prometheus", "uid": "${datasource}"}

var panelTypes = map[string]bool{"timeseries": true, "stat": true, "bargauge": true, "piechart": true, "table": true}

func dashboardFiles(t *testing.T) map[string]map[string]any {
	t.Helper()
	names, err := fs.Glob(files, "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded dashboards: %v", err)
	}
	out := map[string]map[string]any{}
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", name, err)
		}
		out[name] = d
	}
	return out
}

// allPanels walks panels and the panels of collapsed rows.
func allPanels(list []any) []map[string]any {
	var out []map[string]any
	for _, p := range list {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		out = append(out, m)
		if nested, ok := m["panels"].([]any); ok {
			out = append(out, allPanels(nested)...)
		}
	}
	return out
}

func TestDashboardsAreImportable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for name, d := range dashboardFiles(t) {
		if id, ok := d["id"]; !ok || id != nil {
			t.Errorf("%s: id = %v, want null so that an import creates the dashboard", name, d["id"])
		}
		uid, _ := d["uid"].(string)
		if !wantUIDs[uid] {
			t.Errorf("%s: uid %q, want one of %v", name, uid, wantUIDs)
		}
		if seen[uid] {
			t.Errorf("%s: uid %q used twice", name, uid)
		}
		seen[uid] = true
		if v, _ := d["schemaVersion"].(float64); v < 39 {
			t.Errorf("%s: schemaVersion %v, want at least 39", name, d["schemaVersion"])
		}
		if _, ok := d["__inputs"]; ok {
			t.Errorf("%s: has __inputs, which file provisioning does not resolve", name)
		}
		if title, _ := d["title"].(string); title == "" {
			t.Errorf("%s: no title", name)
		}
	}
	for uid := range wantUIDs {
		if !seen[uid] {
			t.Errorf("no dashboard with uid %q", uid)
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	t.Parallel()
	for name, d := range dashboardFiles(t) {
		templating, _ := d["templating"].(map[string]any)
		list, _ := templating["list"].([]any)
		vars := map[string]map[string]any{}
		for _, v := range list {
			if m, ok := v.(map[string]any); ok {
				vars[fmt.Sprint(m["name"])] = m
			}
		}
		ds := vars["datasource"]
		if ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
			t.Errorf("%s: want a datasource variable of type prometheus, got %v", name, ds)
		}
		// Each variable narrows the next one's choices.
		for _, c := range []struct {
			name string
			refs []string
		}{
			{"job", nil},
			{"instance", []string{`job=~"$job"`}},
			{"registry", []string{`job=~"$job"`, `instance=~"$instance"`}},
		} {
			v := vars[c.name]
			if v == nil {
				t.Errorf("%s: no %s variable", name, c.name)
				continue
			}
			if v["type"] != "query" || !reflect.DeepEqual(v["datasource"], promDatasource) {
				t.Errorf("%s: $%s: want a query variable on ${datasource}, got type %v on %v", name, c.name, v["type"], v["datasource"])
			}
			if v["multi"] != true || v["includeAll"] != true || v["allValue"] != ".*" {
				t.Errorf("%s: $%s: want multi, includeAll and allValue .*, got %v %v %v", name, c.name, v["multi"], v["includeAll"], v["allValue"])
			}
			def, _ := v["definition"].(string)
			q, _ := v["query"].(map[string]any)
			if qs, _ := q["query"].(string); qs != def || !strings.HasPrefix(def, "label_values(") || !strings.HasSuffix(def, ", "+c.name+")") {
				t.Errorf("%s: $%s: want label_values(…, %s) as definition and query, got %q and %v", name, c.name, c.name, def, v["query"])
			}
			for _, ref := range c.refs {
				if !strings.Contains(def, ref) {
					t.Errorf("%s: $%s: %q does not filter on %s", name, c.name, def, ref)
				}
			}
		}
	}
}

func TestDashboardPanels(t *testing.T) {
	t.Parallel()
	for name, d := range dashboardFiles(t) {
		top, _ := d["panels"].([]any)
		ids := map[float64]bool{}
		var grid []map[string]any
		for _, p := range allPanels(top) {
			title, _ := p["title"].(string)
			where := fmt.Sprintf("%s: panel %q", name, title)
			if id, _ := p["id"].(float64); ids[id] {
				t.Errorf("%s: id %v used twice", where, id)
			} else {
				ids[id] = true
			}
			if title == "" {
				t.Errorf("%s: no title", where)
			}
			if p["type"] == "row" {
				continue
			}
			grid = append(grid, p)
			if !panelTypes[fmt.Sprint(p["type"])] {
				t.Errorf("%s: type %v", where, p["type"])
			}
			if desc, _ := p["description"].(string); len(desc) < 40 {
				t.Errorf("%s: description %q: say what the panel shows and what to do when it looks wrong", where, desc)
			}
			fc, _ := p["fieldConfig"].(map[string]any)
			defaults, _ := fc["defaults"].(map[string]any)
			if unit, _ := defaults["unit"].(string); unit == "" {
				t.Errorf("%s: no fieldConfig.defaults.unit", where)
			}
			if !reflect.DeepEqual(p["datasource"], promDatasource) {
				t.Errorf("%s: datasource %v, want %v", where, p["datasource"], promDatasource)
			}
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			for i, tg := range targets {
				m, _ := tg.(map[string]any)
				if !reflect.DeepEqual(m["datasource"], promDatasource) {
					t.Errorf("%s: target %d: datasource %v, want %v", where, i, m["datasource"], promDatasource)
				}
			}
		}
		checkLayout(t, name, grid)
	}
}

// checkLayout fails on panels that overflow the 24-column grid or overlap,
// which Grafana would silently rearrange.
func checkLayout(t *testing.T, name string, panels []map[string]any) {
	t.Helper()
	type box struct{ x, y, w, h float64 }
	var boxes []box
	var titles []string
	for _, p := range panels {
		g, _ := p["gridPos"].(map[string]any)
		b := box{}
		b.x, _ = g["x"].(float64)
		b.y, _ = g["y"].(float64)
		b.w, _ = g["w"].(float64)
		b.h, _ = g["h"].(float64)
		if b.w <= 0 || b.h <= 0 || b.x < 0 || b.x+b.w > 24 {
			t.Errorf("%s: panel %q: gridPos %v outside the 24-column grid", name, p["title"], g)
		}
		for i, o := range boxes {
			if b.x < o.x+o.w && o.x < b.x+b.w && b.y < o.y+o.h && o.y < b.y+b.h {
				t.Errorf("%s: panels %q and %q overlap", name, titles[i], p["title"])
			}
		}
		boxes = append(boxes, b)
		titles = append(titles, fmt.Sprint(p["title"]))
	}
}

func TestQueriesListsEveryTarget(t *testing.T) {
	t.Parallel()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	perUID := map[string]int{}
	for _, d := range dashboardFiles(t) {
		top, _ := d["panels"].([]any)
		for _, p := range allPanels(top) {
			targets, _ := p["targets"].([]any)
			want += len(targets)
			perUID[fmt.Sprint(d["uid"])] += len(targets)
		}
	}
	if len(qs) != want {
		t.Errorf("Queries() = %d queries, the dashboards have %d targets", len(qs), want)
	}
	got := map[string]int{}
	for _, q := range qs {
		got[q.Dashboard]++
		if q.Panel == "" || q.Expr == "" {
			t.Errorf("incomplete query %+v", q)
		}
	}
	if !reflect.DeepEqual(got, perUID) {
		t.Errorf("queries per dashboard %v, want %v", got, perUID)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, json string
		want       []Query
		err        string
	}{
		{
			name: "collapsed rows and hidden targets",
			json: `{"uid":"u","panels":[
				{"type":"stat","title":"a","targets":[{"expr":"up"},{"expr":"x","hide":true}]},
				{"type":"row","title":"r","collapsed":true,"panels":[{"type":"table","title":"b","targets":[{"expr":"y"}]}]}]}`,
			want: []Query{{"u", "a", "up"}, {"u", "a", "x"}, {"u", "b", "y"}},
		},
		{name: "empty expr", json: `{"uid":"u","panels":[{"title":"a","targets":[{"expr":""}]}]}`, err: `panel "a": target 0 has no expr`},
		{name: "no uid", json: `{"panels":[]}`, err: "no uid"},
		{name: "not JSON", json: `{"uid":`, err: "unexpected end of JSON input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse("d.json", []byte(c.json))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("parse() error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("parse() = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestQueriesFollowTheRules(t *testing.T) {
	t.Parallel()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for _, problem := range lintQuery(q.Expr) {
			t.Errorf("%s: panel %q: %s\n\t%s", q.Dashboard, q.Panel, problem, q.Expr)
		}
	}
}

// TestQueriesUseDocumentedMetrics keeps the dashboards on the metrics the
// table of docs/metrics.md documents, so a renamed metric cannot leave a
// panel silently empty.
func TestQueriesUseDocumentedMetrics(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "<!-- metrics-table -->")
	table, _, found := strings.Cut(table, "<!-- /metrics-table -->")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(covoiturage_[a-z_]+)`").FindAllStringSubmatch(table, -1) {
		documented[m[1]] = true
	}
	if !found || len(documented) == 0 {
		t.Fatal("docs/metrics.md: no metrics table between <!-- metrics-table --> markers")
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	histogramSeries := regexp.MustCompile(`_(bucket|count|sum)$`)
	for _, q := range qs {
		metrics, _ := lintSelectors(q.Expr)
		for _, m := range metrics {
			if !strings.HasPrefix(m, "covoiturage_") {
				continue
			}
			if !documented[m] && !documented[histogramSeries.ReplaceAllString(m, "")] {
				t.Errorf("%s: panel %q: %s is not in the metrics table of docs/metrics.md", q.Dashboard, q.Panel, m)
			}
		}
	}
}

// TestLintQuery shows that the rules above catch what they are meant to.
func TestLintQuery(t *testing.T) {
	t.Parallel()
	const reg = `job=~"$job", instance=~"$instance", registry=~"$registry"`
	for _, c := range []struct {
		expr string
		want string // "" for a clean query
	}{
		{`sum by (registry, status) (rate(covoiturage_journeys_seen_total{` + reg + `, status!~"pending"}[$__rate_interval])) * 60`, ""},
		{`sum by (registry) (x{` + reg + `}) / on (registry) group_left clamp_min(sum by (registry) (y{` + reg + `}), 1)`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(covoiturage_x_bucket{` + reg + `}[$__rate_interval])))`, ""},
		{`time() - max by (instance) (process_start_time_seconds{job=~"$job", instance=~"$instance"}) > 1e-9`, ""},
		{`covoiturage_exporter_config_last_reload_successful{job=~"$job", instance=~"$instance"}`, ""},
		{`histogram_quantile(0.99, sum by (instance, le) (rate(covoiturage_storage_flush_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))`, ""},
		{`covoiturage_storage_size_bytes{job=~"$job"}`, `instance=~"$instance"`},
		{`covoiturage_push_requests_total{job=~"$job", instance=~"$instance"}`, `registry=~"$registry"`},
		{`rate(covoiturage_x_total{` + reg + `}[5m])`, "want [$__rate_interval]"},
		{`increase(covoiturage_x_total{` + reg + `}[$__range])`, "want [$__rate_interval]"},
		{`covoiturage_journeys{job=~"$job", instance=~"$instance"}`, `registry=~"$registry"`},
		{`covoiturage_journeys{job=~"$job", instance=~"$instance", registry="$registry"}`, `registry=~"$registry"`},
		{`covoiturage_journeys{registry=~"$registry", instance=~"$instance"}`, `job=~"$job"`},
		{`sum(covoiturage_journeys)`, `job=~"$job"`},
		{`up{job=~"$job"}`, `instance=~"$instance"`},
		{`sum(rate(x{` + reg + `}[$__rate_interval])`, "unbalanced"},
		{`x{` + reg + `, status="ok}`, "unterminated string"},
		{`x{` + reg + `} / $__range_s`, "variable $__range_s"},
	} {
		problems := lintQuery(c.expr)
		switch {
		case c.want == "" && len(problems) > 0:
			t.Errorf("lintQuery(%s) = %q, want no problem", c.expr, problems)
		case c.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }):
			t.Errorf("lintQuery(%s) = %q, want a problem mentioning %q", c.expr, problems, c.want)
		}
	}
}

// TestQueriesParseWithPromtool hands every query, its Grafana variables
// replaced as Grafana would, to the real PromQL parser: promtool checks
// them as recording rules.
func TestQueriesParseWithPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian's prometheus package; `make setup` installs it): %v", err)
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for i, q := range qs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: expand(q.Expr)})
	}
	// JSON is YAML, which spares a YAML encoder for a throwaway file.
	doc, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "queries.rules.yml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		for i, q := range qs {
			if strings.Contains(string(out), fmt.Sprintf(`"dashboard_query_%d"`, i)) {
				t.Errorf("%s: panel %q does not parse: %s", q.Dashboard, q.Panel, q.Expr)
			}
		}
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(qs)); !strings.Contains(string(out), want) {
		t.Fatalf("promtool check rules said %q, want %q", out, want)
	}
}

// expand replaces the Grafana variables the way the end-to-end test does:
// every selection is "All".
func expand(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m",
		"$registry", ".*", "$job", ".*", "$instance", ".*",
	).Replace(expr)
}

// The rules every query follows, checked by a small PromQL tokenizer (the
// real parser is promtool's, above): ranges are [$__rate_interval]; every
// selector has job=~"$job" and instance=~"$instance", and every selector of
// a per-registry metric registry=~"$registry"; only the variables the
// end-to-end test replaces are used.

var (
	// Names followed by a label list, and the keywords that are neither
	// metrics nor functions.
	labelListKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	otherKeywords     = map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true}
	aggregations      = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "stdvar": true,
		"topk": true, "bottomk": true, "quantile": true, "count_values": true, "group": true,
	}
	knownVariables = map[string]bool{"$job": true, "$instance": true, "$registry": true, "$__rate_interval": true}
	// Metrics without a registry label: Prometheus' own, the process and
	// Go runtime metrics, and the exporter's process-wide ones, the store
	// included (one file holds every registry's state).
	exporterLevel = regexp.MustCompile(`^(up|scrape_.*|process_.*|go_.*|promhttp_.*|covoiturage_exporter_.*|covoiturage_storage_.*)$`)
)

type token struct {
	kind byte // 'i' identifier, 's' string, 'n' number, 'r' range, 'v' variable, 'o' operator, else the punctuation itself
	text string
}

func tokenize(expr string) ([]token, []string) {
	var toks []token
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return toks, []string{"unterminated string"}
			}
			toks = append(toks, token{'s', expr[i+1 : j]})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return toks, []string{"unbalanced ["}
			}
			toks = append(toks, token{'r', expr[i+1 : i+j]})
			i += j + 1
		case c == '$':
			j := i + 1
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			toks = append(toks, token{'v', expr[i:j]})
			i = j
		case isIdent(c, true):
			j := i + 1
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			toks = append(toks, token{'i', expr[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.':
			j := i + 1
			for j < len(expr) && (expr[j] >= '0' && expr[j] <= '9' || expr[j] == '.' || expr[j] == 'e' || expr[j] == 'E' ||
				(expr[j] == '-' || expr[j] == '+') && (expr[j-1] == 'e' || expr[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{'n', expr[i:j]})
			i = j
		default:
			if i+1 < len(expr) && slices.Contains([]string{"=~", "!~", "!=", "==", ">=", "<="}, expr[i:i+2]) {
				toks = append(toks, token{'o', expr[i : i+2]})
				i += 2
				continue
			}
			toks = append(toks, token{c, string(c)})
			i++
		}
	}
	depth := map[byte]int{}
	for _, tk := range toks {
		switch tk.kind {
		case '(', '{':
			depth[tk.kind]++
		case ')':
			depth['(']--
		case '}':
			depth['{']--
		}
		if depth['('] < 0 || depth['{'] < 0 {
			return toks, []string{"unbalanced " + tk.text}
		}
	}
	if depth['('] != 0 || depth['{'] != 0 {
		return toks, []string{"unbalanced parentheses or braces"}
	}
	return toks, nil
}

// lintQuery returns what is wrong with expr, nothing when it follows the
// dashboards' rules.
func lintQuery(expr string) []string {
	_, problems := lintSelectors(expr)
	return problems
}

// lintSelectors returns the metric names expr selects, and its problems.
func lintSelectors(expr string) ([]string, []string) {
	toks, problems := tokenize(expr)
	if len(problems) > 0 {
		return nil, problems
	}
	var metrics []string
	next := func(i int) byte {
		if i+1 < len(toks) {
			return toks[i+1].kind
		}
		return 0
	}
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		switch {
		case tk.kind == 'r':
			if tk.text != "$__rate_interval" {
				problems = append(problems, fmt.Sprintf("range [%s]: want [$__rate_interval]", tk.text))
			}
		case tk.kind == 'v':
			if !knownVariables[tk.text] {
				problems = append(problems, fmt.Sprintf("variable %s: the end-to-end test only replaces %v", tk.text, slices.Sorted(maps.Keys(knownVariables))))
			}
		case tk.kind == 'i' && labelListKeywords[tk.text]:
			if next(i) == '(' {
				for i++; i < len(toks) && toks[i].kind != ')'; {
					i++
				}
			}
		case tk.kind == 'i' && otherKeywords[tk.text]:
		case tk.kind == 'i' && next(i) == '(':
			// a function call
		case tk.kind == 'i' && aggregations[tk.text]:
			// an aggregation followed by by or without
		case tk.kind == 'i' && next(i) == '{':
			var matchers []string
			if matchers, i = selectorMatchers(toks, i+1); matchers == nil {
				problems = append(problems, fmt.Sprintf("%s: malformed label matchers", tk.text))
				continue
			}
			metrics = append(metrics, tk.text)
			problems = append(problems, checkSelector(tk.text, matchers)...)
		case tk.kind == 'i':
			metrics = append(metrics, tk.text)
			problems = append(problems, checkSelector(tk.text, nil)...)
		case tk.kind == '{':
			var matchers []string
			if matchers, i = selectorMatchers(toks, i); matchers == nil {
				problems = append(problems, "malformed label matchers")
				continue
			}
			problems = append(problems, checkSelector("", matchers)...)
		}
	}
	return metrics, problems
}

// selectorMatchers reads the matchers of the braces at toks[open] as
// `label op "value"` strings, and returns the index of the closing brace.
func selectorMatchers(toks []token, open int) ([]string, int) {
	matchers := []string{}
	i := open + 1
	for ; i < len(toks) && toks[i].kind != '}'; i++ {
		if i+2 >= len(toks) || toks[i].kind != 'i' || toks[i+2].kind != 's' ||
			(toks[i+1].kind != 'o' && toks[i+1].kind != '=') {
			return nil, i
		}
		matchers = append(matchers, toks[i].text+toks[i+1].text+`"`+toks[i+2].text+`"`)
		i += 2
		if i+1 < len(toks) && toks[i+1].kind == ',' {
			i++
		}
	}
	return matchers, i
}

func checkSelector(metric string, matchers []string) []string {
	want := []string{`job=~"$job"`, `instance=~"$instance"`}
	if !exporterLevel.MatchString(metric) {
		want = append(want, `registry=~"$registry"`)
	}
	var problems []string
	for _, w := range want {
		if !slices.Contains(matchers, w) {
			problems = append(problems, fmt.Sprintf("selector %s%v: no %s", metric, matchers, w))
		}
	}
	return problems
}
