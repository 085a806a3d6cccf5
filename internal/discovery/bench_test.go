package discovery

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRoundRequests measures the budget discovery takes: the list
// requests of one round over the default 26 h window and page size, for an
// operator submitting perDay journeys, in 1 h slices (the default) or the
// whole window asked at once and split as pages fill.
func BenchmarkRoundRequests(b *testing.B) {
	for _, perDay := range []int{1_000, 10_000, 50_000, 100_000} {
		b.Run(fmt.Sprintf("perDay=%d", perDay), func(b *testing.B) {
			f := newFixture(b, options{traffic: traffic(float64(perDay) / 24)})
			for _, slice := range []time.Duration{time.Hour, 6 * time.Hour, DefaultLookback} {
				b.Run(fmt.Sprintf("slice=%s", slice), func(b *testing.B) {
					requests, found := 0, 0
					for b.Loop() {
						f.reset()
						rep, err := New(f.config(func(c *Config) { c.Slice = slice })).round(context.Background())
						if err != nil {
							b.Fatal(err)
						}
						requests += rep.requests
						found += rep.found
					}
					rounds := float64(b.N)
					b.ReportMetric(float64(requests)/rounds, "requests/round")
					b.ReportMetric(float64(found)/rounds, "journeys/round")
					// At the default interval, 144 rounds a day.
					b.ReportMetric(float64(requests)*float64(24*time.Hour/DefaultInterval)/rounds, "requests/day")
				})
			}
		})
	}
}
