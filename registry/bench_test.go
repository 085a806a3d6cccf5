package registry_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/covoiturage-exporter/covoiturage_exporter/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
	"github.com/covoiturage-exporter/covoiturage_exporter/simulator"
)

// BenchmarkJourneyStatus measures what one status call costs the client
// against the simulator over loopback HTTP: time, allocations, and HTTP
// requests per call (retries and token exchanges included).
func BenchmarkJourneyStatus(b *testing.B) {
	cases := []struct {
		name    string
		keyPair bool
		faults  simulator.Faults
	}{
		{name: "static_token"},
		{name: "key_pair_jwt", keyPair: true},
		{name: "spec_variant", faults: simulator.Faults{StatusVariant: "spec"}},
		{name: "server_errors_10pct", faults: simulator.Faults{ServerErrorRatio: 0.1}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			sim, err := simulator.New(simulator.Config{
				Tokens: []simulator.Token{{Value: staticToken, OperatorID: operatorID}},
				Keys:   []simulator.KeyPair{{AccessKey: accessKey, SecretKey: secretKey, OperatorID: operatorID}},
				Clock:  clock.NewAccelerated(simStart, 0),
				// The benchmark measures the client, not the limiter.
				Limits: simulator.Limits{Status: simulator.Limit{Requests: 1 << 30, Window: time.Minute}},
			})
			if err != nil {
				b.Fatal(err)
			}
			sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: "bench1", Status: "anomaly_error",
				CreatedAt: simStart, StartAt: simStart.Add(-50 * time.Hour), EndAt: simStart, DistanceMeters: 5000,
				FraudLabels: []string{"interoperator_overlap"},
				Anomalies:   []simulator.Anomaly{{Label: "temporal_overlap_anomaly", ConflictingOperatorJourneyID: "bench0", OverlapRatio: 0.9}}})
			sim.SetFaults(bc.faults)
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()

			auth := registry.Auth{Token: staticToken}
			if bc.keyPair {
				auth = registry.Auth{AccessKey: accessKey, SecretKey: secretKey}
			}
			var attempts atomic.Int64
			c, err := registry.New(registry.Config{
				BaseURL: srv.URL, Auth: auth, Rate: rate.Inf, Burst: 1, TokenRate: rate.Inf,
				BackoffBase: time.Microsecond, BackoffMax: time.Microsecond, MaxAttempts: 10,
				Observer: func(registry.Observation) { attempts.Add(1) },
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.JourneyStatus(ctx, "bench1"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(attempts.Load())/float64(b.N), "requests/call")
		})
	}
}

// BenchmarkDecodeJourneyStatus isolates the decoder from the HTTP round trip.
func BenchmarkDecodeJourneyStatus(b *testing.B) {
	body := []byte(`{"operator_journey_id":"abc1","journey_id":12345,"status":"anomaly_error","created_at":"2025-05-04T09:42:00+00:00",
		"fraud_error_labels":["interoperator_overlap"],
		"anomaly_error_details":[{"label":"temporal_overlap_anomaly","metas":{"conflicting_operator_journey_id":"abc0","overlap_duration_ratio":0.8}}],
		"terms_violation_details":[]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := registry.DecodeJourneyStatus(body); err != nil {
			b.Fatal(err)
		}
	}
}
