package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Snapshot is what one registry's tracker, scheduler and certificate
// checks hold at the moment of a scrape.
type Snapshot struct {
	Registry string
	Journeys tracker.Stats
	// Latest are the journeys that last increased the seen counters:
	// their exemplars.
	Latest       tracker.Latest
	Scheduler    scheduler.Stats
	Certificates scheduler.CertificateStats
}

// Journeys is the collector of what the registry decided, read from the
// exporter's cache: a scrape copies fixed-size aggregates and never calls
// the registry, so it costs the same with ten or a million journeys.
type Journeys struct {
	snapshots func() []Snapshot

	status, fraud, anomaly, terms                 *prometheus.Desc
	seenStatus, seenFraud, seenAnomaly, seenTerms *prometheus.Desc
	settle, tracked, registered, polling, overdue *prometheus.Desc
	notFound, forgotten                           *prometheus.Desc
	lag, lagUnknown, lagNegative                  *prometheus.Desc
	certs, certChecks, certLast                   *prometheus.Desc
	due, ratio, checks, state, lastSuccess        *prometheus.Desc
	listVerdicts                                  *prometheus.Desc

	exemplars exemplarTimes
}

// cached is appended to every HELP text: these values are the background
// poller's, not fetched by the scrape.
const cached = " Cached: refreshed in the background, a scrape never calls the registry."

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help+cached, append([]string{"registry"}, labels...), nil)
}

// NewJourneys returns the collector; snapshots is called once per scrape.
func NewJourneys(snapshots func() []Snapshot) *Journeys {
	return &Journeys{
		snapshots: snapshots,
		status:    desc("journeys", "Tracked journeys by last known status (unchecked: not checked yet; not_found: the registry answered 404; other: a status this exporter does not know).", "status"),
		fraud:     desc("journeys_fraud_labels", "Tracked journeys carrying each fraud label (other: a label this exporter does not know).", "label"),
		anomaly:   desc("journeys_anomaly_labels", "Tracked journeys carrying each anomaly label (other: a label this exporter does not know).", "label"),
		terms:     desc("journeys_terms_violations", "Tracked journeys carrying each terms-violation reason (other: a reason this exporter does not know).", "reason"),

		seenStatus:  desc("journeys_seen_total", "Journeys seen for the first time in each status.", "status"),
		seenFraud:   desc("journeys_fraud_labels_seen_total", "Journeys seen for the first time with each fraud label.", "label"),
		seenAnomaly: desc("journeys_anomaly_labels_seen_total", "Journeys seen for the first time with each anomaly label.", "label"),
		seenTerms:   desc("journeys_terms_violations_seen_total", "Journeys seen for the first time with each terms-violation reason.", "reason"),

		settle:     desc("journey_settle_duration_seconds", "Time from a journey's registration with the exporter to the first status the registry will not change in the ordinary course (anything but pending), in schedule time."),
		tracked:    desc("journeys_tracked", "Journeys tracked, by the source that registered them.", "source"),
		registered: desc("journeys_registered_total", "Journeys registered, by source; registering a tracked journey again does not count.", "source"),
		overdue:    desc("journeys_pending_overdue", "Tracked journeys still pending at a check made after their batch window ended (batch_window_end + batch_check_delay from the start): the registry's fraud and anomaly batches should have decided them."),
		polling:    desc("journeys_polling", "Tracked journeys whose status may still change and that are still checked; the others stay in the gauges until their retention ends."),
		notFound:   desc("journeys_not_found_total", "Status checks the registry answered 404: journeys it does not know."),
		forgotten:  desc("journeys_forgotten_total", "Journeys no longer tracked because their retention ended."),

		lag:         desc("submission_lag_seconds", "Time from a journey's start to its submission to the registry, as the exporter saw it: relayed by the proxy, pushed (for a push that gives the start), or made by the demo's operator; once per newly registered journey, and only from its first submission: a 409 (the registry already had it) counts nowhere. The registry refuses a journey submitted more than 24 h (86400 s) after its start as expired.", "source"),
		lagUnknown:  desc("submission_lag_unknown_total", "Journeys newly registered from their submission (proxy, push, demo) without a start time: their lag is not known, and not in covoiturage_submission_lag_seconds.", "source"),
		lagNegative: desc("submission_lag_negative_total", "Journeys newly registered from their submission whose start is after the moment of their submission: a clock skew between the operator and the exporter, not in covoiturage_submission_lag_seconds.", "source"),

		certs:      desc("certificates", "Configured certificates by the result of their latest check (ok, expired, other: a type this exporter does not know, not_found, error: no answer).", "result"),
		certChecks: desc("certificate_checks_total", "Certificate checks, by result.", "result"),
		certLast:   desc("certificate_last_check_timestamp_seconds", "When the certificates were last checked, in Unix seconds."),

		due:          desc("scheduler_due_checks", "Status checks due and not yet made: the scheduler's backlog."),
		ratio:        desc("scheduler_sampling_ratio", "Share of journeys followed, chosen by id hash so a followed journey is followed all its life; below 1 when the budget cannot afford every check."),
		checks:       desc("scheduler_checks_total", "Due status checks by outcome (skipped: not followed under sampling).", "outcome"),
		state:        desc("scheduler_state", "What the scheduler is doing with the registry: 1 for the current state (auth_failed and unsupported_version stop polling until a periodic probe succeeds).", "state"),
		lastSuccess:  desc("scheduler_last_success_timestamp_seconds", "When a status check last got an answer from the registry, in Unix seconds; absent before the first."),
		listVerdicts: desc("scheduler_list_verdicts_total", "Looks at journeys that the verdict rounds' lists settled without a status check of their own, by what the lists said: in the ok, canceled or acquisition_error list, or unchanged (in none that would change its status: still pending, or its refusal stands). Each is a check the budget did not spend; the lists' own requests are covoiturage_registry_requests_total{endpoint=\"journey_list\"}.", "verdict"),
	}
}

