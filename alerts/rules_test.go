// Package alerts holds the Prometheus rules shipped with the exporter
// (covoiturage.rules.yml) and their promtool unit tests
// (covoiturage.rules.test.yml). Its Go tests run promtool on both and
// check what promtool cannot: that every alert is documented in
// docs/runbook.md, tested in every phase, and reads only metrics and label
// values the exporter really exports.
package alerts

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	rulesFile     = "covoiturage.rules.yml"
	rulesTestFile = "covoiturage.rules.test.yml"
	runbookFile   = "../docs/runbook.md"
	metricsFile   = "../docs/metrics.md"
	runbookBase   = "https://github.com/covoiturage-exporter/covoiturage_exporter/blob/main/docs/runbook.md#"
	// spikeAlert is the alert the end-to-end test waits for, by name.
	spikeAlert = "CovoiturageExpiredJourneysSpike"
)

// promtool finds promtool; a missing one fails rather than skips, since
// `make setup` installs it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: run `make setup` (scripts/setup.sh installs Debian's prometheus package, which provides it)")
	}
	return p
}

// runPromtool runs promtool with args and fails the test with its output
// if it exits non-zero.
func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The rule file is valid and lint-clean (no duplicate rules).
func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	runPromtool(t, "check", "rules", "--lint=all", "--lint-fatal", rulesFile)
}

// Every promtool unit test passes: each alert is quiet on normal traffic,
// quiet before its for:, then fires with its exact labels and annotations.
func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	runPromtool(t, "test", "rules", rulesTestFile)
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type testFile struct {
	RuleFiles      []string `yaml:"rule_files"`
	GroupEvalOrder []string `yaml:"group_eval_order"`
	Tests          []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	alertName  = regexp.MustCompile(`^Covoiturage[A-Z][A-Za-z0-9]*$`)
	recordName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)
	severities = []string{"critical", "warning", "info"}
)

// The rules' shape: recording rules in the first group, alerts after;
// recording rules named level:metric:operations and defined before they
// are read; every alert named Covoiturage…, with a severity, a for:, a
// static summary, a templated description and a runbook_url whose anchor
// is a section of docs/runbook.md named after the alert; every metric and
// label value read is one the exporter exports.
func TestRulesStructure(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	known := documentedMetrics(t)
	known["up"] = true
	anchors := runbookAnchors(t)
	values := labelValues()

	if len(rf.Groups) < 2 {
		t.Fatalf("%d groups: want the recording rules' group, then alert groups", len(rf.Groups))
	}
	alerts := map[string]bool{}
	for gi, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if gi == 0 && r.Record == "" {
				t.Errorf("group %s: alert %s in the first group, which is for recording rules", g.Name, r.Alert)
			}
			if gi > 0 && r.Alert == "" {
				t.Errorf("group %s: recording rule %s outside the first group", g.Name, r.Record)
			}
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			for _, m := range names {
				if !known[m] {
					t.Errorf("%s reads %s, neither a metric of docs/metrics.md's table, nor up, nor a recording rule defined above it", name, m)
				}
			}
			for _, m := range matchers(r.Expr) {
				checkMatcher(t, name, m, values)
			}
			if r.Record != "" {
				if !recordName.MatchString(r.Record) {
					t.Errorf("recording rule %s: want a level:metric:operations name", r.Record)
				}
				known[r.Record] = true
				continue
			}

			if !alertName.MatchString(r.Alert) {
				t.Errorf("alert %s: want a CamelCase name starting with Covoiturage", r.Alert)
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s: defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want one of %v", r.Alert, r.Labels["severity"], severities)
			}
			if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
				t.Errorf("alert %s: for %q: want a positive duration (%v)", r.Alert, r.For, err)
			}
			if s := r.Annotations["summary"]; strings.TrimSpace(s) == "" || strings.Contains(s, "{{") {
				t.Errorf("alert %s: summary %q: want a static text", r.Alert, s)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "{{") {
				t.Errorf("alert %s: description %q: want a template with the values", r.Alert, d)
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookBase)
			switch {
			case !ok:
				t.Errorf("alert %s: runbook_url %q does not start with %s", r.Alert, url, runbookBase)
			case anchor != testkit.HeadingAnchor(r.Alert):
				t.Errorf("alert %s: runbook_url anchor %q, want the section named after the alert, #%s", r.Alert, anchor, testkit.HeadingAnchor(r.Alert))
			case !anchors[anchor]:
				t.Errorf("alert %s: docs/runbook.md has no section with anchor #%s", r.Alert, anchor)
			}
			for _, key := range []string{"summary", "description"} {
				for _, m := range annotationMetrics(r.Annotations[key]) {
					if !known[m] {
						t.Errorf("alert %s: %s names %s, which is not a metric of docs/metrics.md's table nor a recording rule", r.Alert, key, m)
					}
				}
			}
		}
	}
	if !alerts[spikeAlert] {
		t.Errorf("no alert %s: the end-to-end test waits for it by that name", spikeAlert)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == spikeAlert && r.Labels["severity"] != "critical" {
				t.Errorf("%s: severity %q, want critical", spikeAlert, r.Labels["severity"])
			}
		}
	}
	alertAnchors := map[string]bool{}
	for a := range alerts {
		alertAnchors[testkit.HeadingAnchor(a)] = true
	}
	for anchor := range anchors {
		if strings.HasPrefix(anchor, "covoiturage") && !alertAnchors[anchor] {
			t.Errorf("docs/runbook.md has a section #%s for an alert the rules do not define", anchor)
		}
	}
}

