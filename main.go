// Command covoiturage_exporter exposes, as Prometheus metrics, what the
// French carpooling proof registry decided about an operator's journeys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	journeyweb "github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

const exporterName = "covoiturage_exporter"

// defaultListenAddress is the exporter's port, 9896, documented in the
// README.
const defaultListenAddress = ":9896"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type flags struct {
	configFile             string
	configCheck            bool
	demo                   bool
	telemetryPath          string
	maxRequests            int
	disableExporterMetrics bool
	storagePath            string
	storagePathSet         bool
	storageRecover         bool
	flushInterval          time.Duration
	maxConnections         int
	web                    *web.FlagConfig
	// externalURL is --web.external-url, checked, or once the web
	// listener is open, the URL derived from it.
	externalURL string
	// routePrefix is --web.route-prefix, checked: "" for the root, else
	// the path every route of the web listener starts with.
	routePrefix    string
	proxyListen    string
	proxyWebConfig string
	log            *promslog.Config
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	app := kingpin.New(exporterName, "Prometheus exporter for the French carpooling proof registry (Registre de preuve de covoiturage): follows the journeys an operator submitted, spends a limited request budget where a status can still change, and exposes what the registry decided.")
	app.ErrorWriter(stderr)
	app.UsageWriter(stderr)
	f := &flags{log: &promslog.Config{}}
	app.Flag("config.file", "Configuration file: the registries to watch, their credentials, budgets, journeys and schedule (see docs/configuration.md). Reloaded on SIGHUP and POST /-/reload.").
		Default("covoiturage.yml").StringVar(&f.configFile)
	app.Flag("config.check", "Check the configuration file, credentials and id files included, then exit: 0 if valid, 1 if not.").
		BoolVar(&f.configCheck)
	app.Flag("demo", "Ignore --config.file and watch an embedded simulated registry, with a built-in operator submitting journeys on a clock running an hour a second. Needs no token and no configuration.").
		BoolVar(&f.demo)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&f.telemetryPath)
	app.Flag("web.max-requests", "Maximum number of parallel scrapes. 0 disables the limit.").
		Default("40").IntVar(&f.maxRequests)
	app.Flag("web.disable-exporter-metrics", "Exclude the exporter's own Go and process metrics (go_*, process_*, promhttp_*).").
		BoolVar(&f.disableExporterMetrics)
	app.Flag("storage.path", "Directory of the durable state: tracked journeys, their schedule and the counters' totals, so that a restart forgets no journey and resets no counter. One exporter at a time per directory. With --demo, the state is kept only when this flag is given.").
		Default("data/").IsSetByUser(&f.storagePathSet).StringVar(&f.storagePath)
	app.Flag("storage.flush-interval", "How often changes are written to --storage.path. A journey registered through the push endpoint or the proxy is written before it is acknowledged, whatever this interval.").
		Default("1s").DurationVar(&f.flushInterval)
	app.Flag("storage.recover", "If the state file in --storage.path is damaged, move it aside (covoiturage.db.damaged-<time>) and start from what can still be read of it. Without it, a damaged file stops the exporter. See docs/storage.md.").
		BoolVar(&f.storageRecover)
	app.Flag("web.max-connections", "Maximum number of open connections on each listener; past three quarters of it, idle keep-alive connections are closed. See docs/security.md.").
		Default("2048").IntVar(&f.maxConnections)
	app.Flag("web.external-url", "The URL under which users reach the exporter, as Prometheus and Alertmanager name it: scheme, host, port, and path (behind a reverse proxy, the path it serves the exporter under). Exported as covoiturage_exporter_web_info{external_url}: the alerts' journey links and the status page's links are built on it. Unset: https:// when --web.config.file enables TLS, else http://, the first listen address (the machine's hostname when it listens on every interface, as Prometheus does), and --web.route-prefix. See docs/configuration.md.").
		Default("").StringVar(&f.externalURL)
	app.Flag("web.route-prefix", "Prefix of every route of the web listener (/metrics, /-/healthy, the status page, /api/v1/..., /proxy/...), as in Prometheus: GET / redirects to it, anything else outside it is 404. Defaults to the path of --web.external-url, for a reverse proxy that passes the path on; set it to / behind one that strips it. --proxy.listen-address keeps its routes at its root.").
		Default("").StringVar(&f.routePrefix)
	app.Flag("proxy.listen-address", "Address on which to serve the submission proxies (/proxy/<registry>/...) on a listener of their own, with its own --proxy.web.config.file, so that basic auth can protect the exporter while operators' registry tokens pass through the proxy. Empty: the proxies are served on --web.listen-address.").
		Default("").StringVar(&f.proxyListen)
	app.Flag("proxy.web.config.file", "Configuration file of the --proxy.listen-address listener (TLS, client certificates; the exporter-toolkit web configuration format). One asking for basic auth is refused: the Authorization header of a proxied request is the operator's registry token.").
		Default("").StringVar(&f.proxyWebConfig)
	f.web = kingpinflag.AddFlags(app, defaultListenAddress)
	promslogflag.AddFlags(app, f.log)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	_, err := app.Parse(args)
	return f, err
}

