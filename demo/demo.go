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
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
	"github.com/covoiturage-exporter/covoiturage_exporter/simulator"
)

// Name is the registry label value of the demo registry.
const Name = "demo"

// Speed is how much faster than real time the demo clock runs: an hour a
// second, so a journey's whole 72 h life plays out in about a minute.
const Speed = 3600

// Registry is a running embedded simulator.
type Registry struct {
	BaseURL string
	Auth    registry.Auth
	sim     *simulator.Simulator
	srv     *http.Server
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start serves a simulated registry on a loopback port until Close.
func Start(logger *slog.Logger) (*Registry, error) {
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, fmt.Errorf("demo token: %w", err)
	}
	token := hex.EncodeToString(tokenBytes)
	traffic := simulator.DefaultTraffic()
	sim, err := simulator.New(simulator.Config{
		Tokens:  []simulator.Token{{Value: token, OperatorID: traffic.OperatorID}},
		Clock:   clock.NewAccelerated(time.Now(), Speed),
		Traffic: &traffic,
		Seed:    time.Now().UnixNano(),
		Logger:  logger.With("component", "simulator"),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo registry listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{
		BaseURL: "http://" + ln.Addr().String(),
		Auth:    registry.Auth{Token: registry.Secret(token)},
		sim:     sim,
		srv:     &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second},
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		go sim.Run(ctx)
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo registry stopped", "err", err)
		}
	}()
	logger.Info("demo registry started", "url", r.BaseURL, "clock_speed", Speed)
	return r, nil
}

// Close stops the simulator and its server.
func (r *Registry) Close() error {
	r.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	<-r.done
	return err
}