// Every metric or recording rule the runbook names exists, so an on-call
// never pastes a query that silently returns nothing.
func TestRunbookMetrics(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	known := documentedMetrics(t)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	names := annotationMetrics(string(b))
	if len(names) == 0 {
		t.Fatalf("%s names no metric at all", runbookFile)
	}
	for _, m := range names {
		if !known[m] {
			t.Errorf("%s names %s, which is neither a metric of docs/metrics.md's table nor a recording rule", runbookFile, m)
		}
	}
}

// The promtool test file covers every alert in every phase: at least two
// quiet cases (normal traffic, and the condition not yet held for its
// for:), a firing case with labels and annotations, and, in one test
// group, a quiet case less than the for: before a firing one. It names no
// alert the rules do not define.
func TestRulesTestCoverage(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	var tf testFile
	readYAML(t, rulesTestFile, &tf)
	if !slices.Contains(tf.RuleFiles, rulesFile) {
		t.Errorf("%s: rule_files %v does not load %s", rulesTestFile, tf.RuleFiles, rulesFile)
	}
	// Without an order for every group, promtool evaluates them in a
	// random one, and an alert reads its recording rules one evaluation
	// late in some runs only.
	var groups []string
	for _, g := range rf.Groups {
		groups = append(groups, g.Name)
	}
	if !slices.Equal(tf.GroupEvalOrder, groups) {
		t.Errorf("%s: group_eval_order %v, want every group in the rule file's order %v", rulesTestFile, tf.GroupEvalOrder, groups)
	}

	alerts := map[string]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[r.Alert] = r
			}
		}
	}
	type coverage struct {
		quiet, firing int
		beforeFor     bool // a quiet case less than for: before a firing one
	}
	cov := map[string]*coverage{}
	for name := range alerts {
		cov[name] = &coverage{}
	}
	for _, tg := range tf.Tests {
		quietAt := map[string][]time.Duration{}
		firingAt := map[string][]time.Duration{}
		for _, c := range tg.AlertRuleTest {
			r, ok := alerts[c.Alertname]
			if !ok {
				t.Errorf("test %q: alert %s is not defined in %s", tg.Name, c.Alertname, rulesFile)
				continue
			}
			at, err := model.ParseDuration(c.EvalTime)
			if err != nil {
				t.Errorf("test %q, %s: eval_time %q: %v", tg.Name, c.Alertname, c.EvalTime, err)
				continue
			}
			if len(c.ExpAlerts) == 0 {
				cov[c.Alertname].quiet++
				quietAt[c.Alertname] = append(quietAt[c.Alertname], time.Duration(at))
				continue
			}
			cov[c.Alertname].firing++
			firingAt[c.Alertname] = append(firingAt[c.Alertname], time.Duration(at))
			for _, a := range c.ExpAlerts {
				if got := a.ExpLabels["severity"]; got != r.Labels["severity"] {
					t.Errorf("test %q, %s at %s: exp_labels severity %q, the rule's is %q", tg.Name, c.Alertname, c.EvalTime, got, r.Labels["severity"])
				}
				for _, key := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(a.ExpAnnotations[key]) == "" {
						t.Errorf("test %q, %s at %s: no exp_annotations %s", tg.Name, c.Alertname, c.EvalTime, key)
					}
				}
			}
		}
		for name, quiet := range quietAt {
			forDur, err := model.ParseDuration(alerts[name].For)
			if err != nil {
				continue // reported by TestRulesStructure
			}
			for _, q := range quiet {
				for _, f := range firingAt[name] {
					if d := f - q; d > 0 && d < time.Duration(forDur) {
						cov[name].beforeFor = true
					}
				}
			}
		}
	}
	for name, c := range cov {
		if c.quiet < 2 {
			t.Errorf("%s: %d quiet cases in %s, want at least 2 (normal traffic; condition true for less than its for:)", name, c.quiet, rulesTestFile)
		}
		if c.firing < 1 {
			t.Errorf("%s: no case in %s where it fires", name, rulesTestFile)
		}
		if !c.beforeFor {
			t.Errorf("%s: no test group of %s has a quiet case less than its for: (%s) before a firing case", name, rulesTestFile, alerts[name].For)
		}
	}
}

