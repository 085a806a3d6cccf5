package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/dashboards"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

// The alert the end-to-end test drives, and the phases it goes through.
const (
	spikeAlert = "CovoiturageExpiredJourneysSpike"
	// shippedRules is loaded by Prometheus unmodified, as users load it.
	shippedRules = "alerts/covoiturage.rules.yml"
	// spikeSignal is the expired share the alert watches; the resolution
	// must follow it coming down. spikeBaseline is the day's median of it
	// the alert compares it with.
	spikeSignal   = "registry:covoiturage_journeys_expired:ratio_rate5m"
	spikeBaseline = "registry:covoiturage_journeys_expired:ratio_rate5m_median1d"
	// spikeCount is the alert's third condition: how many journeys expired
	// over 5 minutes, per second.
	spikeCount = "registry:covoiturage_journeys_expired:rate5m"
	// The spike is a backlog flushed late: the operator's pipeline submits
	// spikePace times its usual number of journeys a second, spikeLateRatio
	// of them a day late; the demo's own traffic is read from the
	// simulator. The faster the spike, the sooner the share reaches its
	// peak and the sooner the spike leaves the rule's windows.
	spikeLateRatio = 0.7
	spikePace      = 8
	// spikePeak is the expired share at which the spike ends. The alert
	// keeps firing while the spike is in the 5-minute windows, at this
	// share; the resolution must come with the share less than halfway
	// between normal and this, so the peak stands well above the 10 %
	// threshold the resolution crosses.
	spikePeak = 0.25
	// Once the alert is notified firing, the operator catches up: normal
	// traffic, late at its usual share, but catchUpPace times as many
	// journeys a second. Those dilute the spike in the 5-minute windows:
	// the expired share truly falls below the threshold within half a
	// minute or so, instead of the 5 minutes the spike takes to leave the
	// windows, while the day's median stays where it was.
	catchUpPace = 60
	// quietPhase is how long normal traffic runs, on top of the day of
	// history, before the spike; the alert must stay silent all along.
	// The backfilled day gives the baseline from the first evaluation.
	quietPhase = 5 * time.Second
	// historyDay is the normal traffic Prometheus is given before it
	// starts, one sample every historyStep: the day the alert's baseline,
	// a median over a day, reads. Without it the test would wait for that
	// history in real time.
	historyDay  = 24 * time.Hour
	historyStep = 30 * time.Second
	// fireDeadline runs from the spike's start, resolveDeadline from the
	// firing notification: the spike waits for the rule's 5-minute windows
	// to fill, the firing for its `for: 2m`; the resolution, without the
	// catch-up, would wait for the spike to leave the windows.
	fireDeadline    = 5 * time.Minute
	resolveDeadline = 6 * time.Minute
	// startDeadline covers a cold start of every process, the exporter
	// built with the race detector included.
	startDeadline = 2 * time.Minute
)

// alertingStack is the exporter on its demo registry, scraped by a real
// Prometheus loading the shipped rules unmodified, which sends to a real
// Alertmanager, which notifies a webhook in the test. Prometheus starts
// with a day of the demo's normal traffic backfilled into its storage, as
// if it had watched the exporter for a day. Each alerting test starts its
// own, so the tests run side by side: most of their time is spent waiting
// on the alerts' `for:`.
type alertingStack struct {
	exp     *process
	sim     *demoRegistry
	normal  demoTraffic // the demo's traffic as it started
	prom    *prometheusAPI
	hook    *webhook
	signals []string // the spike alert's recording rules
	watch   *alertWatch
	started time.Time // Prometheus
}