func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if f.configCheck {
		return checkConfig(f.configFile, stdout, stderr)
	}
	if f.externalURL != "" {
		if f.externalURL, err = parseExternalURL(f.externalURL); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
			return 2
		}
		if f.routePrefix == "" {
			f.routePrefix = externalPath(f.externalURL)
		}
	}
	if f.routePrefix, err = parseRoutePrefix(f.routePrefix); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	f.log.Writer = stderr
	logger := promslog.New(f.log)
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught from the start: its default action would kill the
	// exporter while it applies its first configuration.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(exporterName))
	reloads := newReloadMetrics(reg)
	webInfo := newWebInfo(reg)
	secrets := newSecretMetrics(reg)
	webConns := newWebMetrics(reg)
	opts := newMetrics(reg)
	opts.Logger = logger
	// The demo's simulated registry is new at every start: its journeys
	// are worth keeping only when asked.
	if !f.demo || f.storagePathSet {
		if f.flushInterval <= 0 {
			fmt.Fprintf(stderr, "%s: --storage.flush-interval must be positive, got %v\n", exporterName, f.flushInterval)
			return 2
		}
		store, err := openStorage(f, logger)
		if err != nil {
			logger.Error("opening the storage", "err", err)
			return 1
		}
		// Deferred before the exporter's Close, so it runs after it: the
		// exporter writes its last changes first.
		defer func() {
			if err := store.Close(); err != nil {
				logger.Error("closing the storage", "err", err)
			}
		}()
		opts.Store = store
		reg.MustRegister(collector.NewStorage(store.Stats))
		logger.Info("storage opened", "path", store.Path(), "flush_interval", f.flushInterval)
	}

	// load returns the configuration to apply, from the file or the demo;
	// where names it in errors about what only applying it finds out.
	load := func() (*config.Config, error) { return config.Load(f.configFile) }
	where := f.configFile
	var sim *demo.Registry
	if f.demo {
		if sim, err = demo.Start(logger); err != nil {
			logger.Error("starting the demo registry", "err", err)
			return 1
		}
		defer func() { _ = sim.Close() }()
		opts.Clock = sim.Clock
		load = func() (*config.Config, error) { return sim.Config(), nil }
		where = "demo"
	}
	ex := exporter.New(opts)
	defer ex.Close()
	reg.MustRegister(collector.NewJourneys(ex.Snapshots), collector.NewDiscovery(ex.DiscoverySnapshots))

	// Serve first, so /-/healthy answers while a large configuration is
	// applied; /-/ready waits for it, and the routes that need it answer
	// 503 meanwhile.
	var ready atomic.Bool
	reloadRequests := make(chan chan error)
	mux := http.NewServeMux()
	servers := []*served{{name: "web", handler: withRoutePrefix(f.routePrefix, mux), flags: f.web}}
	if f.proxyListen != "" {
		// Basic auth there would both eat the operator's registry token and
		// hand the proxy's own password to the registry.
		if basicAuth, err := hasBasicAuth(f.proxyWebConfig); err != nil || basicAuth {
			if err == nil {
				err = errors.New("it asks for basic auth, but the Authorization header of a proxied request is the operator's registry token: protect the proxy's listener with TLS client certificates or the network")
			}
			logger.Error("--proxy.web.config.file", "err", err)
			return 1
		}
		pmux := http.NewServeMux()
		pmux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "OK\n") })
		pmux.Handle("/proxy/{registry}/", whenReady(&ready, proxyHandler(ex, false), proxyNotReady))
		noSystemd := false
		servers = append(servers, &served{name: "proxy", handler: pmux, flags: &web.FlagConfig{
			WebListenAddresses: &[]string{f.proxyListen}, WebSystemdSocket: &noSystemd, WebConfigFile: &f.proxyWebConfig,
		}})
	}
	for _, s := range servers {
		if err := s.listen(f.maxConnections); err != nil {
			logger.Error("web server", "listener", s.name, "err", err)
			return 1
		}
		// Whatever run returns on, the server is closed and done with
		// stderr by then: run also runs in-process, in the tests.
		defer s.close()
	}
	// The listener's address, port 0 resolved, is known from here.
	if f.externalURL == "" {
		webConfig, err := readWebConfig(*f.web.WebConfigFile)
		if err != nil {
			logger.Error("--web.config.file", "err", err)
			return 1
		}
		f.externalURL = deriveExternalURL(webConfig.tls, servers[0].listeners[0].Addr(), os.Hostname, f.routePrefix)
		if _, tcp := servers[0].listeners[0].Addr().(*net.TCPAddr); !tcp {
			logger.Warn("the web listener is not TCP: set --web.external-url to the URL users reach the exporter at", "external_url", f.externalURL)
		}
	}
	webInfo.WithLabelValues(f.externalURL).Set(1)
	logger.Info("the exporter is reached at its external URL", "external_url", f.externalURL, "route_prefix", "/"+strings.TrimPrefix(f.routePrefix, "/"))
	if err := routes(mux, f, reg, ex, opts.Push, &ready, reloadRequests, logger); err != nil {
		logger.Error("web routes", "err", err)
		return 1
	}
	serveErr := make(chan error, len(servers))
	for _, s := range servers {
		s.serve(logger, webConns, serveErr)
	}

	// apply loads the configuration and applies it; a failure leaves the
	// running one, if any, in place.
	apply := func() error {
		cfg, err := load()
		if err == nil {
			if err = ex.Apply(cfg); err != nil {
				err = fmt.Errorf("%s: %w", where, err)
			}
		}
		if err != nil {
			reloads.failed()
			return err
		}
		reloads.succeeded()
		logger.Info("configuration applied", "registries", len(cfg.Registries))
		exposure := exporter.ExposedSecrets(cfg)
		for _, w := range exposure.Warnings {
			logger.Warn("configuration: a credential file others can read", "warning", w)
		}
		secrets.set(exposure.ByRegistry)
		return nil
	}
	if err := apply(); err != nil {
		logger.Error("configuration", "err", err)
		return 1
	}
	ready.Store(true)
	if sim != nil {
		sim.Operate(func(r tracker.Registration) {
			if h := ex.Registry(demo.Name); h != nil {
				h.Tracker().Register(sim.Clock.Now(), r)
			}
		})
	}

	reload := func() error {
		err := apply()
		if err != nil {
			logger.Error("reloading the configuration: keeping the current one", "err", err)
		}
		return err
	}
	for {
		select {
		case <-hup:
			_ = reload()
		case reply := <-reloadRequests:
			reply <- reload()
		case err := <-serveErr:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("web server", "err", err)
				return 1
			}
			return 0
		case <-ctx.Done():
			logger.Info("shutting down")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, s := range servers {
				_ = s.srv.Shutdown(shutdownCtx)
			}
			return 0
		}
	}
}