// Describe sends every descriptor.
func (c *Journeys) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.status, c.fraud, c.anomaly, c.terms, c.seenStatus, c.seenFraud, c.seenAnomaly, c.seenTerms,
		c.settle, c.tracked, c.registered, c.polling, c.overdue, c.notFound, c.forgotten,
		c.lag, c.lagUnknown, c.lagNegative,
		c.certs, c.certChecks, c.certLast, c.due, c.ratio, c.checks, c.state, c.lastSuccess, c.listVerdicts,
	} {
		ch <- d
	}
}

// Collect sends the metrics of every registry; every known label value is
// sent, at 0 when empty, so series never appear and vanish.
func (c *Journeys) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.snapshots() {
		r := s.Registry
		j := s.Journeys
		gauges(ch, c.status, r, tracker.Statuses.Names(), j.ByStatus)
		gauges(ch, c.fraud, r, tracker.FraudLabels.Names(), j.ByFraud)
		gauges(ch, c.anomaly, r, tracker.AnomalyLabels.Names(), j.ByAnomaly)
		gauges(ch, c.terms, r, tracker.TermsReasons.Names(), j.ByTerms)
		c.seen(ch, c.seenStatus, r, tracker.Statuses.Names(), j.SeenStatus, s.Latest.Status)
		c.seen(ch, c.seenFraud, r, tracker.FraudLabels.Names(), j.SeenFraud, s.Latest.Fraud)
		c.seen(ch, c.seenAnomaly, r, tracker.AnomalyLabels.Names(), j.SeenAnomaly, s.Latest.Anomaly)
		c.seen(ch, c.seenTerms, r, tracker.TermsReasons.Names(), j.SeenTerms, s.Latest.Terms)
		ch <- prometheus.MustNewConstHistogram(c.settle, j.Settle.Count, j.Settle.Sum, j.Settle.Cumulative(), r)
		gauges(ch, c.tracked, r, tracker.SourceNames[:], j.BySource[:])
		counters(ch, c.registered, r, tracker.SourceNames[:], j.Registered[:])
		ch <- prometheus.MustNewConstMetric(c.polling, prometheus.GaugeValue, float64(j.Polling), r)
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(j.PendingOverdue), r)
		ch <- prometheus.MustNewConstMetric(c.notFound, prometheus.CounterValue, float64(j.NotFound), r)
		ch <- prometheus.MustNewConstMetric(c.forgotten, prometheus.CounterValue, float64(j.Forgotten), r)
		for _, src := range tracker.LagSources {
			h, name := j.Lag[src], src.String()
			ch <- prometheus.MustNewConstHistogram(c.lag, h.Count, h.Sum, h.CumulativeOver(tracker.LagBuckets), r, name)
			ch <- prometheus.MustNewConstMetric(c.lagUnknown, prometheus.CounterValue, float64(j.LagUnknown[src]), r, name)
			ch <- prometheus.MustNewConstMetric(c.lagNegative, prometheus.CounterValue, float64(j.LagNegative[src]), r, name)
		}

		gauges(ch, c.certs, r, scheduler.CertificateResults, s.Certificates.ByResult)
		counters(ch, c.certChecks, r, scheduler.CertificateResults, s.Certificates.Checks)
		if !s.Certificates.LastCheck.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.certLast, prometheus.GaugeValue, unixSeconds(s.Certificates.LastCheck), r)
		}

		sc := s.Scheduler
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(sc.Due), r)
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, sc.SamplingRatio, r)
		counters(ch, c.checks, r, scheduler.OutcomeNames[:], sc.Outcomes[:])
		counters(ch, c.listVerdicts, r, scheduler.ListVerdictNames[:], sc.ListVerdicts[:])
		for _, name := range scheduler.StateNames {
			v := 0.0
			if name == sc.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, r, name)
		}
		if !sc.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unixSeconds(sc.LastSuccess), r)
		}
	}
}