func startAlertingStack(t *testing.T) *alertingStack {
	t.Helper()
	prometheusBin := debianTool(t, "prometheus", "prometheus")
	promtoolBin := debianTool(t, "prometheus", "promtool")
	alertmanagerBin := debianTool(t, "prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
	rules, err := filepath.Abs(shippedRules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rules); err != nil {
		t.Fatalf("the shipped rules: %v", err)
	}

	hook := newWebhook(t)
	// With a store, as a deployed exporter runs: the dashboards chart it.
	exp := startExporter(t, buildExporter(t), "--demo", "--storage.path="+t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter output (end):\n%s", testkit.Tail(exp.Logs.String(), 60))
		}
	})
	sim := demoSimulator(t, exp)
	normal := sim.traffic(t)

	dir := t.TempDir()
	amAddr := testkit.FreeAddress(t)
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), fmt.Sprintf(`route:
  receiver: webhook
  group_by: [alertname, registry]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: %q
        send_resolved: true
`, hook.srv.URL+"/"))
	startTool(t, "alertmanager", "http://"+amAddr, alertmanagerBin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=")

	target := strings.TrimPrefix(exp.base, "http://")
	promData := filepath.Join(dir, "prometheus")
	history := normalDay{
		labels:    fmt.Sprintf(`instance=%q,job="covoiturage",registry="demo"`, target),
		perSecond: normal.PerHour * demo.Speed / 3600,
		lateShare: normal.LateRatio,
		end:       time.Now().Add(-historyStep),
	}
	history.backfill(t, promtoolBin, filepath.Join(dir, "history.om"), promData)

	promAddr := testkit.FreeAddress(t)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: covoiturage
    static_configs:
      - targets: [%q]
`, rules, amAddr, target))
	startTool(t, "prometheus", "http://"+promAddr, prometheusBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+promData,
		// The seen counters' exemplars, read back below.
		"--enable-feature=exemplar-storage",
		"--web.listen-address="+promAddr)
	prom := &prometheusAPI{base: "http://" + promAddr}
	started := time.Now()

	signals := prom.spikeSignals(t)
	t.Cleanup(func() {
		if t.Failed() {
			prom.logHistory(t, signals, started)
		}
	})
	// The alert's baseline must be the backfilled day from the start.
	prom.waitReady(t, signals)
	t.Logf("target up and %v evaluated %v after Prometheus started", signals, time.Since(started).Round(time.Second))
	history.check(t, prom)
	return &alertingStack{
		exp: exp, sim: sim, normal: normal,
		prom: prom, hook: hook, signals: signals, started: started,
		watch: &alertWatch{t: t, prom: prom, hook: hook, signals: signals},
	}
}

// The expired-spike alert, end to end: normal traffic on top of a day of
// it raises no alert; a spike of late submissions (a backlog flushed a day
// late) makes the alert reach the webhook, labelled and annotated, with a
// link to the journeys behind it; the operator catching up resolves it.
// Meanwhile every dashboard panel's query runs on that Prometheus and must
// parse and return series.
func TestAlertingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real Prometheus and Alertmanager for about 3 minutes")
	}
	t.Parallel()
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatalf("dashboard queries: %v", err)
	}
	if len(queries) == 0 {
		t.Fatal("the dashboards have no query")
	}
	s := startAlertingStack(t)
	exp, sim, normal, prom, hook, signals, watch, started := s.exp, s.sim, s.normal, s.prom, s.hook, s.signals, s.watch, s.started

	// Phase 1: normal traffic, on top of a day of it: the alert stays
	// silent.
	watch.quietUntil(time.Now().Add(quietPhase))
	prom.checkRulesHealthy(t)
	normalShare := prom.value(t, spikeSignal)
	// Quiet because the share is normal, not for want of journeys: the
	// alert's count condition alone would let it fire.
	if n := prom.value(t, spikeCount) * 300; n < 10 {
		t.Fatalf("%s * 300 = %.1f after the quiet phase: too few expired journeys for the quiet phase to test the share conditions", spikeCount, n)
	}
	t.Logf("phase 1: no %s pending, firing or notified over %v of normal traffic (late_ratio %v, %s %.3f)",
		spikeAlert, time.Since(started).Round(time.Second), normal.LateRatio, spikeSignal, normalShare)

	// Phase 2: the spike, until the alert is pending and the share at its
	// peak; the 5-minute windows keep it there for the alert's `for:`.
	sim.setTraffic(t, demoTraffic{PerHour: normal.PerHour * spikePace, LateRatio: spikeLateRatio})
	spikeStart := time.Now()
	poll(t, fireDeadline, func() (string, bool) {
		state := watch.state()
		share, err := prom.demoValue(spikeSignal)
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprintf("%s %q in Prometheus, %s = %.3f, waiting for pending and %v; %s",
				spikeAlert, state, spikeSignal, share, spikePeak, prom.describe(signals)),
			state != "" && share >= spikePeak
	})
	sim.setTraffic(t, normal)
	spikeEnd := time.Now()
	t.Logf("phase 2: %v journeys a simulated hour, late_ratio %v, for %v, until %s was pending and %s reached %v",
		normal.PerHour*spikePace, spikeLateRatio, spikeEnd.Sub(spikeStart).Round(time.Second), spikeAlert, spikeSignal, spikePeak)
	firing := watch.until(fireDeadline-time.Since(spikeStart), "firing")
	t.Logf("phase 2: %s notified firing %v after the spike started (in Prometheus: pending after %s, firing after %s)",
		spikeAlert, firing.received.Sub(spikeStart).Round(time.Second),
		after(spikeStart, watch.pendingAt), after(spikeStart, watch.firingAt))
	firingShare := prom.value(t, spikeSignal)
	catchUp := demoTraffic{PerHour: normal.PerHour * catchUpPace, LateRatio: normal.LateRatio}
	sim.setTraffic(t, catchUp)
	catchUpStart := time.Now()
	if got := firing.Labels["severity"]; got != "critical" {
		t.Errorf("severity = %q, want critical; labels %v", got, firing.Labels)
	}
	if got := firing.Labels["registry"]; got != "demo" {
		t.Errorf("registry = %q, want demo; labels %v", got, firing.Labels)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(firing.Annotations[a]) == "" {
			t.Errorf("annotation %s is empty; annotations %v", a, firing.Annotations)
		}
	}
	// From the alert to the journeys behind it, and from the counter's
	// spike to an example journey.
	checkJourneysURL(t, firing, "expired")
	checkExemplars(t, prom, exp, `covoiturage_journeys_terms_violations_seen_total{reason="expired"}`, started)

	// The dashboards, on the day of history and the live minutes, while
	// the spike is still in the rule's windows and the catch-up dilutes it.
	for _, q := range queries {
		expr := grafanaVariables(q.Expr)
		t.Run(q.Dashboard+"/"+q.Panel, func(t *testing.T) {
			res, err := prom.query(expr)
			if err != nil {
				t.Fatalf("dashboard %q, panel %q: %v\n  expr: %s\n  sent: %s", q.Dashboard, q.Panel, err, q.Expr, expr)
			}
			if res.empty() {
				t.Errorf("dashboard %q, panel %q: no series\n  expr: %s\n  sent: %s", q.Dashboard, q.Panel, q.Expr, expr)
			}
		})
	}

	// Phase 3: the catch-up brings the share down.
	resolved := watch.until(resolveDeadline, "resolved")
	sim.setTraffic(t, normal)
	t.Logf("phase 3: %s notified resolved %v after the spike ended, %v after the catch-up (%v journeys a simulated hour, late_ratio %v) started",
		spikeAlert, resolved.received.Sub(spikeEnd).Round(time.Second), resolved.received.Sub(catchUpStart).Round(time.Second),
		catchUp.PerHour, catchUp.LateRatio)
	if resolved.Labels["registry"] != "demo" {
		t.Errorf("resolved notification labels %v", resolved.Labels)
	}
	// Resolved because the share came down, at least halfway back to
	// normal, rather than because the baseline rose to meet it.
	resolvedShare := prom.value(t, spikeSignal)
	if baseline := prom.value(t, spikeBaseline); math.Abs(baseline-normalShare) > normalShare/2 {
		t.Errorf("%s = %.3f when notified resolved, far from the normal share %.3f: the catch-up moved the baseline", spikeBaseline, baseline, normalShare)
	}
	t.Logf("%s: %.3f before the spike, %.3f when notified firing, %.3f when notified resolved",
		spikeSignal, normalShare, firingShare, resolvedShare)
	if halfway := normalShare + (firingShare-normalShare)/2; resolvedShare > halfway {
		t.Errorf("%s resolved while %s was still %.3f, above %.3f, halfway between normal (%.3f) and its value when it fired (%.3f): the baseline caught up with the spike",
			spikeAlert, spikeSignal, resolvedShare, halfway, normalShare, firingShare)
	}
	if bad := hook.errors(); bad != "" {
		t.Errorf("the webhook received bodies it could not decode: %s", bad)
	}
	exp.Stop(t)
	t.Logf("whole run: %v", time.Since(started).Round(time.Second))
}

// normalDay is a day of the demo's normal traffic, as Prometheus would
// have recorded it watching the exporter: the counters the recording rules
// read, and the recording rules the alert reads with their values on
// steady traffic. The day's median of the expired share, which Prometheus
// computes from these, is then the late share from the first evaluation.
type normalDay struct {
	labels    string  // job, instance and registry, as Prometheus scrapes them
	perSecond float64 // journeys registered
	lateShare float64 // of them, expired
	end       time.Time
}

// samples is how many samples each series gets.
func (d normalDay) samples() int { return int(historyDay / historyStep) }

// openMetrics writes the day in the OpenMetrics text format, each series'
// samples in time order as promtool wants them.
func (d normalDay) openMetrics(w io.Writer) error {
	start := d.end.Add(-historyDay)
	expired := d.perSecond * d.lateShare
	series := []struct {
		kind, family, name, labels string
		value                      func(elapsed float64) float64
	}{
		{"counter", "covoiturage_journeys_registered", "covoiturage_journeys_registered_total", `,source="demo"`,
			func(s float64) float64 { return d.perSecond * s }},
		{"counter", "covoiturage_journeys_terms_violations_seen", "covoiturage_journeys_terms_violations_seen_total", `,reason="expired"`,
			func(s float64) float64 { return expired * s }},
		{"gauge", "registry:covoiturage_journeys_registered:rate5m", "registry:covoiturage_journeys_registered:rate5m", "",
			func(float64) float64 { return d.perSecond }},
		{"gauge", spikeCount, spikeCount, "", func(float64) float64 { return expired }},
		{"gauge", spikeSignal, spikeSignal, "", func(float64) float64 { return d.lateShare }},
	}
	bw := bufio.NewWriter(w)
	for _, s := range series {
		fmt.Fprintf(bw, "# TYPE %s %s\n", s.family, s.kind)
		for i := range d.samples() {
			at := start.Add(time.Duration(i) * historyStep)
			fmt.Fprintf(bw, "%s{%s%s} %g %d\n", s.name, d.labels, s.labels,
				s.value(at.Sub(start).Seconds()), at.Unix())
		}
	}
	fmt.Fprintln(bw, "# EOF")
	return bw.Flush()
}

// backfill writes the day into Prometheus' data directory, as blocks
// older than anything Prometheus will scrape.
func (d normalDay) backfill(t *testing.T, promtool, file, dataDir string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.openMetrics(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", file, dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
}

// check fails the test unless the alert's baseline reads the backfilled
// day: a day of the expired share, whose median is the late share.
func (d normalDay) check(t *testing.T, prom *prometheusAPI) {
	t.Helper()
	n := prom.value(t, "count_over_time("+spikeSignal+"[1d])")
	if want := float64(d.samples()) * 0.99; n < want {
		t.Fatalf("Prometheus holds %v samples of %s over the last day, want the %d backfilled", n, spikeSignal, d.samples())
	}
	if got := prom.value(t, spikeBaseline); math.Abs(got-d.lateShare) > d.lateShare/10 {
		t.Fatalf("%s = %v, want the backfilled day's share %v", spikeBaseline, got, d.lateShare)
	}
}

// after is how long after start at came, if it came.
func after(start, at time.Time) string {
	if at.IsZero() {
		return "(not seen)"
	}
	return at.Sub(start).Round(time.Second).String()
}

// debianTool finds a program of a Debian package: in /usr/bin, where the
// package puts it, else on PATH. A missing one fails the test rather than
// skipping it: `make test` installs them (scripts/setup.sh).
func debianTool(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p := filepath.Join("/usr/bin", name); isExecutable(p) {
			return p
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v is installed: run `make setup` (scripts/setup.sh installs Debian's %s package)", names, pkg)
	return ""
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0
}

// startTool runs a server program until the end of the test and waits for
// its /-/ready; its output is shown if the test fails.
func startTool(t *testing.T, name, base, bin string, args ...string) {
	t.Helper()
	p := testkit.Start(t, bin, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output (end):\n%s", name, testkit.Tail(p.Logs.String(), 60))
		}
	})
	testkit.Poll(t, startDeadline, 200*time.Millisecond, func() (string, bool) {
		if !p.Running() {
			t.Fatalf("%s exited: %v\n%s", name, <-p.Exited, p.Logs.String())
		}
		code, body, err := get(base + "/-/ready")
		if err != nil {
			return fmt.Sprintf("%s /-/ready: %v", name, err), false
		}
		return fmt.Sprintf("%s /-/ready: %d %s", name, code, body), code == http.StatusOK
	})
}

// poll calls check every second until it reports done, and fails the test
// with check's last word after timeout: Prometheus evaluates every second.
func poll(t *testing.T, timeout time.Duration, check func() (string, bool)) {
	t.Helper()
	testkit.Poll(t, timeout, time.Second, check)
}

// demoRegistry is the simulator embedded in the exporter under test,
// driven through its admin routes.
type demoRegistry struct{ base string }

var demoRegistryLog = regexp.MustCompile(`demo registry started.* url=(http://127\.0\.0\.1:\d+)`)

// demoSimulator reads the embedded simulator's address from the log line
// the demo writes when it starts.
func demoSimulator(t *testing.T, p *process) *demoRegistry {
	t.Helper()
	var base string
	testkit.Poll(t, 30*time.Second, 100*time.Millisecond, func() (string, bool) {
		m := demoRegistryLog.FindStringSubmatch(p.Logs.String())
		if m == nil {
			return "no `demo registry started url=…` line in the exporter's logs", false
		}
		base = m[1]
		return "", true
	})
	return &demoRegistry{base: base}
}

// demoTraffic is what of the simulator's traffic the test reads: journeys
// per simulated hour and the share submitted too late.
type demoTraffic struct {
	PerHour   float64 `json:"per_hour"`
	LateRatio float64 `json:"late_ratio"`
}

func (d *demoRegistry) traffic(t *testing.T) demoTraffic {
	t.Helper()
	code, body, err := get(d.base + "/_simulator/traffic")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /_simulator/traffic: %d %v %s", code, err, body)
	}
	var traffic struct {
		PerHour   *float64 `json:"per_hour"`
		LateRatio *float64 `json:"late_ratio"`
	}
	if err := json.Unmarshal([]byte(body), &traffic); err != nil || traffic.LateRatio == nil || traffic.PerHour == nil {
		t.Fatalf("GET /_simulator/traffic: %v %s", err, body)
	}
	return demoTraffic{PerHour: *traffic.PerHour, LateRatio: *traffic.LateRatio}
}

func (d *demoRegistry) setTraffic(t *testing.T, traffic demoTraffic) {
	t.Helper()
	body, err := json.Marshal(traffic)
	if err != nil {
		t.Fatal(err)
	}
	d.putTraffic(t, string(body))
}

// notifiedAlert is one alert of an Alertmanager webhook notification
// (payload version 4), with when the test received it.
type notifiedAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	received    time.Time
}

