package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
)

// The lag warning of the end-to-end alerting runs, and how the demo's
// operator falls behind for it.
const (
	lagAlert = "CovoiturageSubmissionsFallingBehind"
	// lagSignal is the percentile the warning reads, lagThreshold the lag
	// it warns past, from which its journeys_url lists journeys.
	lagSignal    = "registry:covoiturage_submission_lag_seconds:p90_rate30m"
	lagThreshold = 18 * time.Hour
	// The demo's pipeline starts 17 h behind: a clean journey is submitted
	// 12 minutes to 2 hours after its start on top of that, so more than
	// half of the new submissions land in the histogram's 18-19 h bucket
	// and the 90th percentile of the lag passes the warning's 18 h within
	// seconds of the change, once they outweigh the submissions of normal
	// traffic before (the history Prometheus scraped is that short). It
	// then falls 0.02 s further behind every simulated second: 72 s of lag
	// every wall second on the demo's clock (an hour a second), an hour
	// every 50 s. The first journey expires once the delay passes 22 h,
	// some 250 s later; the warning has that long to reach Alertmanager,
	// its for: of 2 minutes included.
	fallBehindFrom   = "17h"
	fallBehindGrowth = 0.02
	fallBehindLate   = 250 * time.Second
	// Once the warning is notified, the pipeline falls behind as fast as
	// it can, a second every second, an hour every wall second: the first
	// journey expires within seconds instead of the minute and more left
	// at the earlier pace, which the test logs.
	fallFasterGrowth = 1
	// lagDeadline bounds the wait for the warning's notification, and
	// then for the first expired refusal, from the moment the pipeline
	// starts falling behind: without the warning, the first journey
	// expires at fallBehindLate.
	lagDeadline = fallBehindLate + 2*time.Minute
	// lagWindowFloor is how many submissions the warning's 30-minute
	// window must hold before normal traffic is judged by it. The demo
	// submits about 3 % of its journeys a day late: over the few dozen
	// submissions of Prometheus' first seconds, a handful of late ones
	// lift the 90th percentile above 18 h now and then, and the warning
	// shows pending until more journeys dilute them (its for: 2m keeps
	// that from reaching anyone, as it would in production after a
	// Prometheus is first deployed). Over 200 it takes 21 late journeys
	// where 6 are expected. The demo makes about 10 a second.
	lagWindowFloor  = 200
	lagWindowExpr   = `sum by (registry) (max_over_time(covoiturage_submission_lag_seconds_count{registry="demo"}[30m]) - min_over_time(covoiturage_submission_lag_seconds_count{registry="demo"}[30m]))`
	lagWindowFilled = time.Minute
)

// The submission-lag warning, end to end, on the same stack as the
// expired-spike alert's run: normal traffic raises no lag warning; the
// operator's pipeline falling behind by degrees makes the warning reach
// Alertmanager, labelled and annotated with the lag left, before its
// first journey is refused as expired, the expired-spike alert silent
// meanwhile.
func TestSubmissionLagAlertEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real Prometheus and Alertmanager for about 3 minutes")
	}
	t.Parallel()
	s := startAlertingStack(t)
	poll(t, lagWindowFilled, func() (string, bool) {
		if state := s.watch.state(); state != "" {
			t.Fatalf("%s is %s under normal traffic; %s", spikeAlert, state, s.prom.describe(s.signals))
		}
		n, err := s.prom.demoValue(lagWindowExpr)
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprintf("the lag warning's window holds %.0f submissions, waiting for %d", n, lagWindowFloor), n >= lagWindowFloor
	})
	t.Logf("normal traffic: %s = %.0f s over %.0f submissions, %v after Prometheus started",
		lagSignal, s.prom.value(t, lagSignal), s.prom.value(t, lagWindowExpr), time.Since(s.started).Round(time.Second))
	fallBehind(t, s.sim, s.exp, s.prom, s.hook, s.signals)
	if bad := s.hook.errors(); bad != "" {
		t.Errorf("the webhook received bodies it could not decode: %s", bad)
	}
	s.exp.Stop(t)
}

// putTraffic changes the demo operator's traffic through the simulator's
// admin route.
func (d *demoRegistry) putTraffic(t *testing.T, settings string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, d.base+"/_simulator/traffic", strings.NewReader(settings))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT /_simulator/traffic %s: %d %s", settings, resp.StatusCode, answer)
	}
}

// rawTraffic returns the demo operator's traffic settings as the admin
// route shows them, which a PUT of the same body restores.
func (d *demoRegistry) rawTraffic(t *testing.T) string {
	t.Helper()
	code, body, err := get(d.base + "/_simulator/traffic")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /_simulator/traffic: %d %v %s", code, err, body)
	}
	return body
}

// delay is how far behind the demo operator's pipeline runs.
func (d *demoRegistry) delay(t *testing.T) time.Duration {
	t.Helper()
	var traffic struct {
		Delay string `json:"delay"`
	}
	body := d.rawTraffic(t)
	if err := json.Unmarshal([]byte(body), &traffic); err != nil {
		t.Fatalf("GET /_simulator/traffic: %v %s", err, body)
	}
	delay, err := time.ParseDuration(traffic.Delay)
	if err != nil {
		t.Fatalf("GET /_simulator/traffic: delay %q: %v", traffic.Delay, err)
	}
	return delay
}

// expiredSeen reads, from the exporter's own /metrics, how many of the
// demo's journeys the registry has refused as expired: the demo registers
// each submission with the registry's answer, so the count moves the
// moment a refusal is made.
func expiredSeen(t *testing.T, exp *process) float64 {
	t.Helper()
	code, body, err := get(exp.base + "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	const series = `covoiturage_journeys_terms_violations_seen_total{reason="expired",registry="demo"} `
	s := bufio.NewScanner(strings.NewReader(body))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s%s: %v", series, v, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the exporter's metrics", strings.TrimSpace(series))
	return 0
}

