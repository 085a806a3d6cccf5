// Package demo runs the simulated registry inside the exporter, with an
// operator that keeps submitting journeys on an accelerated clock, so that
// `covoiturage_exporter --demo` shows something real with no token and no
// configuration.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Name is the registry label value of the demo registry.
const Name = "demo"

// Speed is how much faster than real time the demo clock runs: an hour a
// second, so a journey's whole 72 h life plays out in about a minute.
const Speed = 3600

// PerHour is the demo operator's journeys per simulated hour: ten a wall
// second, about what the demo budget can follow with a little sampling.
const PerHour = 10

// Certificates the demo registry holds: valid, expired, and one it does
// not know.
var Certificates = []struct{ UUID, Type string }{
	{"0b7cc57e-1c1b-4a4b-9f37-6a5f0a1c2d01", "ok"},
	{"0b7cc57e-1c1b-4a4b-9f37-6a5f0a1c2d02", "ok"},
	{"0b7cc57e-1c1b-4a4b-9f37-6a5f0a1c2d03", "expired"},
	{"0b7cc57e-1c1b-4a4b-9f37-6a5f0a1c2d04", ""},
}

// Registry is a running embedded simulator.
type Registry struct {
	BaseURL string
	// TokenFile holds the demo operator's token, in a directory of its own
	// that Close removes: the exporter reads credentials from files only.
	TokenFile string
	// Clock is the simulated time; the exporter schedules on it too.
	Clock    *clock.Accelerated
	sim      *simulator.Simulator
	srv      *http.Server
	onSubmit func(tracker.Registration)
	// backlog holds the registrations of the history the simulator
	// generates before Operate, delivered first by Operate.
	backlog []tracker.Registration
	cancel  context.CancelFunc
	done    chan struct{}
	logger  *slog.Logger
}

// Start serves a simulated registry on a loopback port until Close. Its
// operator starts submitting with Operate.
func Start(logger *slog.Logger) (*Registry, error) {
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, fmt.Errorf("demo token: %w", err)
	}
	token := hex.EncodeToString(tokenBytes)
	dir, err := os.MkdirTemp("", "covoiturage-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo token: %w", err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("demo token: %w", err)
	}
	r := &Registry{
		TokenFile: tokenFile,
		Clock:     clock.NewAccelerated(time.Now(), Speed),
		done:      make(chan struct{}),
		logger:    logger,
	}
	traffic := simulator.DefaultTraffic()
	traffic.PerHour = PerHour
	traffic.OnSubmit = r.submitted
	sim, err := simulator.New(simulator.Config{
		Tokens:  []simulator.Token{{Value: token, OperatorID: traffic.OperatorID}},
		Clock:   r.Clock,
		Traffic: &traffic,
		Seed:    time.Now().UnixNano(),
		Logger:  logger.With("component", "simulator"),
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	now := r.Clock.Now()
	for _, c := range Certificates {
		if c.Type != "" {
			sim.AddCertificate(simulator.Certificate{
				UUID: c.UUID, OperatorID: traffic.OperatorID, Type: c.Type,
				StartAt: now.AddDate(0, -1, 0), EndAt: now, CreatedAt: now,
			})
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("demo registry listener: %w", err)
	}
	r.BaseURL = "http://" + ln.Addr().String()
	r.sim = sim
	r.srv = &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo registry stopped", "err", err)
		}
	}()
	logger.Info("demo registry started", "url", r.BaseURL, "clock_speed", Speed)
	return r, nil
}

// Config is the exporter configuration that watches the demo registry:
// the whole budget the registry allows one address, and its certificates.
func (r *Registry) Config() *config.Config {
	rc := config.Registry{
		Name: Name, BaseURL: r.BaseURL, TokenFile: r.TokenFile,
		Budget: config.Budget{RequestsPerSecond: 30, Burst: 30, Concurrency: 8},
	}
	for _, c := range Certificates {
		rc.Certificates.UUIDs = append(rc.Certificates.UUIDs, c.UUID)
	}
	// At an hour a second the default hour of tolerated lateness is a
	// second of wall time; six let the history's first checks queue.
	rc.Schedule.MaxDelay = model.Duration(6 * time.Hour)
	// Discovery finds again what the operator registers (the first source
	// keeps a journey), and the proxy is there to be tried: both show
	// their metrics. A round every 6 simulated hours is one every 6 s.
	rc.Discovery.Enabled, rc.Discovery.Interval = true, model.Duration(6*time.Hour)
	rc.Proxy.Enabled = true
	rc.ApplyDefaults()
	return &config.Config{Registries: []config.Registry{rc}}
}

// Operate reports the journeys submitted so far to onSubmit, then starts
// the operator's traffic, reporting each journey it submits, and the
// registry's background processing. Call it once.
func (r *Registry) Operate(onSubmit func(tracker.Registration)) {
	for _, reg := range r.backlog {
		onSubmit(reg)
	}
	r.backlog = nil
	r.onSubmit = onSubmit
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.sim.Run(ctx)
	}()
}

// submitted turns the operator's submission into a registration carrying
// what the registry's answer already said.
func (r *Registry) submitted(s simulator.Submission) {
	reg := tracker.Registration{ID: s.OperatorJourneyID, Source: tracker.SourceDemo, Start: s.StartAt, SubmittedAt: s.SubmittedAt}
	switch s.HTTPStatus {
	case http.StatusCreated:
		reg.Status = "pending"
	case http.StatusUnprocessableEntity:
		reg.Status, reg.TermsReasons = "terms_violation_error", s.TermsLabels
	case http.StatusConflict:
		// A duplicate: the journey is already known, with its own status,
		// and its lag was its first submission's.
		reg.Resubmission = true
	default:
		return // refused outright: nothing was stored
	}
	if r.onSubmit == nil {
		r.backlog = append(r.backlog, reg)
		return
	}
	r.onSubmit(reg)
}

// Close stops the simulator and its server.
func (r *Registry) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	// Not Shutdown: the exporter, the only client, has stopped by now, and
	// a connection its client dialled but never used would hold Shutdown
	// for 5 s (net/http counts a new connection as idle only after 5 s).
	err := r.srv.Close()
	if rmErr := os.RemoveAll(filepath.Dir(r.TokenFile)); err == nil {
		err = rmErr
	}
	return err
}