// webhook is the Alertmanager receiver: it keeps every alert notified.
type webhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	alerts []notifiedAlert
	bad    []string
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	h := &webhook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			Version string          `json:"version"`
			Alerts  []notifiedAlert `json:"alerts"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(body, &n)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || n.Version != "4" {
			h.bad = append(h.bad, fmt.Sprintf("%v: %.200s", err, body))
			http.Error(w, "bad notification", http.StatusBadRequest)
			return
		}
		for _, a := range n.Alerts {
			a.received = time.Now()
			h.alerts = append(h.alerts, a)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// find returns the first alert named name notified with status.
func (h *webhook) find(name, status string) (notifiedAlert, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		if a.Labels["alertname"] == name && a.Status == status {
			return a, true
		}
	}
	return notifiedAlert{}, false
}

func (h *webhook) errors() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.bad, "; ")
}

// alertWatch follows the spike alert in Prometheus and at the webhook,
// and the recording rules it reads, every second.
type alertWatch struct {
	t       *testing.T
	prom    *prometheusAPI
	hook    *webhook
	signals []string
	// pendingAt and firingAt are when Prometheus first showed the alert
	// in each state.
	pendingAt, firingAt time.Time
	lastLog             time.Time
}

// state records and returns the alert's state in Prometheus ("" when
// inactive), logging the signals every 30 s.
func (w *alertWatch) state() string {
	w.t.Helper()
	if time.Since(w.lastLog) >= 30*time.Second {
		w.lastLog = time.Now()
		w.t.Logf("%s", w.prom.describe(w.signals))
	}
	state, err := w.prom.alertState(spikeAlert)
	if err != nil {
		w.t.Fatalf("Prometheus alerts: %v", err)
	}
	switch {
	case state == "pending" && w.pendingAt.IsZero():
		w.pendingAt = time.Now()
		w.t.Logf("%s pending; %s", spikeAlert, w.prom.describe(w.signals))
	case state == "firing" && w.firingAt.IsZero():
		w.firingAt = time.Now()
		if w.pendingAt.IsZero() {
			w.pendingAt = w.firingAt
		}
		w.t.Logf("%s firing; %s", spikeAlert, w.prom.describe(w.signals))
	}
	return state
}

// quietUntil fails the test if, before end, the alert is pending or
// firing in Prometheus or notified at all.
func (w *alertWatch) quietUntil(end time.Time) {
	w.t.Helper()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(end) {
		if state := w.state(); state != "" {
			w.t.Fatalf("%s is %s under normal traffic; %s", spikeAlert, state, w.prom.describe(w.signals))
		}
		for _, status := range []string{"firing", "resolved"} {
			if a, ok := w.hook.find(spikeAlert, status); ok {
				w.t.Fatalf("%s notified under normal traffic: %+v", spikeAlert, a)
			}
		}
		<-tick.C
	}
}

// until waits for the alert to be notified with status.
func (w *alertWatch) until(timeout time.Duration, status string) notifiedAlert {
	w.t.Helper()
	var got notifiedAlert
	poll(w.t, timeout, func() (string, bool) {
		state := w.state()
		var ok bool
		got, ok = w.hook.find(spikeAlert, status)
		return fmt.Sprintf("no %s notification of %s (in Prometheus: %q); %s",
			status, spikeAlert, state, w.prom.describe(w.signals)), ok
	})
	return got
}

// grafanaVariables puts, in place of the variables Grafana would
// substitute, values that select everything this test's Prometheus holds.
func grafanaVariables(expr string) string {
	values := map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__interval_ms":   "15000",
		"__range":         "5m",
		"__range_s":       "300",
		"__range_ms":      "300000",
		"registry":        ".*",
		"job":             ".*",
		"instance":        ".*",
	}
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVariable.FindStringSubmatch(v)
		name := m[1] + m[2]
		if value, ok := values[name]; ok {
			return value
		}
		return v
	})
}

// grafanaVariable matches $name, ${name} and ${name:format}.
var grafanaVariable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// prometheusAPI is the HTTP API of the Prometheus under test.
type prometheusAPI struct{ base string }

// get calls an API path and decodes its data into data; an error answer
// comes back as an error carrying Prometheus' message.
func (p *prometheusAPI) get(path string, params url.Values, data any) error {
	u := p.base + path
	if params != nil {
		u += "?" + params.Encode()
	}
	code, body, err := get(u)
	if err != nil {
		return err
	}
	var resp struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return fmt.Errorf("%s: HTTP %d, %v: %.300s", path, code, err, body)
	}
	if resp.Status != "success" {
		return fmt.Errorf("%s: HTTP %d, %s: %s", path, code, resp.ErrorType, resp.Error)
	}
	if err := json.Unmarshal(resp.Data, data); err != nil {
		return fmt.Errorf("%s: data: %v", path, err)
	}
	return nil
}

type queryResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
	series     []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	}
}

func (r *queryResult) empty() bool {
	return (r.ResultType == "vector" || r.ResultType == "matrix") && len(r.series) == 0
}

func (p *prometheusAPI) query(expr string) (*queryResult, error) {
	var r queryResult
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil {
		return nil, err
	}
	if r.ResultType == "vector" || r.ResultType == "matrix" {
		if err := json.Unmarshal(r.Result, &r.series); err != nil {
			return nil, fmt.Errorf("%s result: %v", r.ResultType, err)
		}
	}
	return &r, nil
}

// value is the demo registry's current value of expr; it fails the test
// if there is none.
func (p *prometheusAPI) value(t *testing.T, expr string) float64 {
	t.Helper()
	v, err := p.demoValue(expr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// demoValue is the demo registry's current value of expr.
func (p *prometheusAPI) demoValue(expr string) (float64, error) {
	r, err := p.query(expr)
	if err != nil {
		return 0, err
	}
	for _, s := range r.series {
		if s.Metric["registry"] != "demo" || len(s.Value) != 2 {
			continue
		}
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: value %v: %v", expr, s.Value[1], err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("%s has no value for registry demo: %s", expr, r.Result)
}

// describe shows the current values of exprs, for the log.
func (p *prometheusAPI) describe(exprs []string) string {
	var parts []string
	for _, e := range exprs {
		r, err := p.query(e)
		switch {
		case err != nil:
			parts = append(parts, fmt.Sprintf("%s: %v", e, err))
		case r.empty():
			parts = append(parts, e+" = (no series)")
		default:
			for _, s := range r.series {
				v := "?"
				if len(s.Value) == 2 {
					v = fmt.Sprint(s.Value[1])
				}
				parts = append(parts, fmt.Sprintf("%s{registry=%q} = %s", e, s.Metric["registry"], v))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// logHistory shows each signal over the run, every 15 s, to explain a
// failure in terms of the rules' own values.
func (p *prometheusAPI) logHistory(t *testing.T, exprs []string, since time.Time) {
	t.Helper()
	for _, e := range exprs {
		var r struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		}
		err := p.get("/api/v1/query_range", url.Values{
			"query": {e}, "step": {"15"},
			"start": {strconv.FormatInt(since.Unix(), 10)}, "end": {strconv.FormatInt(time.Now().Unix(), 10)},
		}, &r)
		if err != nil {
			t.Logf("history of %s: %v", e, err)
			continue
		}
		for _, s := range r.Result {
			var b bytes.Buffer
			for _, v := range s.Values {
				ts, _ := v[0].(float64)
				fmt.Fprintf(&b, " +%ds=%v", int64(ts)-since.Unix(), v[1])
			}
			t.Logf("history of %s{registry=%q}:%s", e, s.Metric["registry"], b.String())
		}
	}
}

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

func (p *prometheusAPI) rules() ([]rule, error) {
	var data struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// spikeSignals are the recording rules the spike alert reads; it fails the
// test if the shipped rules have no such alert or if it does not read
// spikeSignal.
func (p *prometheusAPI) spikeSignals(t *testing.T) []string {
	t.Helper()
	var rules []rule
	poll(t, startDeadline, func() (string, bool) {
		var err error
		rules, err = p.rules()
		if err != nil {
			return err.Error(), false
		}
		return "Prometheus loaded no rule from " + shippedRules, len(rules) > 0
	})
	i := slices.IndexFunc(rules, func(r rule) bool { return r.Type == "alerting" && r.Name == spikeAlert })
	if i < 0 {
		t.Fatalf("%s has no alert %s", shippedRules, spikeAlert)
	}
	alert := rules[i]
	var signals []string
	for _, r := range rules {
		if r.Type == "recording" && strings.Contains(alert.Query, r.Name) && !slices.Contains(signals, r.Name) {
			signals = append(signals, r.Name)
		}
	}
	if !slices.Contains(signals, spikeSignal) {
		t.Fatalf("%s does not read %s, whose fall the test expects to resolve it: %s", spikeAlert, spikeSignal, alert.Query)
	}
	// The backfilled day is made of these.
	for _, s := range []string{spikeBaseline, spikeCount} {
		if !slices.Contains(signals, s) {
			t.Fatalf("%s does not read %s, which the test backfills a day of: %s", spikeAlert, s, alert.Query)
		}
	}
	return signals
}

// waitReady waits for the exporter's target to be up and every signal to
// have a value.
func (p *prometheusAPI) waitReady(t *testing.T, signals []string) {
	t.Helper()
	poll(t, startDeadline, func() (string, bool) {
		r, err := p.query(`up{job="covoiturage"} == 1`)
		if err != nil {
			return err.Error(), false
		}
		if r.empty() {
			return "the covoiturage target is not up", false
		}
		for _, s := range signals {
			r, err := p.query(s)
			if err != nil {
				return err.Error(), false
			}
			if r.empty() {
				return s + " has no value yet", false
			}
		}
		return "", true
	})
}

// checkRulesHealthy fails the test for each shipped rule that Prometheus
// could not evaluate.
func (p *prometheusAPI) checkRulesHealthy(t *testing.T) {
	t.Helper()
	rules, err := p.rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Health == "err" {
			t.Errorf("rule %s does not evaluate: %s", r.Name, r.LastError)
		}
	}
}

// alertState is the state of the alert named name: pending, firing, or ""
// when Prometheus has no active alert of that name.
func (p *prometheusAPI) alertState(name string) (string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", nil, &data); err != nil {
		return "", err
	}
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state, nil
}