// documentedMetrics returns the metric names of docs/metrics.md's table,
// with the _bucket, _sum and _count series of its histograms.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- metrics-table -->")
	table, _, ok2 := strings.Cut(rest, "<!-- /metrics-table -->")
	if !ok || !ok2 {
		t.Fatalf("%s: no metrics table between <!-- metrics-table --> markers", metricsFile)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_:][a-z0-9_:]*)` \\| ([a-z]+) \\|")
	known := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		known[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[m[1]+s] = true
			}
		}
	}
	if len(known) < 10 {
		t.Fatalf("%s: only %d metrics read from the metrics table: has its format changed?", metricsFile, len(known))
	}
	return known
}

// runbookAnchors returns the GitHub anchors of docs/runbook.md's level-2
// headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	anchors := map[string]bool{}
	s := bufio.NewScanner(f)
	inFence := false
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if h, ok := strings.CutPrefix(line, "## "); ok && !inFence {
			anchors[testkit.HeadingAnchor(h)] = true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

// labelValues are the values the exporter exports for each label name a
// rule may match on, read from the packages that define them.
func labelValues() map[string][]string {
	var labels []string
	labels = append(labels, tracker.FraudLabels.Names()...)
	labels = append(labels, tracker.AnomalyLabels.Names()...)
	return map[string][]string{
		"status":   tracker.Statuses.Names(),
		"reason":   tracker.TermsReasons.Names(),
		"label":    labels,
		"source":   tracker.SourceNames[:],
		"state":    scheduler.StateNames[:],
		"outcome":  scheduler.OutcomeNames[:],
		"result":   scheduler.CertificateResults,
		"endpoint": append(slices.Clone(registry.Endpoints), "other"),
	}
}

type matcher struct{ name, op, value string }

var matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)

// matchers returns the label matchers of an expression's selectors.
func matchers(expr string) []matcher {
	var out []matcher
	for _, sel := range regexp.MustCompile(`\{[^}]*\}`).FindAllString(expr, -1) {
		for _, m := range matcherRE.FindAllStringSubmatch(sel, -1) {
			out = append(out, matcher{m[1], m[2], m[3]})
		}
	}
	return out
}

// checkMatcher fails the test if a matcher on a label with a known
// vocabulary names a value outside it: a typo there would silently
// select nothing. Regular expressions are checked when they are plain
// alternatives (a|b|c).
func checkMatcher(t *testing.T, rule string, m matcher, values map[string][]string) {
	t.Helper()
	known, ok := values[m.name]
	if !ok {
		return
	}
	alternatives := []string{m.value}
	if m.op == "=~" || m.op == "!~" {
		if !regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)*$`).MatchString(m.value) {
			return
		}
		alternatives = strings.Split(m.value, "|")
	}
	for _, v := range alternatives {
		if !slices.Contains(known, v) {
			t.Errorf("%s: matcher %s%s%q: %q is not a value of %s the exporter exports (%v)", rule, m.name, m.op, m.value, v, m.name, known)
		}
	}
}

var annotationMetricRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// annotationMetrics returns what looks like a covoiturage metric or
// recording rule in a text: an annotation's prose or template queries, the
// runbook. covoiturage_exporter alone is the program's name.
func annotationMetrics(s string) []string {
	var out []string
	for _, w := range annotationMetricRE.FindAllString(s, -1) {
		if w != "covoiturage_exporter" && (strings.HasPrefix(w, "covoiturage_") || strings.Contains(w, ":covoiturage_")) {
			out = append(out, w)
		}
	}
	return out
}

// PromQL words that are not metric names. Keywords are case-insensitive.
var (
	aggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
	keywords     = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
	// Keywords followed by a parenthesised list of label names.
	labelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
)

// metricNames returns the metric names an expression selects: every
// identifier that is not a function, an aggregation, a keyword or a label
// name; label matchers, strings, ranges, numbers and durations are
// skipped. It is a scanner rather than a parser, which the rule file's
// expressions (checked by promtool) do not need.
func metricNames(expr string) ([]string, error) {
	var names []string
	depth := 0 // of the parentheses not skipped whole
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("unbalanced ')' at offset %d", i)
			}
			i++
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{' || c == '[':
			end, err := skipGroup(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case isDigit(c) || c == '.' && i+1 < len(expr) && isDigit(expr[i+1]):
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word := expr[start:i]
			lower := strings.ToLower(word)
			next := skipSpace(expr, i)
			switch {
			case slices.Contains(labelLists, lower):
				if next < len(expr) && expr[next] == '(' {
					end, err := skipGroup(expr, next)
					if err != nil {
						return nil, err
					}
					i = end
				}
			case slices.Contains(keywords, lower), slices.Contains(aggregations, lower):
			case next < len(expr) && expr[next] == '(':
				// a function call
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%d unclosed '('", depth)
	}
	return names, nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// skipGroup returns the index after the bracket closing the one at i,
// skipping strings and nested brackets.
func skipGroup(s string, i int) (int, error) {
	closing := map[byte]byte{'{': '}', '[': ']', '(': ')'}
	stack := []byte{closing[s[i]]}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case closing[c] != 0:
			stack = append(stack, closing[c])
		case c == stack[len(stack)-1]:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j + 1, nil
			}
		case c == '}' || c == ']' || c == ')':
			return 0, fmt.Errorf("unbalanced %q at offset %d", c, j)
		}
	}
	return 0, fmt.Errorf("unclosed %q at offset %d", s[i], i)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

// The scanner behind the metric-name check finds the metrics, and only
// them, in the constructs the rules use.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up == 0`, []string{"up"}},
		{`sum by (job, instance, registry) (rate(foo_total{reason="expired"}[5m]))`, []string{"foo_total"}},
		{`a:b:c / (d:e:f > 0)`, []string{"a:b:c", "d:e:f"}},
		{`x >= 20 and x >= x offset 6h`, []string{"x", "x", "x"}},
		{`x / ignoring (status) group_left () (y > 0.05) and on(job) z * 3600 >= 1e3`, []string{"x", "y", "z"}},
		{`x * on (job, instance) group_left (time() - max by (job) (y))`, []string{"x"}},
		{`x * on (job) group_left y`, []string{"x", "y"}},
		{`up{job=~".*covoiturage.*"} == 0 or absent(up{job=~".*covoiturage.*", a="}"})`, []string{"up", "up"}},
		{`histogram_quantile(0.9, sum without (le) (rate(h_bucket[5m:1m])))`, []string{"h_bucket"}},
		{"quantile_over_time(0.5, r[1d]) # a comment naming not_a_metric\n + count(s)", []string{"r", "s"}},
		{`time() - .5 - vector(1) AND Inf`, nil},
	} {
		got, err := metricNames(tc.expr)
		if err != nil {
			t.Errorf("metricNames(%q): %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[5m)`, `x{a="b}`, `sum(x))`, `sum((x)`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q): no error", bad)
		}
	}
}

// exporterURLTemplate starts every link to the exporter: the URL users
// reach the exporter that raised the alert at, as it exports it, or
// http://<instance> for an exporter older than the metric. The space
// folding the rule's two lines puts after it is trimmed by its "-}}".
const exporterURLTemplate = `{{ with printf "covoiturage_exporter_web_info{job=%q,instance=%q}" $labels.job $labels.instance | query }}` +
	`{{ . | first | label "external_url" }}{{ else }}http://{{ $labels.instance }}{{ end -}} `

// journeysURLPrefix starts every journeys_url: the list of the registry
// the alert is about, on the exporter that raised it.
const journeysURLPrefix = exporterURLTemplate + "/api/v1/journeys/{{ $labels.registry }}?"

var (
	webInfoSeries = regexp.MustCompile(`^covoiturage_exporter_web_info\{(.*)\}$`)
	labelPair     = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// externalURLs reads, from a test's input series, the external URL each
// job and instance exports.
func externalURLs(series []string) map[[2]string]string {
	out := map[[2]string]string{}
	for _, s := range series {
		m := webInfoSeries.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[1], -1) {
			labels[p[1]] = p[2]
		}
		out[[2]string{labels["job"], labels["instance"]}] = labels["external_url"]
	}
	return out
}

// Every alert about journeys or their submission links to the exporter's
// list of the journeys it is about, and only those do; each link the unit
// tests render starts with the external URL the exporter exports (or
// http://<instance> without one), and is a list request the exporter
// accepts, of the registry of the alert, naming statuses or reasons the
// alert's expression counts, or a submission lag.
func TestJourneyLinks(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	recorded := map[string]string{}
	alerts := map[string]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = r.Expr
			} else {
				alerts[r.Alert] = r
			}
		}
	}
	// reads is an expression with the recording rules it reads spelled
	// out.
	var reads func(expr string, depth int) string
	reads = func(expr string, depth int) string {
		out := expr
		for name, e := range recorded {
			if depth < 5 && strings.Contains(expr, name) {
				out += "\n" + reads(e, depth+1)
			}
		}
		return out
	}
	journeyAlerts := 0
	for name, r := range alerts {
		expr := reads(r.Expr, 0)
		about := strings.Contains(expr, "covoiturage_journeys") || strings.Contains(expr, "covoiturage_submission_lag")
		link, has := r.Annotations["journeys_url"]
		switch {
		case about && !strings.HasPrefix(link, journeysURLPrefix):
			t.Errorf("alert %s is about journeys: want a journeys_url starting %s, got %q", name, journeysURLPrefix, link)
		case !about && has:
			t.Errorf("alert %s is not about journeys, yet has a journeys_url", name)
		}
		if about {
			journeyAlerts++
		}
	}
	if journeyAlerts < 6 {
		t.Errorf("%d alerts about journeys", journeyAlerts)
	}

	var tf testFile
	readYAML(t, rulesTestFile, &tf)
	rendered := map[string]int{}
	var fromMetric, fallback, withPath int
	for _, tg := range tf.Tests {
		var series []string
		for _, s := range tg.InputSeries {
			series = append(series, s.Series)
		}
		external := externalURLs(series)
		for _, c := range tg.AlertRuleTest {
			for _, a := range c.ExpAlerts {
				link, ok := a.ExpAnnotations["journeys_url"]
				if _, want := alerts[c.Alertname].Annotations["journeys_url"]; want != ok {
					t.Errorf("test %q, %s at %s: journeys_url expected %v, the rule has one: %v", tg.Name, c.Alertname, c.EvalTime, ok, want)
				}
				if !ok {
					continue
				}
				rendered[c.Alertname]++
				base, exported := external[[2]string{a.ExpLabels["job"], a.ExpLabels["instance"]}]
				if exported {
					fromMetric++
					if u, err := url.Parse(base); err == nil && u.Path != "" {
						withPath++
					}
				} else {
					base = "http://" + a.ExpLabels["instance"]
					fallback++
				}
				rest, found := strings.CutPrefix(link, base+"/api/v1/journeys/"+a.ExpLabels["registry"]+"?")
				u, err := url.Parse(link)
				if !found || err != nil {
					t.Errorf("%s at %s: %q is not the list of registry %s at %s", c.Alertname, c.EvalTime, link, a.ExpLabels["registry"], base)
					continue
				}
				query, err := url.ParseQuery(rest)
				if err != nil {
					t.Errorf("%s at %s: %s: %v", c.Alertname, c.EvalTime, link, err)
					continue
				}
				q, err := web.ParseQuery(query, false)
				if err != nil {
					t.Errorf("%s at %s: the exporter refuses %s: %v", c.Alertname, c.EvalTime, link, err)
				}
				if q.Filter.Statuses == 0 && q.Filter.Terms == 0 && !q.Filter.Lag.Set {
					t.Errorf("%s at %s: %s names no status, no reason and no lag: it lists every journey", c.Alertname, c.EvalTime, link)
				}
				for _, param := range []string{"status", "reason"} {
					for v := range strings.SplitSeq(strings.Join(u.Query()[param], ","), ",") {
						if v != "" && !strings.Contains(reads(alerts[c.Alertname].Expr, 0), v) {
							t.Errorf("%s at %s: %s lists %s %s, which the alert does not count", c.Alertname, c.EvalTime, link, param, v)
						}
					}
				}
			}
		}
	}
	// The tests render both kinds of links, and an external URL with a
	// path.
	if fromMetric == 0 || fallback == 0 || withPath == 0 {
		t.Errorf("links rendered: %d from covoiturage_exporter_web_info (%d with a path), %d from the instance: the tests must render each", fromMetric, withPath, fallback)
	}
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range alerts {
		if _, ok := r.Annotations["journeys_url"]; ok && rendered[name] == 0 {
			t.Errorf("alert %s: no unit test renders its journeys_url", name)
		}
		// Its runbook section says where the journeys are.
		_, section, _ := strings.Cut(string(runbook), "\n## "+name+"\n")
		section, _, _ = strings.Cut(section, "\n## ")
		if _, ok := r.Annotations["journeys_url"]; ok && (!strings.Contains(section, "journeys_url") || !strings.Contains(section, "/api/v1/journeys/<registry>?")) {
			t.Errorf("alert %s: its runbook section does not point to its journeys (journeys_url, /api/v1/journeys/<registry>?…)", name)
		}
	}
}

