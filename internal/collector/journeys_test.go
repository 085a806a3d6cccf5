package collector

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the collector exports")

// journeyFamilies are the metric families of the journey collector, every
// one of them compared with the golden files.
var journeyFamilies = []string{
	"covoiturage_journeys",
	"covoiturage_journeys_fraud_labels",
	"covoiturage_journeys_anomaly_labels",
	"covoiturage_journeys_terms_violations",
	"covoiturage_journeys_seen_total",
	"covoiturage_journeys_fraud_labels_seen_total",
	"covoiturage_journeys_anomaly_labels_seen_total",
	"covoiturage_journeys_terms_violations_seen_total",
	"covoiturage_journey_settle_duration_seconds",
	"covoiturage_journeys_tracked",
	"covoiturage_journeys_registered_total",
	"covoiturage_journeys_polling",
	"covoiturage_journeys_pending_overdue",
	"covoiturage_journeys_not_found_total",
	"covoiturage_scheduler_list_verdicts_total",
	"covoiturage_journeys_forgotten_total",
	"covoiturage_submission_lag_seconds",
	"covoiturage_submission_lag_unknown_total",
	"covoiturage_submission_lag_negative_total",
	"covoiturage_certificates",
	"covoiturage_certificate_checks_total",
	"covoiturage_certificate_last_check_timestamp_seconds",
	"covoiturage_scheduler_due_checks",
	"covoiturage_scheduler_sampling_ratio",
	"covoiturage_scheduler_checks_total",
	"covoiturage_scheduler_state",
	"covoiturage_scheduler_last_success_timestamp_seconds",
}

// t0 is the fake time the journeys are registered at (schedule time).
var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// productionTracker holds a journey of every kind, registered at t0 and
// checked over the following days, with labels and reasons the registry
// invented (folded into other).
func productionTracker(t *testing.T) *tracker.Tracker {
	t.Helper()
	tr := tracker.New(tracker.DefaultPolicy)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	register := func(r tracker.Registration) {
		t.Helper()
		if !tr.Register(t0, r) {
			t.Fatalf("%s registered twice", r.ID)
		}
	}
	for _, id := range []string{"ok1", "fraud1", "anomaly1", "pending1", "invented1", "ghost1", "unchecked1", "refraud1"} {
		register(tracker.Registration{ID: id, Source: tracker.SourceConfig})
	}
	// Submitted through the demo operator, whose answer said it all.
	register(tracker.Registration{ID: "terms1", Source: tracker.SourceDemo, Status: "terms_violation_error",
		TermsReasons: []string{"expired", "too_close_trips", "a_reason_it_invented"}})
	register(tracker.Registration{ID: "demo1", Source: tracker.SourceDemo, Start: at(-2 * time.Hour)})
	// Relayed by the proxy 18 h 30 after its start, pushed without a
	// start, and pushed by an operator whose clock runs ahead.
	register(tracker.Registration{ID: "proxied1", Source: tracker.SourceProxy, Start: at(-18*time.Hour - 30*time.Minute)})
	register(tracker.Registration{ID: "pushed1", Source: tracker.SourcePush})
	register(tracker.Registration{ID: "skewed1", Source: tracker.SourcePush, Start: at(3 * time.Minute)})
	// Registering a tracked journey again changes nothing.
	if tr.Register(at(time.Minute), tracker.Registration{ID: "ok1", Source: tracker.SourceDemo}) {
		t.Fatal("ok1 registered again")
	}

	tr.Checked("ok1", at(time.Hour), tracker.Result{Status: "ok"})
	tr.Checked("fraud1", at(50*time.Hour), tracker.Result{Status: "fraud_error",
		FraudLabels: []string{"interoperator_overlap", "a_fraud_label_it_invented"}})
	tr.Checked("anomaly1", at(50*time.Hour), tracker.Result{Status: "anomaly_error",
		AnomalyLabels: []string{"temporal_overlap_anomaly", "an_anomaly_it_invented"}})
	tr.Checked("pending1", at(time.Hour), tracker.Result{Status: "pending"})
	tr.Checked("demo1", at(time.Hour), tracker.Result{Status: "pending"})
	tr.Checked("invented1", at(12*time.Hour), tracker.Result{Status: "a_status_it_invented"})
	tr.NotFound("ghost1", at(time.Hour))
	// Rejected, then accepted: the gauges forget the label, the seen
	// counters keep it.
	tr.Checked("refraud1", at(50*time.Hour), tracker.Result{Status: "fraud_error",
		FraudLabels: []string{"interoperator_too_close_trips"}})
	tr.Checked("refraud1", at(60*time.Hour), tracker.Result{Status: "ok"})
	return tr
}

func productionSnapshot(t *testing.T) Snapshot {
	sched := scheduler.Stats{
		State: "rate_limited", SamplingRatio: 0.25, Due: 12,
		LastSuccess: time.Date(2026, 11, 22, 9, 30, 0, 500e6, time.UTC),
	}
	sched.Outcomes[scheduler.OutcomeChecked] = 9
	sched.Outcomes[scheduler.OutcomeNotFound] = 1
	sched.Outcomes[scheduler.OutcomeSkipped] = 30
	sched.Outcomes[scheduler.OutcomeRateLimited] = 2
	sched.ListVerdicts[scheduler.ListVerdictOK] = 40
	sched.ListVerdicts[scheduler.ListVerdictUnchanged] = 17
	return Snapshot{
		Registry:  "production",
		Journeys:  productionTracker(t).Stats(),
		Scheduler: sched,
		Certificates: scheduler.CertificateStats{
			// Indexed like scheduler.CertificateResults: ok, expired,
			// other, not_found, error.
			ByResult:  []int64{2, 1, 0, 1, 0},
			Checks:    []uint64{10, 5, 1, 5, 3},
			LastCheck: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
		},
	}
}

