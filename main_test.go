package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// exporterBinary is the real program, as a user would run it, built once
// for all the tests of this package.
var exporterBinary = &testkit.Binary{Package: ".", Name: "covoiturage_exporter"}

func buildExporter(t *testing.T) string {
	t.Helper()
	return exporterBinary.Path(t)
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(url string) (int, string, error) {
	return do(http.MethodGet, url)
}

func do(method, url string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// process is a running exporter binary.
type process struct {
	*testkit.Process
	base string // http://127.0.0.1:port
}

// startExporter runs bin with args on a free loopback port; the process is
// killed at the end of the test if it is still running.
func startExporter(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	addr := testkit.FreeAddress(t)
	return &process{Process: testkit.Start(t, bin, append(args, "--web.listen-address="+addr)...), base: "http://" + addr}
}

func (p *process) url(path string) string { return p.base + path }

// metrics is a parsed exposition.
type metrics map[string]*dto.MetricFamily

func parseMetrics(exposition string) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(exposition))
}

// scrape fetches and parses /metrics.
func (p *process) scrape() (metrics, string, error) {
	code, body, err := get(p.url("/metrics"))
	if err != nil {
		return nil, "", err
	}
	if code != http.StatusOK {
		return nil, body, fmt.Errorf("/metrics: HTTP %d", code)
	}
	m, err := parseMetrics(body)
	return m, body, err
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// value is the sample of the series of name carrying labels (name, value
// pairs; others may be there too); for a histogram, name_count and
// name_sum. ok is false when there is no such series.
func (m metrics) value(name string, labels ...string) (v float64, ok bool) {
	family, suffix := m[name], ""
	if family == nil {
		for _, s := range []string{"_count", "_sum"} {
			if base, cut := strings.CutSuffix(name, s); cut && m[base] != nil {
				family, suffix = m[base], s
			}
		}
	}
	if family == nil {
		return 0, false
	}
	for _, s := range family.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Untyped != nil:
			return s.Untyped.GetValue(), true
		case s.Histogram != nil && suffix == "_count":
			return float64(s.Histogram.GetSampleCount()), true
		case s.Histogram != nil && suffix == "_sum":
			return s.Histogram.GetSampleSum(), true
		}
	}
	return 0, false
}

