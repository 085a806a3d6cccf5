package registry_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
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
			f := newFixture(b, func(c *simulator.Config) {
				// The benchmark measures the client, not the limiter.
				c.Limits.Status = simulator.Limit{Requests: 1 << 30, Window: time.Minute}
			})
			f.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: "bench1", Status: "anomaly_error",
				CreatedAt: simStart, StartAt: simStart.Add(-50 * time.Hour), EndAt: simStart, DistanceMeters: 5000,
				FraudLabels: []string{"interoperator_overlap"},
				Anomalies:   []simulator.Anomaly{{Label: "temporal_overlap_anomaly", ConflictingOperatorJourneyID: "bench0", OverlapRatio: 0.9}}})
			f.sim.SetFaults(bc.faults)

			auth := registry.Auth{Token: staticToken}
			if bc.keyPair {
				auth = registry.Auth{AccessKey: accessKey, SecretKey: secretKey}
			}
			var attempts atomic.Int64
			c, _ := f.client(b, auth, func(c *registry.Config) {
				c.BackoffBase, c.BackoffMax, c.MaxAttempts = time.Microsecond, time.Microsecond, 10
				// A counter, not the fixture's recording observer, so the
				// figures do not include a growing log.
				c.Observer = func(registry.Observation) { attempts.Add(1) }
			})
			ctx := context.Background()
			b.ReportAllocs()
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
