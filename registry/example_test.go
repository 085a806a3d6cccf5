package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// exampleRegistry serves the project's simulated registry on a local port
// in place of api.covoiturage.beta.gouv.fr. It knows one operator token,
// written to a file as an operator keeps it, and one journey that operator
// submitted, which the fraud batch refused.
func exampleRegistry() (baseURL, tokenFile string, stop func()) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: "example-operator-token", OperatorID: 1}},
		Clock:  clock.NewAccelerated(now, 0),
	})
	if err != nil {
		panic(err)
	}
	started := now.Add(-60 * time.Hour)
	sim.Put(simulator.Journey{
		OperatorID: 1, OperatorJourneyID: "opjourney20261120a01", Status: "fraud_error",
		FraudLabels: []string{"interoperator_overlap"},
		CreatedAt:   started.Add(time.Hour), StartAt: started, EndAt: started.Add(30 * time.Minute),
		DistanceMeters: 12000,
	})
	srv := httptest.NewServer(sim.Handler())
	dir, err := os.MkdirTemp("", "registry-example")
	if err != nil {
		panic(err)
	}
	tokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("example-operator-token\n"), 0o600); err != nil {
		panic(err)
	}
	return srv.URL, tokenFile, func() { srv.Close(); _ = os.RemoveAll(dir) }
}

// A client for one registry account asks for two journeys' statuses: one
// the registry decided, one it never received. The Observer sees every
// HTTP attempt, as the exporter's metrics do.
func Example() {
	baseURL, tokenFile, stop := exampleRegistry()
	defer stop()

	auth, err := registry.StaticTokenFile(tokenFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := registry.New(registry.Config{
		BaseURL: baseURL,
		Version: "3.3",
		Auth:    auth,
		Rate:    5, Burst: 10,
		Observer: func(o registry.Observation) {
			fmt.Println("attempt:", o.Endpoint, o.StatusCode)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	st, err := c.JourneyStatus(ctx, "opjourney20261120a01")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.OperatorJourneyID, st.Status, st.FraudLabels)

	_, err = c.JourneyStatus(ctx, "opjourneyneversubmitted")
	switch {
	case errors.Is(err, registry.ErrNotFound):
		fmt.Println("not found:", registry.KindOf(err))
	case errors.Is(err, registry.ErrRateLimited):
		fmt.Println("wait", registry.RetryAfterOf(err))
	case err != nil:
		fmt.Println(err)
	}
	// Output:
	// attempt: journey_status 200
	// opjourney20261120a01 fraud_error [interoperator_overlap]
	// attempt: journey_status 404
	// not found: not_found
}
