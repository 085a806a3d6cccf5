package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// exporterPanels are the self-monitoring dashboard's: how the exporter
// spends the registry's budget, where its journeys come from, its own health.
func exporterPanels() []item {
	return []item{
		row(1, "Health"),
		statItem(spec{
			id: 2, title: "Scrape target up",
			desc: "Whether Prometheus reaches the exporter. down: the process is not running or not reachable; nothing else on this dashboard is current.",
			unit: "short", w: 4, h: 4,
			base:     "red",
			steps:    []step{{1, "green"}},
			mappings: []mapping{{"0", "down", "red"}, {"1", "up", "green"}},
			targets: []target{
				{`max by (instance) (up{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		statItem(spec{
			id: 3, title: "Registry up",
			desc: "Whether the registry's /health answered ok at the exporter's last probe. down: the registry is down, in maintenance or unreachable from the exporter (DNS, proxy, TLS): check the registry's status and the exporter's logs.",
			unit: "short", w: 4, h: 4,
			base:     "red",
			steps:    []step{{1, "green"}},
			mappings: []mapping{{"0", "down", "red"}, {"1", "up", "green"}},
			targets: []target{
				{`max by (registry) (covoiturage_registry_up{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 4, title: "Scheduler state",
			desc: "What each registry's scheduler is doing: polling is normal; rate_limited waits for the registry's Retry-After; auth_failed (revoked or wrong token or key: fix the credential file and reload) and unsupported_version (set api_version) stop polling; unavailable: the registry keeps failing.",
			unit: "short", w: 4, h: 4,
			colorless: true,
			nameOnly:  true,
			targets: []target{
				{`max by (registry, state) (covoiturage_scheduler_state{job=~"$job", instance=~"$instance", registry=~"$registry"}) == 1`, "{{registry}}: {{state}}"},
			},
		}),
		statItem(spec{
			id: 5, title: "Sampling ratio",
			desc: "Share of journeys the scheduler follows. Below 100 %, the budget cannot afford every due check and a stable subset of journeys is followed: raise budget.requests_per_second (within the registry's 2000 a minute per IP, shared with the operator's own calls) or follow fewer journeys.",
			unit: "percentunit", w: 4, h: 4,
			max:   1,
			base:  "red",
			steps: []step{{0.5, "orange"}, {1, "green"}},
			targets: []target{
				{`min by (registry) (covoiturage_scheduler_sampling_ratio{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 6, title: "Last answered status check",
			desc: "Time since a status check last got an answer from the registry. Growing while journeys are due means the exporter is not getting through: see the scheduler state and the errors below.",
			unit: "s", w: 4, h: 4,
			steps: []step{{900, "orange"}, {3600, "red"}},
			targets: []target{
				{`time() - max by (registry) (covoiturage_scheduler_last_success_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		statItem(spec{
			id: 7, title: "Configuration reload",
			desc: "Whether the exporter's last configuration (re)load succeeded. failed: the running configuration is the previous one; run covoiturage_exporter --config.check on the file to see the faulty field.",
			unit: "short", w: 4, h: 4,
			base:     "red",
			steps:    []step{{1, "green"}},
			mappings: []mapping{{"0", "failed", "red"}, {"1", "ok", "green"}},
			targets: []target{
				{`min by (instance) (covoiturage_exporter_config_last_reload_successful{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		row(8, "Requests to the registry"),
		timeseriesItem(spec{
			id: 9, title: "Requests by endpoint",
			desc: "HTTP requests the exporter sends to the registry, per second, by endpoint (every attempt, retries included). journey_status dominates; a spike of access_token means tokens are renewed too often.",
			unit: "reqps", w: 12, h: 8,
			targets: []target{
				{`sum by (registry, endpoint) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{endpoint}}"},
			},
		}),
		timeseriesItem(spec{
			id: 10, title: "Answers by HTTP code",
			desc: "The registry's answers per second by HTTP status code (0: no answer: timeout, DNS, connection refused). 404 on journey_status are journeys the registry does not know; 401/403 a refused credential; 429 the rate limit; 5xx the registry failing.",
			unit: "reqps", w: 12, h: 8,
			targets: []target{
				{`sum by (registry, code) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{code}}"},
			},
		}),
		timeseriesItem(spec{
			id: 11, title: "Error ratio",
			desc: "Share of requests that got no answer (code 0), a 5xx, or a 4xx other than the ordinary answers 404, 409 and 422. Above a few percent for long: look at the codes in the panel above and at the exporter's logs (auth failures, the registry failing).",
			unit: "percentunit", w: 12, h: 8,
			max: 1,
			targets: []target{
				{`(sum by (registry) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry", code=~"0|4..|5..", code!~"404|409|422"}[$__rate_interval])) or 0 * sum by (registry) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))) / clamp_min(sum by (registry) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])), 1e-9)`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 12, title: "Request duration",
			desc: "Duration of requests to the registry by endpoint: median and 99th percentile over each rate interval (empty for endpoints not called). Slow answers eat the scheduler's concurrency: beyond a few seconds, the backlog grows; see the registry's status.",
			unit: "s", w: 12, h: 8,
			targets: []target{
				{`histogram_quantile(0.5, sum by (registry, endpoint, le) (rate(covoiturage_registry_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} {{endpoint}} p50"},
				{`histogram_quantile(0.99, sum by (registry, endpoint, le) (rate(covoiturage_registry_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} {{endpoint}} p99"},
			},
		}),
		row(13, "Rate limiting and budget"),
		timeseriesItem(spec{
			id: 14, title: "Status requests against the registry's limit",
			desc: "Status and list requests per second (journey_status, journey_status_v2, journey_list), which share the registry's limit of 2000 a minute per IP (the red line, 33.3/s). The operator's own calls from the same IP count too, so the exporter's configured budget (budget.requests_per_second, not a metric) should stay well below the line.",
			unit: "reqps", w: 12, h: 8,
			steps:         []step{{33.333333333333336, "red"}},
			thresholdLine: true,
			targets: []target{
				{`sum by (registry) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry", endpoint=~"journey_status|journey_status_v2|journey_list"}[$__rate_interval]))`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 15, title: "Rate-limit remaining",
			desc: "X-RateLimit-Remaining of the registry's latest answer, by endpoint: requests left in the current window for the exporter's IP. Near 0 means the window is spent (by the exporter or the operator's other calls from the same IP): expect 429s; lower the budget or spread the operator's calls.",
			unit: "short", w: 12, h: 8,
			targets: []target{
				{`min by (registry, endpoint) (covoiturage_registry_rate_limit_remaining{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{endpoint}}"},
			},
		}),
		timeseriesItem(spec{
			id: 16, title: "Rate-limited answers (429)",
			desc: "429 Too Many Requests answers per second by endpoint. Any is a sign that the IP's window is spent: the scheduler pauses until Retry-After, so checks are late. Lower budget.requests_per_second or find the other caller sharing the IP.",
			unit: "reqps", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, endpoint) (rate(covoiturage_registry_rate_limited_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{endpoint}}"},
			},
		}),
		timeseriesItem(spec{
			id: 17, title: "Due checks by outcome",
			desc: "Due status checks per second by outcome: checked (answered), not_found (404), skipped (not followed under sampling), rate_limited, auth_failed, error. Skipped above 0 means the budget is short; auth_failed a credential to fix; error the registry failing.",
			unit: "ops", w: 8, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry, outcome) (rate(covoiturage_scheduler_checks_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} {{outcome}}"},
			},
		}),
		timeseriesItem(spec{
			id: 18, title: "Sampling ratio over time",
			desc: "Share of journeys followed over time (1: all). Dips when due checks pile up faster than the budget drains them, back to 1 when there is room. Constantly below 1: the budget is too small for the number of journeys.",
			unit: "percentunit", w: 8, h: 8,
			max: 1,
			targets: []target{
				{`min by (registry) (covoiturage_scheduler_sampling_ratio{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 45, title: "Checks the verdict lists saved",
			desc: `Journeys per minute whose status the verdict rounds' lists settled without a status check of their own, by what the lists said: ok, canceled, acquisition_error, or unchanged (still pending, or its refusal stands). Each is a status check the budget did not spend; the lists' own requests are the journey_list endpoint above. Near zero while many journeys are pending: the lists are not run, or the registry answers them with errors (see the requests by endpoint). docs/schedule.md.`,
			unit: "cpm", w: 12, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry, verdict) (rate(covoiturage_scheduler_list_verdicts_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{verdict}}"},
			},
		}),
		timeseriesItem(spec{
			id: 55, title: "Certificate checks by result",
			desc: `Certificate checks per minute, by result: ok, expired, not_found, error (no answer) or other. They spend the same registry budget as status checks, once per certificate interval (1 h by default). Errors here with the registry up point at the certificate endpoint or the credentials; the operator dashboard shows the certificates' latest results.`,
			unit: "cpm", w: 12, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry, result) (rate(covoiturage_certificate_checks_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{result}}"},
			},
		}),
		row(19, "Backlog and freshness"),
		timeseriesItem(spec{
			id: 20, title: "Backlog of due checks",
			desc: "Status checks due and not yet made. It rises with each batch window and should drain; if it keeps growing, the budget or the concurrency is too small, or the registry is slow or limiting the exporter (see the panels above).",
			unit: "short", w: 8, h: 8,
			targets: []target{
				{`sum by (registry) (covoiturage_scheduler_due_checks{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} due"},
				{`sum by (registry) (covoiturage_journeys_polling{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} still polled"},
			},
		}),
		timeseriesItem(spec{
			id: 21, title: "Age of the data",
			desc: "Time since the exporter's last answered status check, last health probe and last certificate check. They should stay under their intervals (status: the backlog's pace; health: health_interval, 30 s by default; certificates: their interval, 1 h). A growing line is a background job stuck or failing: see the logs.",
			unit: "s", w: 8, h: 8,
			targets: []target{
				{`time() - max by (registry) (covoiturage_scheduler_last_success_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} status check"},
				{`time() - max by (registry) (covoiturage_registry_health_probe_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} health probe"},
				{`time() - max by (registry) (covoiturage_certificate_last_check_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} certificate check"},
			},
		}),
		timeseriesItem(spec{
			id: 22, title: "Scheduler state over time",
			desc: "1 for each registry's scheduler state over time. Time spent outside polling is time the journeys were not checked: rate_limited (429), auth_failed (credential), unsupported_version (api_version), unavailable (the registry failing).",
			unit: "short", w: 8, h: 8,
			max:     1,
			stepped: true,
			targets: []target{
				{`max by (registry, state) (covoiturage_scheduler_state{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{state}}"},
			},
		}),
		row(29, "Sources and durable state"),
		timeseriesItem(spec{
			id: 30, title: "Registrations by source",
			desc: "New journeys registered with the exporter per minute, by the source that registered them: config, demo, push, discovery, proxy (docs/sources.md). A journey registered by two sources counts once, for the first. A source that falls to 0 while the operator keeps submitting is that path broken: push (see the push requests below), proxy (the operator's base URL no longer points at the exporter, or see the proxy panels), discovery (see its rounds).",
			unit: "cpm", w: 12, h: 8,
			targets: []target{
				{`sum by (registry, source) (rate(covoiturage_journeys_registered_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{source}}"},
			},
		}),
		timeseriesItem(spec{
			id: 31, title: "Tracked journeys by source",
			desc: "Tracked journeys by the source that registered them, stacked: the top is every journey followed. Each leaves after its retention (30 d by default), so a source whose registrations stopped drains slowly rather than dropping; a sudden drop of every source after a restart means the durable state was not restored (see the storage panels and the start-up logs).",
			unit: "short", w: 12, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry, source) (covoiturage_journeys_tracked{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}} {{source}}"},
			},
		}),
		timeseriesItem(spec{
			id: 32, title: "Push requests by code",
			desc: `Requests to the push endpoint (POST /api/v1/journeys/{registry}) per minute, by the code answered. 200 is normal, even with rejected items; 400 a body that is not JSON or NDJSON; 404 a registry name the configuration does not have (its registry label is empty); 413 a batch to split; 415 a missing Content-Type; 503 the journeys could not be written to disk: see the storage flushes. docs/sources.md, "Pushing journeys".`,
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, code) (rate(covoiturage_push_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{code}}"},
			},
		}),
		timeseriesItem(spec{
			id: 33, title: "Pushed journeys by result",
			desc: "Journeys in push requests answered 200, per minute: new (now followed), already_tracked (pushed before or registered by another source: harmless, e.g. a retried batch), rejected (an id the registry would refuse: the answer lists each with its reason). Rejections mean the operator's back end sends malformed ids: fix it there.",
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, result) (rate(covoiturage_push_journeys_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{result}}"},
			},
		}),
		timeseriesItem(spec{
			id: 34, title: "Proxy submissions by code",
			desc: `Submissions relayed by the proxy (POST /proxy/{registry}/v3.x/journeys) per minute, by the code the operator got. 201 accepted, 409 submitted before, 422 refused for the terms (expired: the submission pipeline is late); 401/403 the operator's own token; 429 the registry's limit on the exporter's IP; 502 the exporter cannot reach the registry (its network, DNS); 408/413 answered by the proxy itself. docs/sources.md, "The submission proxy".`,
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, code) (rate(covoiturage_proxy_submissions_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{code}}"},
			},
		}),
		timeseriesItem(spec{
			id: 35, title: "Proxy tracking failures by reason",
			desc: "Submissions relayed to the operator but not tracked, per minute: error (the registration failed, usually the disk: see the storage flushes) or timeout (it took longer than proxy.track_timeout, 2 s by default: see the flush duration). The operator still got the registry's answer; the journeys missed are found by discovery if enabled, or can be pushed. Should stay at 0.",
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, reason) (rate(covoiturage_proxy_tracking_failures_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{reason}}"},
			},
		}),
		timeseriesItem(spec{
			id: 36, title: "Proxy added latency",
			desc: "Time the proxy adds to a submission beyond the registry's own round trip, median and 99th percentile (empty while nothing is submitted through it). It includes the wait for the registration to be on disk: milliseconds on a local disk. Approaching proxy.track_timeout (2 s by default) means a slow disk, then tracking timeouts: see the flush duration.",
			unit: "s", w: 8, h: 8,
			targets: []target{
				{`histogram_quantile(0.5, sum by (registry, le) (rate(covoiturage_proxy_added_latency_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} p50"},
				{`histogram_quantile(0.99, sum by (registry, le) (rate(covoiturage_proxy_added_latency_seconds_bucket{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])))`, "{{registry}} p99"},
			},
		}),
		timeseriesItem(spec{
			id: 37, title: "Discovery rounds by result",
			desc: `Discovery rounds per minute (one every discovery.interval, 10 min by default), by result: ok (the whole lookback window listed), incomplete (out of pages: raise max_pages_per_round or page_size), error (the registry failed or refused: see the scheduler state and answers by HTTP code). No rounds at all with discovery enabled: see the exporter's logs. docs/sources.md, "Discovery".`,
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, result) (rate(covoiturage_discovery_rounds_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{result}}"},
			},
		}),
		timeseriesItem(spec{
			id: 46, title: "Proxied cancels and PATCHes",
			desc: `Cancels and PATCHes per minute that the registry accepted (200) through the proxy, by call, each applied to its journey at once: cancel marks it canceled, patch plans its checks again. Zero while the operator cancels or corrects journeys: its calls bypass the proxy, and the exporter learns of them only at the next status check. Failures to apply one count in the tracking failures. docs/sources.md, "The submission proxy".`,
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry, call) (rate(covoiturage_proxy_changes_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{call}}"},
			},
		}),
		timeseriesItem(spec{
			id: 47, title: "Journeys the proxy registered",
			desc: `Journeys per minute the proxy registered from the registry's 201, 409 or 422 answers: new, or already_tracked (submitted again, or found by another source first). Fewer than the 201, 409 and 422 submissions: some could not be registered; see the tracking failures.`,
			unit: "cpm", w: 8, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry, result) (rate(covoiturage_proxy_tracked_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} {{result}}"},
			},
		}),
		timeseriesItem(spec{
			id: 48, title: "Other calls forwarded by the proxy",
			desc: `Calls other than submissions that the proxy forwarded untouched, per minute (status, cancel, PATCH, token…): the operator's own use of the registry through the exporter's address, which spends the same per-IP limit of the registry as the exporter's checks. A surge here, with 429 answers, is the operator's traffic, not the exporter's.`,
			unit: "cpm", w: 8, h: 8,
			targets: []target{
				{`sum by (registry) (rate(covoiturage_proxy_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 38, title: "Discovery list requests against status checks",
			desc: "Discovery's list requests and the status checks per second, stacked: both are spent from the registry's budget (budget.requests_per_second), so the top is what the exporter spends and discovery's band is its share. Discovery comes in bursts, one per round (about 54 requests a round for an operator submitting 10,000 journeys a day). If its share pushes the sampling ratio below 100 %, raise discovery.interval (keeping it well under lookback - 24 h) or the budget.",
			unit: "reqps", w: 12, h: 8,
			stacked: true,
			targets: []target{
				{`sum by (registry) (rate(covoiturage_discovery_list_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval]))`, "{{registry}} discovery list"},
				{`sum by (registry) (rate(covoiturage_registry_requests_total{job=~"$job", instance=~"$instance", registry=~"$registry", endpoint=~"journey_status|journey_status_v2"}[$__rate_interval]))`, "{{registry}} status checks"},
			},
		}),
		timeseriesItem(spec{
			id: 39, title: "Age of the last successful discovery round",
			desc: "Time since a discovery round last listed its whole window (absent before the first). It should stay under discovery.interval plus a round's duration. Past lookback - 24 h (2 h with the defaults, the red line), journeys submitted late can leave the window before a round sees them: see the rounds by result and the exporter's logs.",
			unit: "s", w: 12, h: 8,
			steps:         []step{{7200, "red"}},
			thresholdLine: true,
			targets: []target{
				{`time() - max by (registry) (covoiturage_discovery_last_success_timestamp_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 49, title: "Journeys listed by discovery",
			desc: `Journey ids discovery listed per minute (each counted once per round), and those of them the exporter did not follow yet. Where the operator pushes or proxies its submissions, new journeys here are submissions that bypassed push and the proxy, found up to a day late: look for the other submission path. docs/sources.md, "Discovery".`,
			unit: "cpm", w: 12, h: 8,
			targets: []target{
				{`sum by (registry) (rate(covoiturage_discovery_journeys_found_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} listed"},
				{`sum by (registry) (rate(covoiturage_discovery_journeys_new_total{job=~"$job", instance=~"$instance", registry=~"$registry"}[$__rate_interval])) * 60`, "{{registry}} new"},
			},
		}),
		timeseriesItem(spec{
			id: 50, title: "Discovery round duration",
			desc: `How long the last discovery round took (absent before the first). Rounds run every discovery interval (10m by default), one list request at a time: a round nearly as long as the interval lists many pages, or the registry answers its lists slowly (see the request duration of the journey_list endpoint); rounds that end incomplete should have max_pages_per_round or page_size raised. docs/sources.md, "Discovery".`,
			unit: "s", w: 12, h: 8,
			targets: []target{
				{`max by (registry) (covoiturage_discovery_round_duration_seconds{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 40, title: "Storage flushes by result",
			desc: `Transactions writing the state to --storage.path per second, by result. At most one per --storage.flush-interval (1 s) when something changed, plus one per group of push or proxy registrations. error: the file cannot be written (disk full, read-only, permissions); changes stay in memory and are retried, push answers 503 and proxied submissions go untracked. Check the logs ("storage: writing the state failed") and the disk. docs/storage.md.`,
			unit: "ops", w: 8, h: 8,
			targets: []target{
				{`sum by (instance, result) (rate(covoiturage_storage_flushes_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`, "{{instance}} {{result}}"},
			},
		}),
		timeseriesItem(spec{
			id: 41, title: "Flush duration p99",
			desc: "99th percentile of a flush transaction's duration, fsync included. Milliseconds on a local disk; push answers and proxied submissions wait for a flush, so hundreds of milliseconds (a slow or network disk, a saturated host) show up as slow pushes and then as proxy tracking timeouts. Move --storage.path to a local disk.",
			unit: "s", w: 8, h: 8,
			targets: []target{
				{`histogram_quantile(0.99, sum by (instance, le) (rate(covoiturage_storage_flush_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))`, "{{instance}} p99"},
			},
		}),
		timeseriesItem(spec{
			id: 42, title: "Age of the last flush",
			desc: "Time since the state was last written (absent before the first write). A flush happens only when something changed, so it grows on an idle exporter. Growing while journeys are checked or registered, or while flushes fail, means the state is not reaching the disk: a crash would lose that much polling. See the flushes by result and the logs.",
			unit: "s", w: 8, h: 8,
			targets: []target{
				{`time() - max by (instance) (covoiturage_storage_last_flush_timestamp_seconds{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		timeseriesItem(spec{
			id: 43, title: "Store size",
			desc: "Size of the storage file (covoiturage.db under --storage.path), free pages included. It grows with the tracked journeys and does not shrink when they leave retention (their pages are reused). Keep the disk well above it: a full disk makes flushes fail and push answer 503.",
			unit: "bytes", w: 16, h: 6,
			targets: []target{
				{`max by (instance) (covoiturage_storage_size_bytes{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		statItem(spec{
			id: 44, title: "Corrupt records",
			desc: "Stored records that could not be read at start-up and were skipped (counted at start-up only). Above 0, the file was damaged (a disk fault, a copy taken while it was written): the start-up logs name the registry. Those journeys are no longer followed until a source registers them again (configured ids at start-up, discovery within its lookback, or a new push).",
			unit: "short", w: 8, h: 6,
			steps: []step{{1, "red"}},
			targets: []target{
				{`max by (instance) (covoiturage_storage_corrupt_records_total{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		row(51, "Web server and credentials"),
		statItem(spec{
			id: 52, title: "Exposed credential files",
			desc: `Credential files (token_file, secret_key_file) of each registry on which group or others have any permission (reading it, or writing another token into it), as found when the running configuration was loaded; the exporter's log names them. Should be 0: chmod 600 the files (owned by the exporter's user) and reload. docs/security.md, "Credentials".`,
			unit: "short", w: 6, h: 8,
			steps: []step{{1, "red"}},
			targets: []target{
				{`max by (registry) (covoiturage_exporter_secret_files_exposed{job=~"$job", instance=~"$instance", registry=~"$registry"})`, "{{registry}}"},
			},
		}),
		timeseriesItem(spec{
			id: 53, title: "Open connections",
			desc: `Open connections of each listener: web (metrics, pages, API, push) and proxy (with --proxy.listen-address), each of its addresses together. --web.max-connections bounds each address; at three quarters of it the listener sheds idle keep-alive connections (the next panel). Steadily near the bound: raise it, or find the client that holds connections open. docs/security.md, "Server limits".`,
			unit: "short", w: 9, h: 8,
			targets: []target{
				{`max by (instance, listener) (covoiturage_exporter_web_connections_open{job=~"$job", instance=~"$instance"})`, "{{instance}} {{listener}}"},
			},
		}),
		timeseriesItem(spec{
			id: 54, title: "Connection shedding",
			desc: `Times per minute a listener's open connections reached three quarters of --web.max-connections: its idle keep-alive connections were closed and keep-alive turned off until they were down to half. Occasional: a burst of clients. Sustained: the bound is too low for the clients (Prometheus, push, proxy), or a client opens connections without reusing them. docs/security.md, "Server limits".`,
			unit: "cpm", w: 9, h: 8,
			targets: []target{
				{`sum by (instance, listener) (rate(covoiturage_exporter_web_connection_shedding_total{job=~"$job", instance=~"$instance"}[$__rate_interval])) * 60`, "{{instance}} {{listener}}"},
			},
		}),
		row(23, "Exporter process"),
		timeseriesItem(spec{
			id: 24, title: "CPU",
			desc: "CPU used by the exporter, in cores (100 % is one core). A scrape reads cached aggregates, so it should stay low whatever the number of journeys; a steady climb calls for a profile.",
			unit: "percentunit", w: 6, h: 7,
			targets: []target{
				{`rate(process_cpu_seconds_total{job=~"$job", instance=~"$instance"}[$__rate_interval])`, "{{instance}}"},
			},
		}),
		timeseriesItem(spec{
			id: 25, title: "Memory",
			desc: "Resident memory and Go heap in use. It grows with the number of tracked journeys (their retention is 30 days by default) and should level off; growth without more journeys is a leak.",
			unit: "bytes", w: 6, h: 7,
			targets: []target{
				{`process_resident_memory_bytes{job=~"$job", instance=~"$instance"}`, "{{instance}} resident"},
				{`go_memstats_heap_inuse_bytes{job=~"$job", instance=~"$instance"}`, "{{instance}} heap in use"},
			},
		}),
		timeseriesItem(spec{
			id: 26, title: "Goroutines and file descriptors",
			desc: "Goroutines (left) and the share of the file descriptor limit in use (right). Goroutines grow with the configured registries and concurrency; climbing without bound, or descriptors near the limit, means connections or requests are leaking.",
			unit: "short", w: 6, h: 7,
			overrides: []override{
				{regexp: true, match: ".*file descriptors used", props: []dashboard.DynamicConfigValue{prop("unit", "percentunit"), prop("custom.axisPlacement", "right")}},
			},
			targets: []target{
				{`go_goroutines{job=~"$job", instance=~"$instance"}`, "{{instance}} goroutines"},
				{`process_open_fds{job=~"$job", instance=~"$instance"} / process_max_fds{job=~"$job", instance=~"$instance"}`, "{{instance}} file descriptors used"},
			},
		}),
		timeseriesItem(spec{
			id: 27, title: "Scrape duration",
			desc: "How long Prometheus takes to scrape the exporter. A scrape only reads cached aggregates: it stays in milliseconds with a million journeys. Long scrapes point at the network or an overloaded host.",
			unit: "s", w: 6, h: 7,
			targets: []target{
				{`max by (instance) (scrape_duration_seconds{job=~"$job", instance=~"$instance"})`, "{{instance}}"},
			},
		}),
		tableItem(spec{
			id: 28, title: "Build",
			desc: "The version of each exporter instance, from covoiturage_exporter_build_info. Instances on different versions after an upgrade are a sign a rollout did not finish.",
			unit: "short", w: 24, h: 4,
			hide: []string{"Time", "Value", "__name__"},
			targets: []target{
				{`covoiturage_exporter_build_info{job=~"$job", instance=~"$instance"}`, ""},
			},
		}),
	}
}