type number interface{ ~int64 | ~uint64 }

func gauges[T number](ch chan<- prometheus.Metric, d *prometheus.Desc, registry string, names []string, values []T) {
	series(ch, d, prometheus.GaugeValue, registry, names, values)
}

func counters[T number](ch chan<- prometheus.Metric, d *prometheus.Desc, registry string, names []string, values []T) {
	series(ch, d, prometheus.CounterValue, registry, names, values)
}

// series sends one sample per name; a value missing from a short or nil
// slice is a 0, never a failed scrape.
func series[T number](ch chan<- prometheus.Metric, d *prometheus.Desc, vt prometheus.ValueType, registry string, names []string, values []T) {
	for i, name := range names {
		v := 0.0
		if i < len(values) {
			v = float64(values[i])
		}
		ch <- prometheus.MustNewConstMetric(d, vt, v, registry, name)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// seen sends a first-seen counter per name, each with the latest journey
// that increased it as its exemplar (journey_id), so that a spike on a
// graph leads to an example journey. Exemplars only show in the
// OpenMetrics exposition.
func (c *Journeys) seen(ch chan<- prometheus.Metric, d *prometheus.Desc, registry string, names []string, values []uint64, latest []string) {
	for i, name := range names {
		v := 0.0
		if i < len(values) {
			v = float64(values[i])
		}
		m := prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, registry, name)
		if i < len(latest) && latest[i] != "" {
			e := prometheus.Exemplar{Value: 1, Labels: prometheus.Labels{"journey_id": latest[i]},
				Timestamp: c.exemplars.seenAt(d, registry, name, latest[i])}
			// An id too long for an exemplar's 128 characters goes without.
			if withExemplar, err := prometheus.NewMetricWithExemplars(m, e); err == nil {
				m = withExemplar
			}
		}
		ch <- m
	}
}

// exemplarTimes remembers when a scrape first saw each exemplar: its
// timestamp, the same from scrape to scrape, so Prometheus stores it once.
// Its keys are bounded: registries times label values.
type exemplarTimes struct {
	mu   sync.Mutex
	seen map[exemplarKey]exemplarSeen
}

type exemplarKey struct {
	desc            *prometheus.Desc
	registry, value string
}

type exemplarSeen struct {
	id string
	at time.Time
}

func (e *exemplarTimes) seenAt(d *prometheus.Desc, registry, value, id string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[exemplarKey]exemplarSeen{}
	}
	k := exemplarKey{d, registry, value}
	if s, ok := e.seen[k]; ok && s.id == id {
		return s.at
	}
	now := time.Now()
	e.seen[k] = exemplarSeen{id: id, at: now}
	return now
}
