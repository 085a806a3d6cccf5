// Command covoiturage_exporter exposes, as Prometheus metrics, what the
// French carpooling proof registry decided about an operator's journeys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
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

	"github.com/covoiturage-exporter/covoiturage_exporter/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const exporterName = "covoiturage_exporter"

// defaultListenAddress is the exporter's port, 9896, documented in the
// README.
const defaultListenAddress = ":9896"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	app := kingpin.New(exporterName, "Prometheus exporter for the French carpooling proof registry (Registre de preuve de covoiturage).")
	app.ErrorWriter(stderr)
	app.UsageWriter(stderr)
	var (
		telemetryPath = app.Flag("web.telemetry-path", "Path under which to expose metrics.").
				Default("/metrics").String()
		maxRequests = app.Flag("web.max-requests", "Maximum number of parallel scrapes. 0 disables the limit.").
				Default("40").Int()
		disableExporterMetrics = app.Flag("web.disable-exporter-metrics", "Exclude the exporter's own Go and process metrics (go_*, process_*, promhttp_*).").
					Bool()
		demoMode = app.Flag("demo", "Run against an embedded simulated registry with a built-in operator on an accelerated clock (an hour a second). Needs no token and no configuration.").
				Bool()
		healthInterval = app.Flag("registry.health-interval", "How often the registry's /health is probed.").
				Default("30s").Duration()
	)
	webFlags := kingpinflag.AddFlags(app, defaultListenAddress)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	logger := promslog.New(logConfig)
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())

	if !*demoMode {
		logger.Error("no registry to watch: run with --demo for the embedded simulated registry")
		return 2
	}
	if *healthInterval <= 0 {
		logger.Error("--registry.health-interval must be positive")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sim, err := demo.Start(logger)
	if err != nil {
		logger.Error("starting the demo registry", "err", err)
		return 1
	}
	defer func() { _ = sim.Close() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(exporterName))
	requests := collector.NewRequestMetrics(reg, demo.Name)
	health := collector.NewHealth(reg)
	client, err := registry.New(registry.Config{
		BaseURL:  sim.BaseURL,
		Auth:     sim.Auth,
		Observer: requests.Observer(demo.Name),
	})
	if err != nil {
		logger.Error("registry client", "err", err)
		return 1
	}
	go health.Probe(ctx, demo.Name, client, *healthInterval, logger)

	gatherers := prometheus.Gatherers{reg}
	if !*disableExporterMetrics {
		self := prometheus.NewRegistry()
		self.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		gatherers = append(gatherers, self)
	}
	mux := http.NewServeMux()
	mux.Handle(*telemetryPath, promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: *maxRequests,
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "OK\n")
	})
	if *telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Covoiturage exporter",
			Description: "Prometheus exporter for the French carpooling proof registry",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: *telemetryPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			logger.Error("landing page", "err", err)
			return 1
		}
		mux.Handle("/", landing)
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, webFlags, logger) }()
	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("web server", "err", err)
			return 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}
	return 0
}