// newMetrics registers the metrics of the registries' clients, health
// probes, push endpoint and proxies, and returns the exporter's options
// that feed them. The metrics table test (readme_test.go) registers the same.
func newMetrics(reg prometheus.Registerer) exporter.Options {
	return exporter.Options{
		Requests: collector.NewRequestMetrics(reg),
		Health:   collector.NewHealth(reg),
		Push:     collector.NewPushMetrics(reg),
		Proxy:    collector.NewProxyMetrics(reg),
	}
}

// openStorage opens the store of --storage.path; with --storage.recover,
// a damaged file is moved aside and what can be read of it kept.
func openStorage(f *flags, logger *slog.Logger) (*storage.Store, error) {
	opts := storage.Options{Logger: logger, FlushInterval: f.flushInterval}
	store, err := storage.Open(f.storagePath, opts)
	if _, damaged := errors.AsType[*storage.DamagedError](err); !damaged {
		return store, err
	}
	if !f.storageRecover {
		return nil, fmt.Errorf("%w; the exporter does not start on it: start it once with --storage.recover to move the file aside and keep what can still be read of it (see docs/storage.md)", err)
	}
	logger.Error("the state file is damaged: moving it aside and keeping what can still be read of it", "err", err)
	got, rerr := storage.Recover(f.storagePath, func() string { return time.Now().UTC().Format("20060102T150405Z") })
	if rerr != nil {
		return nil, rerr
	}
	logger.Warn("storage recovered: the damaged file is kept aside; journeys and totals not salvaged are lost",
		"moved_to", got.MovedTo, "registries", got.Registries, "records", got.Records, "incomplete", got.Incomplete)
	return storage.Open(f.storagePath, opts)
}

