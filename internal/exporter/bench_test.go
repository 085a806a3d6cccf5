package exporter_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// BenchmarkDurableRegister measures how many new journeys a second
// Register makes durable (ids/s), each call returning once its journeys
// are on disk (fsync included), and how many ids share a transaction
// (ids/flush): batches of 1,000 from one caller, and one id a call from
// 1 or 16 concurrent callers, where group commit lets concurrent calls
// share a flush.
func BenchmarkDurableRegister(b *testing.B) {
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	for _, c := range []struct {
		name           string
		batch, callers int
	}{
		{"batch=1000/callers=1", 1000, 1},
		{"batch=1/callers=1", 1, 1},
		{"batch=1/callers=16", 1, 16},
	} {
		b.Run(c.name, func(b *testing.B) {
			store, err := storage.Open(b.TempDir(), storage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ex := exporter.New(exporter.Options{Store: store})
			defer func() {
				ex.Close()
				_ = store.Close()
			}()
			if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("prod", srv.URL)}}); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			register := func() {
				regs := make([]tracker.Registration, c.batch)
				for i := range regs {
					regs[i] = tracker.Registration{ID: fmt.Sprintf("push%09d", next.Add(1)), Source: tracker.SourcePush}
				}
				if added, err := ex.Registry("prod").Register(context.Background(), regs); err != nil || added != c.batch {
					b.Errorf("Register: %d %v", added, err)
				}
			}
			flushes := store.Stats().Flushes
			b.ResetTimer()
			began := time.Now()
			var calls atomic.Int64
			var wg sync.WaitGroup
			for range c.callers {
				wg.Go(func() {
					for calls.Add(1) <= int64(b.N) {
						register()
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(began)
			ids := float64(next.Load())
			b.ReportMetric(ids/elapsed.Seconds(), "ids/s")
			b.ReportMetric(ids/float64(max(1, store.Stats().Flushes-flushes)), "ids/flush")
		})
	}
}
