// Command registry-simulator serves a simulated carpooling proof registry
// API so the exporter can be run and demonstrated without the real one.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
)

const defaultListenAddress = "127.0.0.1:9581"

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	tokenFile, keysFile, versions string
	operatorID                    int
	speed                         float64
	start                         string
	jwtTTL                        time.Duration
	limits                        [5]string
	batchDelay, batchFrame        time.Duration
	perHour                       float64
	backfill                      time.Duration
	seed                          int64
}

func run(args []string) int {
	o, listen, logConfig, err := parseArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(logConfig)

	cfg, err := buildConfig(o, logger)
	if err != nil {
		logger.Error("invalid configuration", "err", err)
		return 2
	}
	sim, err := simulator.New(cfg)
	if err != nil {
		logger.Error("starting simulator", "err", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go sim.Run(ctx)

	server := &http.Server{Addr: listen, Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		logger.Info("serving the simulated registry", "address", listen, "versions", strings.Join(cfg.Versions, ","))
		errc <- server.ListenAndServe()
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serving", "err", err)
			return 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := server.Shutdown(shutdownCtx); err != nil {
			logger.Error("shutting down", "err", err)
			return 1
		}
	}
	return 0
}

// parseArgs reads the command line: the options, the listen address and
// the logging configuration.
func parseArgs(args []string) (options, string, *promslog.Config, error) {
	app := kingpin.New("registry-simulator", "A faithful simulator of the French carpooling proof registry API (Registre de preuve de covoiturage), for developing and demonstrating the exporter without the real registry.")
	var o options
	app.Flag("token-file", "File holding a static application token (whitespace trimmed). Without --token-file and --keys-file a random token is generated and written to a temporary file whose path is logged.").StringVar(&o.tokenFile)
	app.Flag("keys-file", "File of access_key:secret_key lines accepted by POST /auth/access_token.").StringVar(&o.keysFile)
	app.Flag("operator-id", "Operator the credentials belong to and the traffic generator submits for.").Default("1").IntVar(&o.operatorID)
	app.Flag("api.versions", "Comma-separated API versions to serve, out of 2, 3.1, 3.2, 3.3, 3.4, or \"all\" for every one. The default is what the real servers serve; the retired versions, asked for here, serve clients of older servers. Others answer 404 with an empty body; /v3 resolves to the newest 3.x served.").Default(strings.Join(simulator.ServedVersions, ",")).StringVar(&o.versions)
	app.Flag("batch.delay", "DELAY of the fraud and anomaly batches: they examine journeys that started [now − DELAY − FRAME, now − DELAY) (the servers' example settings: 24h; older notes: 48h).").Default("48h").DurationVar(&o.batchDelay)
	app.Flag("batch.frame", "FRAME of the fraud and anomaly batches (see --batch.delay).").Default("6h").DurationVar(&o.batchFrame)
	app.Flag("clock.speed", "Simulated seconds per wall second (3600 plays a journey's whole lifecycle in about a minute; 0 stops the clock except for /_simulator/clock/advance).").Default("3600").Float64Var(&o.speed)
	app.Flag("clock.start", "Simulated time at start-up, RFC 3339; empty means now.").StringVar(&o.start)
	app.Flag("jwt.ttl", "Wall-clock lifetime of the JWTs issued by POST /auth/access_token.").Default("5m").DurationVar(&o.jwtTTL)
	for i, l := range []struct{ name, help, def string }{
		{"limit.status", "Rate limit of status GETs, lists and PATCH per client IP, as N/window.", "2000/1m"},
		{"limit.submit", "Rate limit of POST /journeys and cancels per client IP, as N/window.", "20000/1m"},
		{"limit.token", "Rate limit of POST /auth/access_token per client IP, as N/window (5/1m in older servers, 20/1m in newer ones).", "5/1m"},
		{"limit.other", "Rate limit of every other route per client IP, as N/window.", "100/5m"},
		{"limit.health", "Rate limit of /health and /metrics per client IP, as N/window: a counter of their own.", "100/5m"},
	} {
		app.Flag(l.name, l.help).Default(l.def).StringVar(&o.limits[i])
	}
	app.Flag("traffic.per-hour", "Journeys the built-in generator submits per simulated hour; 0 disables it.").Default("200").Float64Var(&o.perHour)
	app.Flag("traffic.backfill", "Simulated history generated at start-up so every status is listable at once.").Default("96h").DurationVar(&o.backfill)
	app.Flag("seed", "Seed of every random choice (traffic, faults).").Default("1").Int64Var(&o.seed)
	var listen string
	app.Flag("web.listen-address", "Address to serve the API on. The admin routes under /_simulator/ are unauthenticated: keep this on a loopback address.").Default(defaultListenAddress).StringVar(&listen)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.HelpFlag.Short('h')
	_, err := app.Parse(args)
	return o, listen, logConfig, err
}

func buildConfig(o options, logger *slog.Logger) (simulator.Config, error) {
	cfg := simulator.Config{Seed: o.seed, Logger: logger, JWTTTL: o.jwtTTL}
	versions, err := parseVersions(o.versions)
	if err != nil {
		return cfg, err
	}
	cfg.Versions = versions
	start := time.Now()
	if o.start != "" {
		t, err := time.Parse(time.RFC3339, o.start)
		if err != nil {
			return cfg, fmt.Errorf("--clock.start: %w", err)
		}
		start = t
	}
	if o.speed < 0 {
		return cfg, errors.New("--clock.speed must not be negative")
	}
	cfg.Clock = clock.NewAccelerated(start, o.speed)
	cfg.Lifecycle.CheckFrom, cfg.Lifecycle.CheckTo = o.batchDelay, o.batchDelay+o.batchFrame
	limits := []*simulator.Limit{&cfg.Limits.Status, &cfg.Limits.Submit, &cfg.Limits.Token, &cfg.Limits.Other, &cfg.Limits.Health}
	for i, s := range o.limits {
		l, err := parseLimit(s)
		if err != nil {
			return cfg, err
		}
		*limits[i] = l
	}
	if err := loadCredentials(&cfg, o, logger); err != nil {
		return cfg, err
	}
	if o.perHour > 0 {
		t := simulator.DefaultTraffic()
		t.PerHour, t.Backfill, t.OperatorID = o.perHour, o.backfill, o.operatorID
		cfg.Traffic = &t
	}
	return cfg, nil
}

// parseVersions reads --api.versions: a comma-separated list out of
// simulator.AllVersions (a leading "v" allowed), or "all".
func parseVersions(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return slices.Clone(simulator.AllVersions), nil
	}
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "v")
		switch {
		case v == "":
			continue
		case !slices.Contains(simulator.AllVersions, v):
			return nil, fmt.Errorf("--api.versions: %q is not a version the simulator knows: want some of %s, or all", v, strings.Join(simulator.AllVersions, ", "))
		case !slices.Contains(out, v):
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--api.versions: no version to serve")
	}
	return out, nil
}
