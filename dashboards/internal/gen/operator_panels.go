package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// operatorPanels are the operator's: what the registry decided about its
// journeys, why, and what is still pending.
func operatorPanels() []item {
	return []item{
		row(1, "Overview"),
		statItem(spec{
			id: 2, title: "Tracked journeys",
			desc: "Journeys the exporter follows, whatever their status, per registry. If it drops to 0 or stops growing while the operator keeps submitting, registrations are not reaching the exporter: check its configuration (journeys.ids, journeys.files) and the push, discovery or proxy sources on the exporter dashboard.",
			unit: "short", w: 4, h: 4,
			colorless: true,
			links:     []link{{"The tracked journeys (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}"}},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys_tracked{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 3, title: "Accepted share of decided journeys",
			desc: "Share of tracked journeys with a decided status (anything but pending, unchecked or not_found) that the registry accepted as ok. A fall means more journeys are rejected: see which status and which labels below.",
			unit: "percentunit", w: 4, h: 4,
			max:   1,
			base:  "red",
			steps: []step{{0.75, "orange"}, {0.9, "green"}},
			links: []link{{"The accepted journeys (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=ok"}},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status="ok"}) / clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}), 1)`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 4, title: "Rejected share of decided journeys",
			desc: "Share of tracked journeys with a decided status that the registry rejected (every *_error status, and v2's expired). The thresholds (10 % orange, 25 % red) are examples: set them to what is normal for the operator. When it rises, the fraud, anomaly and terms panels say why.",
			unit: "percentunit", w: 4, h: 4,
			max:   1,
			steps: []step{{0.1, "orange"}, {0.25, "red"}},
			links: []link{{"The rejected journeys (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=fraud_error,anomaly_error,terms_violation_error,acquisition_error,validation_error,normalization_error,fraudcheck_error,expired"}},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status=~".+_error|expired"}) / clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}), 1)`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 5, title: "Pending journeys",
			desc: "Tracked journeys the registry still reports as pending. Most journeys stay pending until the registry's fraud and anomaly batches, 48 to 54 h after they started; what matters is the next panel, those still pending after that window.",
			unit: "short", w: 4, h: 4,
			colorless: true,
			links:     []link{{"The pending journeys (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=pending"}},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status="pending"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 6, title: "Pending past the batch window",
			desc: "Tracked journeys still pending at a check made after their batch window (batch_window_end + batch_check_delay from their start): the registry's batches should have decided them. Above 0 for long, the registry's batches are late or stuck: compare with the registry's status page and tell its team; the journeys' incentives wait on it.",
			unit: "short", w: 4, h: 4,
			steps: []step{{1, "orange"}},
			links: []link{{"The pending journeys (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=pending"}},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys_pending_overdue{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 7, title: "Median time to a settled status",
			desc: "Median time from registration with the exporter to the first status other than pending, for journeys that settled over the last rate interval (empty when none did). Expect about 2 to 3 days for journeys decided by the batches, less for early rejections. Much longer means the batches are late; much shorter with many rejections, terms violations at submission.",
			unit: "s", w: 4, h: 4,
			colorless: true,
			targets: []target{
				{`histogram_quantile(0.5, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 27, title: "New journeys by source",
			desc: `Journeys newly registered with the exporter per minute, by source: config (journeys.ids and journeys.files of the configuration), demo (the --demo operator), push (posted by the operator's back end to /api/v1/journeys), discovery (listed from the registry's recent submissions) and proxy (submissions relayed through the exporter). A journey registered by two sources counts for the first. It should follow the operator's traffic; a source falling to 0 during the day is that path broken: see "Sources and durable state" on the exporter dashboard.`,
			unit: "cpm", w: 24, h: 8,
			links: []link{{"The journeys of this source registered in the time range (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?source=${__field.labels.source}&registered_from=${__from:date:seconds}&registered_to=${__to:date:seconds}"}},
			targets: []target{
				{`sum by (registry, source) (rate(covoiturage_journeys_registered_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{source}}"},
			},
		}),
		row(8, "Verdicts"),
		timeseriesItem(spec{
			id: 9, title: "Journeys by status",
			desc: "Tracked journeys by last known status, stacked. unchecked: registered, not checked yet; not_found: unknown to the registry (404); other: a status this exporter does not know, worth a look at the registry's changelog. A growing unchecked band means the scheduler cannot keep up (exporter dashboard: backlog, sampling).",
			unit: "short", w: 12, h: 9,
			stacked: true,
			links:   []link{{"The journeys in this status (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=${__field.labels.status}"}},
			targets: []target{
				{`sum by (registry, status) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{status}}"},
			},
		}),
		timeseriesItem(spec{
			id: 10, title: "Rejection rate",
			desc: "Share of journeys rejected (*_error, v2's expired): among the journeys that got a decided status over each rate interval (newly decided), and among all tracked decided journeys. A step in the first line is a change at the registry or in the operator's traffic: find the status and labels that moved in the panels below.",
			unit: "percentunit", w: 12, h: 9,
			max: 1,
			targets: []target{
				{`sum by (registry) (increase(covoiturage_journeys_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry", status=~".+_error|expired"}[$__rate_interval])) / clamp_min(sum by (registry) (increase(covoiturage_journeys_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}[$__rate_interval])), 1)`, "{{registry}} newly decided"},
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status=~".+_error|expired"}) / clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}), 1)`, "{{registry}} all tracked"},
			},
		}),
		timeseriesItem(spec{
			id: 11, title: "New verdicts by status",
			desc: "Journeys seen for the first time in each decided status, per minute. A status that suddenly appears or jumps (fraud_error, acquisition_error...) is the first thing to explain to the operator's team.",
			unit: "cpm", w: 12, h: 8,
			links: []link{{"The journeys that took this status in the time range (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=${__field.labels.status}&changed_from=${__from:date:seconds}&changed_to=${__to:date:seconds}"}},
			targets: []target{
				{`sum by (registry, status) (rate(covoiturage_journeys_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}[$__rate_interval])) * 60`, "{{registry}} {{status}}"},
			},
		}),
		bargaugeItem(spec{
			id: 12, title: "Rejected journeys by status",
			desc: "Tracked journeys in each rejected status. fraud_error and anomaly_error come from the registry's batches; terms_violation_error from the submission checks (see the terms reasons); acquisition_error and normalization_error from the registry's processing of the submitted data.",
			unit: "short", w: 12, h: 8,
			base:  "orange",
			links: []link{{"The journeys in this status (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?status=${__field.labels.status}"}},
			targets: []target{
				{`sum by (registry, status) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status=~".+_error|expired"})`, "{{registry}} {{status}}"},
			},
		}),
		row(13, "Why journeys are rejected"),
		piechartItem(spec{
			id: 14, title: "Fraud labels of tracked journeys",
			desc: "How the tracked journeys carrying a fraud label divide between them (a journey can carry several). Fraud labels come from the registry's inter-operator batches: the same people declared by several operators (interoperator_overlap), too many trips a day or trips too close together. A label that grows is worth raising with the operator's fraud team. other: a value this exporter does not know.",
			unit: "short", w: 8, h: 8,
			targets: []target{
				{`sum by (label) (covoiturage_journeys_fraud_labels{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{label}}"},
			},
		}),
		piechartItem(spec{
			id: 15, title: "Anomaly labels of tracked journeys",
			desc: "How the tracked journeys carrying a anomaly label divide between them (a journey can carry several). Anomaly labels come from the registry's batches: overlapping trips of the same person (temporal_overlap_anomaly) or a distance inconsistent with the duration (distance_duration_anomaly), often a data problem in the operator's application. other: a value this exporter does not know.",
			unit: "short", w: 8, h: 8,
			targets: []target{
				{`sum by (label) (covoiturage_journeys_anomaly_labels{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{label}}"},
			},
		}),
		piechartItem(spec{
			id: 16, title: "Terms-violation reasons of tracked journeys",
			desc: "How the tracked journeys carrying a terms reason divide between them (a journey can carry several). Terms-violation reasons are given at submission: expired (submitted more than 24 h after the start: the submission pipeline is late), distance_too_short, too_many_trips_by_day, too_close_trips. other: a value this exporter does not know.",
			unit: "short", w: 8, h: 8,
			targets: []target{
				{`sum by (reason) (covoiturage_journeys_terms_violations{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{reason}}"},
			},
		}),
		timeseriesItem(spec{
			id: 17, title: "Share of decided journeys with each fraud label",
			desc: "Tracked journeys carrying each fraud label, as a share of the tracked decided journeys (a journey can carry several labels, so the lines do not add up). A rising line is more of the operator's trips flagged by the registry's inter-operator checks: raise it with the fraud team before the incentives are lost.",
			unit: "percentunit", w: 8, h: 8,
			links: []link{{"The journeys with this fraud label (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?fraud_label=${__field.labels.label}"}},
			targets: []target{
				{`sum by (registry, label) (covoiturage_journeys_fraud_labels{job=~"$job", instance=~"$instance", registry=~"$registry"}) / on (registry) group_left clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}), 1)`, "{{registry}} {{label}}"},
			},
		}),
		timeseriesItem(spec{
			id: 18, title: "Share of decided journeys with each anomaly label",
			desc: "Tracked journeys carrying each anomaly label, as a share of the tracked decided journeys. A jump after a release of the operator's application usually means broken timestamps or distances in what it submits.",
			unit: "percentunit", w: 8, h: 8,
			links: []link{{"The journeys with this anomaly label (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?anomaly_label=${__field.labels.label}"}},
			targets: []target{
				{`sum by (registry, label) (covoiturage_journeys_anomaly_labels{job=~"$job", instance=~"$instance", registry=~"$registry"}) / on (registry) group_left clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status!~"pending|unchecked|not_found"}), 1)`, "{{registry}} {{label}}"},
			},
		}),
		timeseriesItem(spec{
			id: 19, title: "Terms violations among new registrations",
			desc: "Journeys seen for the first time with each terms-violation reason, as a share of the journeys registered over the same interval. A rising expired line means the submission pipeline is falling behind (journeys sent more than 24 h after they started): check the operator's submission queue.",
			unit: "percentunit", w: 8, h: 8,
			links: []link{{"The journeys with this reason that changed in the time range (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?reason=${__field.labels.reason}&changed_from=${__from:date:seconds}&changed_to=${__to:date:seconds}"}},
			targets: []target{
				{`sum by (registry, reason) (increase(covoiturage_journeys_terms_violations_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) / on (registry) group_left clamp_min(sum by (registry) (increase(covoiturage_journeys_registered_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])), 1)`, "{{registry}} {{reason}}"},
			},
		}),
		timeseriesItem(spec{
			id: 35, title: "Journeys newly flagged with each fraud label",
			desc: `Journeys per minute seen for the first time with each fraud label: the registry's fraud batches flag them, usually in bursts after a batch. A burst far above the usual ones is a batch that flagged many of the operator's trips at once: open the list from the series and raise it with the fraud team.`,
			unit: "cpm", w: 12, h: 8,
			links: []link{{"The journeys with this fraud label (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?fraud_label=${__field.labels.label}"}},
			targets: []target{
				{`sum by (registry, label) (rate(covoiturage_journeys_fraud_labels_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{label}}"},
			},
		}),
		timeseriesItem(spec{
			id: 36, title: "Journeys newly flagged with each anomaly label",
			desc: `Journeys per minute seen for the first time with each anomaly label. Anomaly labels follow what the operator submitted (times, distances, places): a new label that starts right after a release of the operator's application points at that release; open the list from the series for examples.`,
			unit: "cpm", w: 12, h: 8,
			links: []link{{"The journeys with this anomaly label (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?anomaly_label=${__field.labels.label}"}},
			targets: []target{
				{`sum by (registry, label) (rate(covoiturage_journeys_anomaly_labels_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{label}}"},
			},
		}),
		row(20, "Pending: what and for how long"),
		tableItem(spec{
			id: 21, title: "Pending journeys by registry",
			desc: "Per registry: journeys pending, not checked yet, and still pending after their batch window, with the share of pending journeys that are overdue and how long journeys took to settle recently (median and 90th percentile, empty when none settled over the last rate interval). A high overdue share means the registry's batches have not run; many unchecked journeys mean the exporter's budget cannot keep up.",
			unit: "short", w: 24, h: 5,
			overrides: []override{
				{regexp: false, match: "overdue share of pending", props: []dashboard.DynamicConfigValue{prop("unit", "percentunit")}},
				{regexp: false, match: "median time to settle", props: []dashboard.DynamicConfigValue{prop("unit", "s")}},
				{regexp: false, match: "90th percentile time to settle", props: []dashboard.DynamicConfigValue{prop("unit", "s")}},
			},
			hide: []string{"Time"},
			rename: map[string]string{
				"Value #A": "pending",
				"Value #B": "unchecked",
				"Value #C": "pending past the batch window",
				"Value #D": "overdue share of pending",
				"Value #E": "median time to settle",
				"Value #F": "90th percentile time to settle",
			},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status="pending"})`, ""},
				{`sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status="unchecked"})`, ""},
				{`sum by (registry) (covoiturage_journeys_pending_overdue{job=~"$job", instance=~"$instance", registry=~"$registry"})`, ""},
				{`sum by (registry) (covoiturage_journeys_pending_overdue{job=~"$job", instance=~"$instance", registry=~"$registry"}) / clamp_min(sum by (registry) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status="pending"}), 1)`, ""},
				{`histogram_quantile(0.5, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, ""},
				{`histogram_quantile(0.9, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, ""},
			},
		}),
		timeseriesItem(spec{
			id: 22, title: "Pending, unchecked and overdue journeys",
			desc: "Pending and not-yet-checked journeys, and those still pending after their batch window. Pending rises and falls with the daily traffic; the overdue line should stay near 0. When it climbs, the registry's fraud and anomaly batches are late: nothing to fix in the exporter, tell the registry's team.",
			unit: "short", w: 12, h: 8,
			targets: []target{
				{`sum by (registry, status) (covoiturage_journeys{job=~"$job", instance=~"$instance", registry=~"$registry", status=~"pending|unchecked"})`, "{{registry}} {{status}}"},
				{`sum by (registry) (covoiturage_journeys_pending_overdue{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} pending past the batch window"},
			},
		}),
		timeseriesItem(spec{
			id: 23, title: "Time to a settled status",
			desc: "Time from registration with the exporter to the first status other than pending (50th, 90th and 99th percentiles of the journeys that settled over each rate interval). The 90th percentile should stay near the end of the batch window (54 h + the exporter's batch_check_delay); well beyond, the batches are late or the exporter checks too rarely (see sampling on the exporter dashboard).",
			unit: "s", w: 12, h: 8,
			targets: []target{
				{`histogram_quantile(0.5, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} p50"},
				{`histogram_quantile(0.9, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} p90"},
				{`histogram_quantile(0.99, sum by (registry, le) (rate(covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} p99"},
			},
		}),
		bargaugeItem(spec{
			id: 24, title: "Journeys settled within each delay",
			desc: "Of every journey that settled since the exporter started, the share that settled within each delay after registration (in seconds: 3600 is an hour, 172800 two days). Most journeys should settle by the end of the batch window (194400: 54 h); a large share only in the last buckets means late batches.",
			unit: "percentunit", w: 24, h: 8,
			max:  1,
			base: "blue",
			targets: []target{
				{`sum by (le) (covoiturage_journey_settle_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}) / ignoring (le) group_left clamp_min(sum (covoiturage_journey_settle_duration_seconds_count{job=~"$job", instance=~"$instance", registry=~"$registry"}), 1)`, "within {{le}} s"},
			},
		}),
		row(25, "Registrations, polling and certificates"),
		timeseriesItem(spec{
			id: 26, title: "Tracked journeys by source",
			desc: "Tracked journeys by what registered them: config (journey ids in the configuration), demo, push, discovery (listed from the registry) or proxy (submissions relayed by the exporter). A source dropping to 0 is that path broken.",
			unit: "short", w: 12, h: 8,
			stacked: true,
			links:   []link{{"The journeys of this source (exporter's list)", "${exporter}/api/v1/journeys/${__field.labels.registry}?source=${__field.labels.source}"}},
			targets: []target{
				{`sum by (registry, source) (covoiturage_journeys_tracked{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{source}}"},
			},
		}),
		timeseriesItem(spec{
			id: 28, title: "Journeys still polled, not found and forgotten",
			desc: "Tracked journeys still checked (left axis, their status may still change), and per minute the checks answered 404 and the journeys forgotten at the end of their retention. A rising 404 rate means ids the registry does not know: a wrong id format, the wrong registry, or journeys never submitted.",
			unit: "short", w: 12, h: 8,
			overrides: []override{
				{regexp: true, match: ".* per minute", props: []dashboard.DynamicConfigValue{prop("unit", "cpm"), prop("custom.axisPlacement", "right")}},
			},
			targets: []target{
				{`sum by (registry) (covoiturage_journeys_polling{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} still polled"},
				{`sum by (registry) (rate(covoiturage_journeys_not_found_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} 404 per minute"},
				{`sum by (registry) (rate(covoiturage_journeys_forgotten_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} forgotten per minute"},
			},
		}),
		bargaugeItem(spec{
			id: 29, title: "Certificates by latest result",
			desc: "Configured certificates by the result of their latest check: ok, expired, not_found (the registry does not know the uuid), error (no answer) or other. Anything but ok needs the operator's attention: renew an expired attestation, check a not_found uuid.",
			unit: "short", w: 16, h: 6,
			base: "blue",
			targets: []target{
				{`sum by (registry, result) (covoiturage_certificates{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{result}}"},
			},
		}),
		statItem(spec{
			id: 30, title: "Certificates last checked",
			desc: "When the certificates were last checked. Older than the certificate interval (1 h by default) means the checks fail or the registry limits them: see the exporter dashboard.",
			unit: "dateTimeFromNow", w: 8, h: 6,
			colorless: true,
			targets: []target{
				{`max by (registry) (covoiturage_certificate_last_check_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"}) * 1000`, "{{registry}}"},
			},
		}),
		row(31, "Submission lag: expired coming"),
		timeseriesItem(spec{
			id: 32, title: "Submission lag percentiles",
			desc: "Time from a journey's start to its submission to the registry, as the exporter saw it (relayed by its proxy, pushed with its start, or made by the demo's operator): median, 90th and 99th percentiles. The registry refuses a journey submitted more than 24 h after its start as expired (red line); past 18 h (orange line) for the 90th percentile, CovoiturageSubmissionsFallingBehind warns. A line climbing toward 24 h is the operator's submission pipeline falling behind: the time left before journeys expire is 24 h minus the lag. Check the pipeline's queue and workers (runbook: CovoiturageSubmissionsFallingBehind).",
			unit: "s", w: 10, h: 8,
			steps:         []step{{64800, "orange"}, {86400, "red"}},
			thresholdLine: true,
			targets: []target{
				{`histogram_quantile(0.5, sum by (registry, le) (rate(covoiturage_submission_lag_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} median"},
				{`histogram_quantile(0.9, sum by (registry, le) (rate(covoiturage_submission_lag_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} 90th percentile"},
				{`histogram_quantile(0.99, sum by (registry, le) (rate(covoiturage_submission_lag_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} 99th percentile"},
			},
		}),
		timeseriesItem(spec{
			id: 33, title: "Late submissions against expired verdicts",
			desc: "Share of the submissions the exporter saw more than 24 h after their start (the operator's lateness, by the exporter's clock), beside the share of newly registered journeys the registry refused as expired (the registry's verdict, by its clock). Rising together: the pipeline is late and journeys are being lost. Expired well above late: the registry judges from another clock or another start than the one sent (a time-zone bug, a rule change). Late briefly above expired: a pushed journey's verdict comes with its first check, minutes later. The expired share also counts journeys from the configuration and discovery, whose lag is not known.",
			unit: "percentunit", w: 8, h: 8,
			targets: []target{
				{`(sum by (registry) (increase(covoiturage_submission_lag_seconds_count{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) - sum by (registry) (increase(covoiturage_submission_lag_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry", le=~"86400|86400\\.0"}[$__rate_interval]))) / clamp_min(sum by (registry) (increase(covoiturage_submission_lag_seconds_count{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])), 1)`, "{{registry}} submitted more than 24 h late (exporter)"},
				{`sum by (registry) (increase(covoiturage_journeys_terms_violations_seen_total{job=~"$job", instance=~"$instance", registry=~"$registry", reason="expired"}[$__rate_interval])) / clamp_min(sum by (registry) (increase(covoiturage_journeys_registered_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])), 1)`, "{{registry}} refused as expired (registry)"},
			},
		}),
		timeseriesItem(spec{
			id: 34, title: "Submissions whose lag is not known",
			desc: "Submissions per second whose lag could not be measured: without a start time (a push that gave none), or starting after their submission (the operator's clock ahead of the exporter's: check NTP on both). They are not in the percentiles; when they grow, the percentiles rest on fewer journeys.",
			unit: "reqps", w: 6, h: 8,
			targets: []target{
				{`sum by (registry, source) (rate(covoiturage_submission_lag_unknown_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{source}} no start"},
				{`sum by (registry, source) (rate(covoiturage_submission_lag_negative_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{source}} start after submission"},
			},
		}),
	}
}