// lagRun is what the falling-behind phase saw.
type lagRun struct {
	began        time.Time
	pendingAt    time.Time // the warning first pending in Prometheus
	warned       notifiedAlert
	firstExpired time.Time // the first refusal as expired, at the exporter
}

// fallBehind makes the demo's operator fall behind by degrees and follows
// it until the first journey is refused as expired: the lag warning must
// reach Alertmanager first, while the expired-spike alert stays silent.
// The operator sends no journey late on purpose, nor the too-many-trips
// case, whose first trips started hours before the rest: every journey is
// then submitted the pipeline's delay plus at most 2 hours after its
// start, and the first expired refusal marks the delay reaching 22 h.
func fallBehind(t *testing.T, sim *demoRegistry, exp *process, prom *prometheusAPI, hook *webhook, signals []string) {
	t.Helper()
	// Normal traffic raised no lag warning.
	if state, err := prom.alertState(lagAlert); err != nil || state != "" {
		t.Fatalf("%s is %q (%v) under normal traffic; %s", lagAlert, state, err, prom.describe(append([]string{lagSignal}, signals...)))
	}
	if a, ok := hook.find(lagAlert, "firing"); ok {
		t.Fatalf("%s notified under normal traffic: %+v", lagAlert, a)
	}
	normal := sim.rawTraffic(t)
	sim.putTraffic(t, fmt.Sprintf(`{"late_ratio": 0, "too_many_ratio": 0, "delay": %q, "delay_growth": %v}`, fallBehindFrom, fallBehindGrowth))
	run := lagRun{began: time.Now()}
	// The late journeys generated before the change are registered within
	// milliseconds; after this, an expired refusal is the lag's doing.
	time.Sleep(time.Second)
	before := expiredSeen(t, exp)
	signals = append([]string{lagSignal}, signals...)
	lastLog := time.Time{}
	poll(t, lagDeadline, func() (string, bool) {
		if time.Since(lastLog) >= 30*time.Second {
			lastLog = time.Now()
			t.Logf("falling behind for %v: %s", time.Since(run.began).Round(time.Second), prom.describe(signals))
		}
		if state, err := prom.alertState(lagAlert); err != nil {
			t.Fatalf("Prometheus alerts: %v", err)
		} else if state != "" && run.pendingAt.IsZero() {
			run.pendingAt = time.Now()
			t.Logf("%s %s %v after the pipeline started falling behind; %s", lagAlert, state,
				run.pendingAt.Sub(run.began).Round(time.Second), prom.describe(signals))
		}
		if run.firstExpired.IsZero() && expiredSeen(t, exp) > before {
			run.firstExpired = time.Now()
			t.Logf("first journey refused as expired %v after the pipeline started falling behind",
				run.firstExpired.Sub(run.began).Round(time.Second))
		}
		if state, err := prom.alertState(spikeAlert); err != nil || state != "" {
			t.Fatalf("%s is %q (%v) before the lag reached 24 h; %s", spikeAlert, state, err, prom.describe(signals))
		}
		var ok bool
		if run.warned.received.IsZero() {
			if run.warned, ok = hook.find(lagAlert, "firing"); ok {
				delay := sim.delay(t)
				left := (22*time.Hour - delay).Seconds() / (fallBehindGrowth * demo.Speed)
				t.Logf("%s notified %v after the pipeline started falling behind, %s behind: at that pace its first journey would expire in about %.0f s, when 22 h behind; %s",
					lagAlert, run.warned.received.Sub(run.began).Round(time.Second), delay.Round(time.Minute), left, prom.describe(signals))
				sim.putTraffic(t, fmt.Sprintf(`{"delay_growth": %v}`, fallFasterGrowth))
			}
		}
		switch {
		case !run.firstExpired.IsZero() && (run.warned.received.IsZero() || run.firstExpired.Before(run.warned.received)):
			t.Fatalf("the first journey expired %v after the pipeline started falling behind, before %s reached Alertmanager (pending in Prometheus after %s)",
				run.firstExpired.Sub(run.began).Round(time.Second), lagAlert, after(run.began, run.pendingAt))
		case !run.firstExpired.IsZero():
			return "", true
		}
		return fmt.Sprintf("waiting for %s to be notified (pending since %s) and for the first expired journey; %s",
			lagAlert, after(run.began, run.pendingAt), prom.describe(signals)), false
	})
	w := run.warned
	if w.Labels["severity"] != "warning" || w.Labels["registry"] != "demo" {
		t.Errorf("%s labels %v, want severity warning and registry demo", lagAlert, w.Labels)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(w.Annotations[a]) == "" {
			t.Errorf("%s: annotation %s is empty; annotations %v", lagAlert, a, w.Annotations)
		}
	}
	if !strings.Contains(w.Annotations["description"], "of lag are left") {
		t.Errorf("%s notified without the lag left before 24 h: %q", lagAlert, w.Annotations["description"])
	}
	// From the warning to the late journeys behind it.
	checkLagJourneysURL(t, w, exp, prom, lagThreshold)
	t.Logf("%s reached Alertmanager %v before the first journey was refused as expired (%v after the pipeline started falling behind); description: %s",
		lagAlert, run.firstExpired.Sub(w.received).Round(time.Second), w.received.Sub(run.began).Round(time.Second), w.Annotations["description"])
	// The pipeline catches up: its traffic as it was, no delay.
	sim.putTraffic(t, normal)
}