var (
	// linkWindow is a journeys_url parameter set to a time before the
	// evaluation: its name and how many seconds before.
	linkWindow = regexp.MustCompile(`(\w+)=\{\{ with query "clamp_min\(vector\(time\(\) - (\d+)\), 0\)" \}\}`)
	linkLag    = regexp.MustCompile(`[?&]lag_from=(\d+)`)
	// exprWindow is the range of a recorded rate an expression reads
	// (…:rate1h, …:ratio_rate6h, …:p90_rate30m).
	exprWindow = regexp.MustCompile(`:(?:ratio_|p\d+_)?rate(\d+[smhdw])\b`)
	// lagThreshold is the submission lag an expression compares to,
	// in seconds, as a product (18 * 3600).
	lagThreshold = regexp.MustCompile(`covoiturage_submission_lag_seconds:p\d+_rate\w+\s*>\s*([\d.]+(?:\s*\*\s*[\d.]+)*)`)
)

// product evaluates "18 * 3600".
func product(s string) (float64, error) {
	out := 1.0
	for f := range strings.SplitSeq(s, "*") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		out *= v
	}
	return out, nil
}

// A journeys_url's windows are written apart from the expression they
// mirror: each must say the same, so that the link lists the journeys the
// alert counted. A lag_from is the expression's lag threshold; a time
// window (changed_from, registered_from…) is the window of the first rate
// the expression reads, or, for the pending backlog, the policy's batch
// window end plus its check delay that makes a journey overdue. A window
// that mirrors nothing is listed here with why, so that a new one cannot
// go unchecked.
func TestJourneyLinkWindowsMirrorTheExpressions(t *testing.T) {
	t.Parallel()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	notMirrors := map[[2]string]string{
		{spikeAlert, "changed_from"}: "lists the journeys refused as expired over the last hour (runbook: <1 hour ago>), wider than the 5 minutes it fires on",
	}
	overdue := tracker.DefaultPolicy.BatchWindowEnd + tracker.DefaultPolicy.BatchCheckDelay
	checked, exempted := 0, 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			link, ok := r.Annotations["journeys_url"]
			if r.Alert == "" || !ok {
				continue
			}
			for _, m := range linkWindow.FindAllStringSubmatch(link, -1) {
				param := m[1]
				var got time.Duration
				if _, err := fmt.Sscan(m[2], &got); err != nil {
					t.Fatal(err)
				}
				got *= time.Second
				if why, ok := notMirrors[[2]string{r.Alert, param}]; ok {
					t.Logf("%s: %s=time() - %v mirrors no window: %s", r.Alert, param, got, why)
					exempted++
					continue
				}
				var want time.Duration
				switch w := exprWindow.FindStringSubmatch(r.Expr); {
				case w != nil:
					d, err := model.ParseDuration(w[1])
					if err != nil {
						t.Fatalf("%s: window %s: %v", r.Alert, w[1], err)
					}
					want = time.Duration(d)
				case strings.Contains(r.Expr, "covoiturage_journeys_pending_overdue") && param == "start_to":
					want = overdue
				default:
					t.Errorf("%s: journeys_url's %s=time() - %v mirrors nothing the test knows in %q: mirror a window or list why not", r.Alert, param, got, r.Expr)
					continue
				}
				if got != want {
					t.Errorf("%s: journeys_url's %s is time() - %v, the expression's window is %v", r.Alert, param, got, want)
				}
				checked++
			}
			if m := linkLag.FindStringSubmatch(link); m != nil {
				th := lagThreshold.FindStringSubmatch(r.Expr)
				if th == nil {
					t.Errorf("%s: journeys_url has lag_from=%s, the expression compares no submission lag: %q", r.Alert, m[1], r.Expr)
					continue
				}
				want, err := product(th[1])
				if err != nil {
					t.Fatal(err)
				}
				if m[1] != fmt.Sprint(want) {
					t.Errorf("%s: journeys_url's lag_from=%s, the expression's threshold is %s = %v s", r.Alert, m[1], th[1], want)
				}
				checked++
			}
		}
	}
	if checked < 6 || exempted != len(notMirrors) {
		t.Errorf("%d windows checked, %d of %d exemptions met: the rule file's links are not what this test reads", checked, exempted, len(notMirrors))
	}
}