// nonZero lists the values of label on the series of name, for registry,
// whose sample is not 0.
func (m metrics) nonZero(name, registry, label string) []string {
	var out []string
	for _, s := range m[name].GetMetric() {
		if !hasLabels(s, []string{"registry", registry}) {
			continue
		}
		v := s.GetGauge().GetValue() + s.GetCounter().GetValue() + s.GetUntyped().GetValue()
		if v == 0 {
			continue
		}
		for _, lp := range s.GetLabel() {
			if lp.GetName() == label {
				out = append(out, lp.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// waitFor scrapes until unmet, given the parsed metrics, lists nothing
// left to wait for, and returns that scrape; it fails the test after
// timeout, saying what was still missing.
func (p *process) waitFor(t *testing.T, timeout time.Duration, unmet func(metrics) []string) (metrics, string) {
	t.Helper()
	var m metrics
	var body string
	testkit.Poll(t, timeout, 100*time.Millisecond, func() (string, bool) {
		var err error
		var missing []string
		if m, body, err = p.scrape(); err != nil {
			missing = []string{err.Error()}
		} else {
			missing = unmet(m)
		}
		return fmt.Sprintf("/metrics still lacks:\n  %s\nlogs:\n%s", strings.Join(missing, "\n  "), p.Logs.String()), len(missing) == 0
	})
	return m, body
}

// want is one expected sample.
type want struct {
	name   string
	labels []string
	value  float64
}

func (w want) unmet(m metrics) (string, bool) {
	v, ok := m.value(w.name, w.labels...)
	if ok && v == w.value {
		return "", false
	}
	got := "absent"
	if ok {
		got = fmt.Sprint(v)
	}
	return fmt.Sprintf("%s%v = %v (got %s)", w.name, w.labels, w.value, got), true
}

func unmetWants(m metrics, wants []want) []string {
	var out []string
	for _, w := range wants {
		if msg, bad := w.unmet(m); bad {
			out = append(out, msg)
		}
	}
	return out
}

// promtoolCheck lints an exposition with `promtool check metrics`, which
// prints one line per problem and exits non-zero on any.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: run `make setup` (scripts/setup.sh installs Debian's prometheus package, which provides it)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	for line := range strings.SplitSeq(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			t.Errorf("promtool check metrics: %s", line)
		}
	}
	if err != nil {
		t.Errorf("promtool check metrics: %v", err)
	}
}

// The README's run command: the binary with --demo fills every family of
// the journey collector from its embedded registry within 30 s, serves an
// exposition promtool finds nothing wrong with, the landing page, health,
// readiness, reload and the journey API, and stops cleanly on SIGTERM.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	start := time.Now()
	p := startExporter(t, bin, "--demo")

	statuses := []string{"ok", "fraud_error", "anomaly_error", "terms_violation_error", "pending"}
	atLeast := []struct {
		name, label string
		among       []string // nil: any value
		n           int
	}{
		{"covoiturage_journeys", "status", statuses, 3},
		{"covoiturage_journeys_seen_total", "status", statuses, 3},
		{"covoiturage_journeys_fraud_labels", "label", nil, 2},
		{"covoiturage_journeys_fraud_labels_seen_total", "label", nil, 2},
		{"covoiturage_journeys_anomaly_labels", "label", nil, 2},
		{"covoiturage_journeys_anomaly_labels_seen_total", "label", nil, 2},
		{"covoiturage_journeys_terms_violations", "reason", nil, 2},
		{"covoiturage_journeys_terms_violations_seen_total", "reason", nil, 2},
	}
	positive := []want{
		{name: "covoiturage_journey_settle_duration_seconds_count", labels: []string{"registry", "demo"}},
		{name: "covoiturage_certificates", labels: []string{"registry", "demo", "result", "ok"}},
		{name: "covoiturage_scheduler_checks_total", labels: []string{"registry", "demo", "outcome", "checked"}},
		{name: "covoiturage_journeys_tracked", labels: []string{"registry", "demo", "source", "demo"}},
	}
	m, exposition := p.waitFor(t, 30*time.Second, func(m metrics) []string {
		var missing []string
		for _, c := range atLeast {
			got := m.nonZero(c.name, "demo", c.label)
			if c.among != nil {
				got = slices.DeleteFunc(got, func(v string) bool { return !slices.Contains(c.among, v) })
			}
			if len(got) < c.n {
				missing = append(missing, fmt.Sprintf("%s: %d %s values above 0, want %d (got %v)", c.name, len(got), c.label, c.n, got))
			}
		}
		for _, w := range positive {
			if v, _ := m.value(w.name, w.labels...); v <= 0 {
				missing = append(missing, fmt.Sprintf("%s%v > 0 (got %v)", w.name, w.labels, v))
			}
		}
		missing = append(missing, unmetWants(m, []want{{"covoiturage_registry_up", []string{"registry", "demo"}, 1}})...)
		if _, ok := m.value("covoiturage_scheduler_last_success_timestamp_seconds", "registry", "demo"); !ok {
			missing = append(missing, "covoiturage_scheduler_last_success_timestamp_seconds{registry=demo}")
		}
		return missing
	})
	t.Logf("every journey family filled %v after the start", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"covoiturage_exporter_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if m[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// go build sets no -ldflags: the version comes from the build
	// information (version.go), never empty.
	for _, bi := range m["covoiturage_exporter_build_info"].GetMetric() {
		for _, l := range bi.GetLabel() {
			if l.GetName() == "version" && l.GetValue() == "" {
				t.Errorf("covoiturage_exporter_build_info has an empty version: %v", bi.GetLabel())
			}
		}
	}
	if _, ok := m.value("covoiturage_registry_requests_total", "registry", "demo", "endpoint", "health", "code", "200"); !ok {
		t.Error("/metrics lacks the demo registry's health requests")
	}
	promtoolCheck(t, exposition)

	for _, path := range []string{"/-/healthy", "/-/ready"} {
		if code, body, err := get(p.url(path)); err != nil || code != http.StatusOK {
			t.Errorf("GET %s: %d %v %s", path, code, err, body)
		}
	}
	if code, body, err := get(p.url("/")); err != nil || code != http.StatusOK || !strings.Contains(body, "Metrics") {
		t.Errorf("landing page: %d %v\n%s", code, err, body)
	}
	if code, _, err := get(p.url("/-/reload")); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d %v, want 405", code, err)
	}
	if code, body, err := do(http.MethodPost, p.url("/-/reload")); err != nil || code != http.StatusOK {
		t.Errorf("POST /-/reload: %d %v %s, want 200", code, err, body)
	}
	if m, _, err := p.scrape(); err != nil {
		t.Error(err)
	} else if msg, bad := (want{"covoiturage_exporter_config_last_reload_successful", nil, 1}).unmet(m); bad {
		t.Errorf("after POST /-/reload: %s", msg)
	}

	// The generator numbers its journeys gen1 and 7 digits; some were
	// refused at submission and are not tracked.
	found := false
	for i := 1; i <= 1000 && !found; i++ {
		id := fmt.Sprintf("gen1%07d", i)
		code, body, err := get(p.url("/api/v1/journeys/demo/" + id))
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK {
			continue
		}
		found = true
		var j map[string]any
		if err := json.Unmarshal([]byte(body), &j); err != nil {
			t.Fatalf("journey %s: %v\n%s", id, err, body)
		}
		if j["id"] != id {
			t.Errorf("journey %s: id %v", id, j["id"])
		}
		if s, _ := j["status"].(string); s == "" {
			t.Errorf("journey %s: no status: %s", id, body)
		}
		if s, _ := j["registered_at"].(string); s == "" {
			t.Errorf("journey %s: no registered_at: %s", id, body)
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("journey %s: registered_at: %v", id, err)
		}
	}
	if !found {
		t.Error("none of the journeys gen10000001 to gen10001000 is tracked")
	}
	if code, _, err := get(p.url("/api/v1/journeys/nosuchregistry/gen10000001")); err != nil || code != http.StatusNotFound {
		t.Errorf("journey of an unknown registry: %d %v, want 404", code, err)
	}

	stopping := time.Now()
	p.Stop(t)
	t.Logf("stopped %v after SIGTERM", time.Since(stopping).Round(time.Millisecond))
}

// configSim is a simulated registry served over HTTP for a configuration
// file to point at.
type configSim struct {
	sim   *simulator.Simulator
	url   string
	token string
}

func newConfigSim(t *testing.T, token string, journeys ...simulator.Journey) *configSim {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range journeys {
		j.OperatorID = 1
		sim.Put(j)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &configSim{sim: sim, url: srv.URL, token: token}
}

// registryYAML is one entry of registries: in a configuration file.
func registryYAML(name, baseURL, tokenFile string, ids ...string) string {
	return fmt.Sprintf(`  - name: %s
    base_url: %s
    token_file: %s
    journeys:
      ids: [%s]
    schedule:
      first_check_delay: 1s
    health_interval: 1s
`, name, baseURL, tokenFile, strings.Join(ids, ", "))
}

// writeIDFile writes a journeys file of n ids made from the format and
// their index, and returns them.
func writeIDFile(t *testing.T, path, format string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf(format, i)
	}
	writeFile(t, path, strings.Join(ids, "\n")+"\n")
	return ids
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A configuration file drives the exporter: its journeys are checked and
// exported by registry; SIGHUP applies an edited file, adding a registry;
// an invalid file is refused by POST /-/reload and the running
// configuration goes on.
func TestConfigFileEndToEnd(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	first := newConfigSim(t, "first-e2e-token-3f9c1a",
		simulator.Journey{OperatorJourneyID: "ok1", Status: "ok"},
		simulator.Journey{OperatorJourneyID: "fraud1", Status: "fraud_error", FraudLabels: []string{"interoperator_overlap"}},
		simulator.Journey{OperatorJourneyID: "anomaly1", Status: "anomaly_error", Anomalies: []simulator.Anomaly{{Label: "temporal_overlap_anomaly"}}},
		simulator.Journey{OperatorJourneyID: "terms1", Status: "terms_violation_error", TermsViolations: []string{"expired", "a_reason_it_invented"}},
		simulator.Journey{OperatorJourneyID: "pending1", Status: "pending"},
		simulator.Journey{OperatorJourneyID: "invented1", Status: "a_status_it_invented"},
		simulator.Journey{OperatorJourneyID: "canceled1", Status: "canceled"},
	)
	second := newConfigSim(t, "second-e2e-token-77d2e0",
		simulator.Journey{OperatorJourneyID: "ok2", Status: "ok"},
		simulator.Journey{OperatorJourneyID: "fraud2", Status: "fraud_error", FraudLabels: []string{"interoperator_too_close_trips"}},
	)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "first.token"), first.token+"\n")
	writeFile(t, filepath.Join(dir, "second.token"), second.token+"\n")
	cfgPath := filepath.Join(dir, "covoiturage.yml")
	writeFile(t, cfgPath, "registries:\n"+
		registryYAML("first", first.url, "first.token", "ok1", "fraud1", "anomaly1", "terms1", "pending1", "invented1", "unknown1"))

	p := startExporter(t, bin, "--config.file="+cfgPath, "--storage.path="+filepath.Join(dir, "data"))
	status := func(registry, status string, v float64) want {
		return want{"covoiturage_journeys", []string{"registry", registry, "status", status}, v}
	}
	firstWants := []want{
		status("first", "ok", 1), status("first", "fraud_error", 1), status("first", "anomaly_error", 1),
		status("first", "terms_violation_error", 1), status("first", "pending", 1),
		status("first", "other", 1), status("first", "not_found", 1), status("first", "unchecked", 0),
		{"covoiturage_journeys_fraud_labels", []string{"registry", "first", "label", "interoperator_overlap"}, 1},
		{"covoiturage_journeys_anomaly_labels", []string{"registry", "first", "label", "temporal_overlap_anomaly"}, 1},
		{"covoiturage_journeys_terms_violations", []string{"registry", "first", "reason", "expired"}, 1},
		{"covoiturage_journeys_terms_violations", []string{"registry", "first", "reason", "other"}, 1},
		{"covoiturage_journeys_tracked", []string{"registry", "first", "source", "config"}, 7},
		{"covoiturage_registry_up", []string{"registry", "first"}, 1},
		{"covoiturage_exporter_config_last_reload_successful", nil, 1},
	}
	m, exposition := p.waitFor(t, 30*time.Second, func(m metrics) []string { return unmetWants(m, firstWants) })
	if _, ok := m.value("covoiturage_journeys", "registry", "second"); ok {
		t.Error("a registry not configured yet is exported")
	}
	promtoolCheck(t, exposition)

	// SIGHUP: one more journey for the first registry, and a second one.
	writeFile(t, cfgPath, "registries:\n"+
		registryYAML("first", first.url, "first.token", "ok1", "fraud1", "anomaly1", "terms1", "pending1", "invented1", "unknown1", "canceled1")+
		registryYAML("second", second.url, "second.token", "ok2", "fraud2"))
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := append(slices.Clone(firstWants),
		status("first", "canceled", 1),
		want{"covoiturage_journeys_tracked", []string{"registry", "first", "source", "config"}, 8},
		status("second", "ok", 1), status("second", "fraud_error", 1), status("second", "unchecked", 0),
		want{"covoiturage_journeys_fraud_labels", []string{"registry", "second", "label", "interoperator_too_close_trips"}, 1},
		want{"covoiturage_journeys_tracked", []string{"registry", "second", "source", "config"}, 2},
		want{"covoiturage_registry_up", []string{"registry", "second"}, 1},
	)
	reloaded = slices.DeleteFunc(reloaded, func(w want) bool {
		return w.name == "covoiturage_journeys_tracked" && w.value == 7
	})
	p.waitFor(t, 30*time.Second, func(m metrics) []string { return unmetWants(m, reloaded) })

	// An invalid file: refused, and the running configuration goes on.
	writeFile(t, cfgPath, "registries:\n"+registryYAML("first", first.url, "first.token", "ok1")+"    no_such_key: 1\n")
	code, body, err := do(http.MethodPost, p.url("/-/reload"))
	if err != nil || code != http.StatusInternalServerError || !strings.Contains(body, "no_such_key") {
		t.Errorf("POST /-/reload with an invalid file: %d %v %q, want 500 naming the bad key", code, err, body)
	}
	m, _, err = p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	failed := slices.DeleteFunc(slices.Clone(reloaded), func(w want) bool {
		return w.name == "covoiturage_exporter_config_last_reload_successful"
	})
	failed = append(failed, want{"covoiturage_exporter_config_last_reload_successful", nil, 0})
	for _, msg := range unmetWants(m, failed) {
		t.Errorf("after a failed reload: %s", msg)
	}

	p.Stop(t)
	for _, secret := range []string{first.token, second.token} {
		if strings.Contains(p.Logs.String(), secret) {
			t.Errorf("logs show the token %q", secret)
		}
	}
}