// checkConfig loads the file and turns it into runtime settings as a
// start would, credentials read, without running anything.
func checkConfig(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err == nil {
		if err = exporter.Check(cfg); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration is not valid: %v\n", exporterName, err)
		return 1
	}
	for _, r := range cfg.Registries {
		fmt.Fprintf(stdout, "registry %s: %s (API %s), %d journeys, %d certificates\n",
			r.Name, r.BaseURL, r.APIVersion, len(r.Journeys.Resolved), len(r.Certificates.UUIDs))
	}
	for _, w := range exporter.ExposedSecrets(cfg).Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", exporterName, w)
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", path)
	return 0
}

// routes serves the metrics, the status page and journey API, health, readiness and
// reload. The exporter is ready once it has applied its first
// configuration.
func routes(mux *http.ServeMux, f *flags, reg *prometheus.Registry, ex *exporter.Exporter, pushMetrics *collector.PushMetrics, ready *atomic.Bool, reloads chan<- chan error, logger *slog.Logger) error {
	gatherers := prometheus.Gatherers{reg}
	if !f.disableExporterMetrics {
		self := prometheus.NewRegistry()
		self.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		gatherers = append(gatherers, self)
	}
	mux.Handle(f.telemetryPath, promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: f.maxRequests,
		// OpenMetrics when the scraper asks for it (Prometheus does): the
		// seen counters' exemplars, the latest journey ids, need it.
		EnableOpenMetrics: true,
	}))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "OK\n") }
	mux.HandleFunc("GET /-/healthy", ok)
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "applying the configuration", http.StatusServiceUnavailable)
			return
		}
		ok(w, r)
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "This endpoint requires a POST or PUT request.", http.StatusMethodNotAllowed)
			return
		}
		reply := make(chan error, 1)
		select {
		case reloads <- reply:
		case <-r.Context().Done():
			return
		}
		if err := <-reply; err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "OK\n")
	})
	journeyweb.New(webwiring(ex, f, logger)).Register(mux, func(h http.Handler) http.Handler { return whenReady(ready, h, pushNotReady) })
	lookup := func(name string) (push.Registry, bool) {
		if h := ex.Registry(name); h != nil {
			return h, true
		}
		return nil, false
	}
	mux.Handle("POST /api/v1/journeys/{registry}", whenReady(ready, push.NewHandler(lookup, push.Options{Logger: logger, Observer: pushMetrics}), pushNotReady))
	if f.proxyListen != "" {
		mux.HandleFunc("/proxy/{registry}/", func(w http.ResponseWriter, _ *http.Request) {
			proxy.WriteError(w, http.StatusNotFound, "Not found: the exporter serves its proxies on --proxy.listen-address")
		})
	} else {
		basicAuth, err := hasBasicAuth(*f.web.WebConfigFile)
		if err != nil {
			return err
		}
		mux.Handle("/proxy/{registry}/", whenReady(ready, proxyHandler(ex, basicAuth), proxyNotReady))
	}
	return nil
}