// legacySnapshot is a v2 registry: the v2-only statuses, no labels, no
// certificates, and a scheduler that has not had an answer yet.
func legacySnapshot(t *testing.T) Snapshot {
	tr := tracker.New(tracker.DefaultPolicy)
	for _, id := range []string{"101", "102", "103"} {
		tr.Register(t0, tracker.Registration{ID: id, Source: tracker.SourceConfig})
	}
	tr.Checked("101", t0.Add(time.Hour), tracker.Result{Status: "expired"})
	tr.Checked("102", t0.Add(time.Hour), tracker.Result{Status: "fraudcheck_error"})
	sched := scheduler.Stats{State: "auth_failed", SamplingRatio: 1}
	sched.Outcomes[scheduler.OutcomeAuthFailed] = 4
	return Snapshot{
		Registry: "legacy-v2", Journeys: tr.Stats(), Scheduler: sched,
		Certificates: scheduler.CertificateStats{ByResult: make([]int64, 5), Checks: make([]uint64, 5)},
	}
}

// emptySnapshot: no journey, no check, no certificate yet.
func emptySnapshot() Snapshot {
	return Snapshot{
		Registry:     "empty",
		Journeys:     tracker.New(tracker.DefaultPolicy).Stats(),
		Scheduler:    scheduler.Stats{State: "polling", SamplingRatio: 1},
		Certificates: scheduler.CertificateStats{ByResult: make([]int64, 5), Checks: make([]uint64, 5)},
	}
}

// compareGolden gathers the journey collector over snaps and compares its
// families with testdata/golden, which -update rewrites.
func compareGolden(t *testing.T, golden string, snaps ...Snapshot) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewJourneys(func() []Snapshot { return snaps }))
	path := filepath.Join("testdata", golden)
	if *update {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range families {
			for _, name := range journeyFamilies {
				if f.GetName() == name {
					if err := enc.Encode(f); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./collector -run %s -update writes it)", err, t.Name())
	}
	if err := testutil.GatherAndCompare(reg, bytes.NewReader(want), journeyFamilies...); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	problems, err := testutil.GatherAndLint(reg, journeyFamilies...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	return reg
}

func TestJourneysGolden(t *testing.T) {
	t.Parallel()
	compareGolden(t, "journeys.prom", productionSnapshot(t))
}

func TestJourneysGoldenTwoRegistries(t *testing.T) {
	t.Parallel()
	compareGolden(t, "journeys_two_registries.prom", productionSnapshot(t), legacySnapshot(t))
}

// With no journey at all, every known label value is exported at 0, so no
// series appears later: rate() and absent() alerts work from the start.
func TestJourneysGoldenEmpty(t *testing.T) {
	t.Parallel()
	reg := compareGolden(t, "journeys_empty.prom", emptySnapshot())
	for name, n := range map[string]int{
		"covoiturage_journeys":                             tracker.Statuses.Len(),
		"covoiturage_journeys_seen_total":                  tracker.Statuses.Len(),
		"covoiturage_journeys_fraud_labels":                tracker.FraudLabels.Len(),
		"covoiturage_journeys_fraud_labels_seen_total":     tracker.FraudLabels.Len(),
		"covoiturage_journeys_anomaly_labels":              tracker.AnomalyLabels.Len(),
		"covoiturage_journeys_anomaly_labels_seen_total":   tracker.AnomalyLabels.Len(),
		"covoiturage_journeys_terms_violations":            tracker.TermsReasons.Len(),
		"covoiturage_journeys_terms_violations_seen_total": tracker.TermsReasons.Len(),
		"covoiturage_journeys_tracked":                     len(tracker.SourceNames),
		"covoiturage_certificates":                         len(scheduler.CertificateResults),
		"covoiturage_scheduler_checks_total":               len(scheduler.OutcomeNames),
		"covoiturage_scheduler_state":                      len(scheduler.StateNames),
		// Absent until there is something to tell.
		"covoiturage_certificate_last_check_timestamp_seconds": 0,
		"covoiturage_scheduler_last_success_timestamp_seconds": 0,
	} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != n {
			t.Errorf("%s: %d series (%v), want %d", name, got, err, n)
		}
	}
	// The vocabularies end with other, where invented values go.
	for _, v := range []*tracker.Vocabulary{tracker.Statuses, tracker.FraudLabels, tracker.AnomalyLabels, tracker.TermsReasons} {
		if names := v.Names(); names[len(names)-1] != tracker.Other {
			t.Errorf("vocabulary %v does not end with %q", names, tracker.Other)
		}
	}
}

// The golden files hold every family of the collector: one the collector
// gains must be added to journeyFamilies, and so to the golden files.
func TestJourneyFamiliesListed(t *testing.T) {
	t.Parallel()
	ch := make(chan *prometheus.Desc)
	go func() {
		NewJourneys(nil).Describe(ch)
		close(ch)
	}()
	n := 0
	for d := range ch {
		n++
		found := false
		for _, name := range journeyFamilies {
			if strings.Contains(d.String(), `fqName: "`+name+`"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not in journeyFamilies", d)
		}
	}
	if n != len(journeyFamilies) {
		t.Errorf("the collector describes %d families, journeyFamilies lists %d", n, len(journeyFamilies))
	}
}