// --config.check says whether a file is valid, names the faulty field of
// one that is not, and never prints a credential.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	secrets := testkit.ConfigSecrets(t, "internal/config/testdata")
	noSecret := func(t *testing.T, outputs ...string) {
		t.Helper()
		for _, out := range outputs {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("output shows the secret %q:\n%s", s, out)
				}
			}
		}
	}

	good, err := filepath.Glob("internal/config/testdata/good/*.yaml")
	if err != nil || len(good) == 0 {
		t.Fatalf("no good configuration files: %v", err)
	}
	for _, path := range good {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config.check", "--config.file=" + path}, &stdout, &stderr); code != 0 {
				t.Errorf("exit code %d, want 0\nstderr: %s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "configuration is valid") {
				t.Errorf("stdout does not say the file is valid: %q", stdout.String())
			}
			noSecret(t, stdout.String(), stderr.String())
		})
	}

	for _, c := range []struct{ file, field string }{
		{"negative_burst.yaml", "budget.burst"},
		{"bad_url_scheme.yaml", "base_url"},
		{"unknown_schedule_key.yaml", "setle_after"},
		{"bad_duration_string.yaml", "schedule.pending_interval"},
		{"token_and_access_key.yaml", "token_file"},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("internal/config/testdata/bad", c.file)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config.check", "--config.file=" + path}, &stdout, &stderr); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), c.field) || !strings.Contains(stderr.String(), path) {
				t.Errorf("stderr names neither the file nor %s: %s", c.field, stderr.String())
			}
			if strings.Contains(stdout.String(), "valid") {
				t.Errorf("stdout: %q", stdout.String())
			}
			noSecret(t, stdout.String(), stderr.String())
		})
	}
}

// Without --demo, a missing configuration file is a clear error, and so is
// an unknown flag.
func TestStartupErrorsAreClear(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "covoiturage.yml")
	if code := run([]string{"--web.listen-address=127.0.0.1:0", "--config.file=" + missing, "--storage.path=" + filepath.Join(filepath.Dir(missing), "data")}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), missing) {
		t.Errorf("missing configuration file not named: %s", stderr.String())
	}
	if code := run([]string{"--no-such-flag"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code for an unknown flag %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "no-such-flag") {
		t.Errorf("unknown flag not named: %s", stderr.String())
	}
}
