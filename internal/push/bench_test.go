package push_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
)

// appendBatch writes n journeys numbered from first, with their start, as
// an operator's back end would: a JSON array or NDJSON lines.
func appendBatch(b []byte, first, n int, ndjson bool) []byte {
	if !ndjson {
		b = append(b, '[')
	}
	for i := first; i < first+n; i++ {
		if i > first && !ndjson {
			b = append(b, ',')
		}
		b = append(b, `{"operator_journey_id":"push`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","start":"2026-11-20T08:15:00Z"}`...)
		if ndjson {
			b = append(b, '\n')
		}
	}
	if !ndjson {
		b = append(b, ']')
	}
	return b
}

// BenchmarkPush measures push ingestion, ids per second, through real
// HTTP (keep-alive, one client at a time) into a real exporter's registry:
// batches of 1000 new ids as a JSON array and as NDJSON, new ids one by
// one, and a batch of 1000 ids pushed again (all already tracked).
// ns/op is one request; the client's cost (building the body, reading the
// answer) is included.
func BenchmarkPush(b *testing.B) {
	for _, bc := range []struct {
		name   string
		batch  int
		ndjson bool
		again  bool // the same ids every time
	}{
		{name: "one_by_one", batch: 1},
		{name: "batch=1000/json", batch: 1000},
		{name: "batch=1000/ndjson", batch: 1000, ndjson: true},
		{name: "batch=1000/already_tracked", batch: 1000, again: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ex := newExporter(b)
			url := serve(b, lookupIn(ex), push.Options{}) + "/api/v1/journeys/" + prod
			contentType := "application/json"
			if bc.ndjson {
				contentType = "application/x-ndjson"
			}
			client := &http.Client{}
			send := func(body []byte) push.Response {
				resp, err := client.Post(url, contentType, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				var r push.Response
				if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("answer %d: %v", resp.StatusCode, err)
				}
				return r
			}
			var body []byte
			if bc.again {
				body = appendBatch(body, 0, bc.batch, bc.ndjson)
				send(body)
			}
			pushed := 0
			b.ReportAllocs()
			for b.Loop() {
				if !bc.again {
					body = appendBatch(body[:0], pushed, bc.batch, bc.ndjson)
				}
				r := send(body)
				if r.Accepted != bc.batch || (bc.again && r.AlreadyTracked != bc.batch) || (!bc.again && r.New != bc.batch) {
					b.Fatalf("answer %+v to a batch of %d", r, bc.batch)
				}
				pushed += bc.batch
			}
			b.ReportMetric(float64(pushed)/b.Elapsed().Seconds(), "ids/s")
			want := pushed
			if bc.again {
				want = bc.batch
			}
			if n := ex.Registry(prod).Tracker().Len(); n != want {
				b.Fatalf("tracker holds %d journeys, want %d", n, want)
			}
		})
	}
}

// newDurableExporter is newExporter's prod registry on a real store in a
// temporary directory, flushed as the binary's default does: a push is
// answered once a flush, fsync included, has written its journeys.
func newDurableExporter(b *testing.B) (*exporter.Exporter, *storage.Store) {
	b.Helper()
	clk := clock.NewAccelerated(now, 0)
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	store, err := storage.Open(b.TempDir(), storage.Options{FlushInterval: storage.DefaultFlushInterval})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Error(err)
		}
	})
	ex := exporter.New(exporter.Options{Clock: clk, Store: store})
	b.Cleanup(ex.Close) // before the store's Close: the exporter writes its last changes
	tokenFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	rc := config.Registry{Name: prod, BaseURL: srv.URL, APIVersion: "3.3", TokenFile: tokenFile}
	rc.ApplyDefaults()
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		b.Fatal(err)
	}
	return ex, store
}

// BenchmarkPushDurable is BenchmarkPush on durable storage: every answer
// waits for the flush that writes its journeys, so the figures include
// the fsync. One by one from one client, one by one from 16 concurrent
// clients (whose registrations share flushes; ns/op is then the wall
// time per request, all clients together), and batches of 1000 new ids.
// flushes/op is the store's write transactions per request.
func BenchmarkPushDurable(b *testing.B) {
	for _, bc := range []struct {
		name    string
		batch   int
		ndjson  bool
		clients int
	}{
		{name: "one_by_one", batch: 1, clients: 1},
		{name: "one_by_one/clients=16", batch: 1, clients: 16},
		{name: "batch=1000/json", batch: 1000, clients: 1},
		{name: "batch=1000/ndjson", batch: 1000, ndjson: true, clients: 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ex, store := newDurableExporter(b)
			url := serve(b, lookupIn(ex), push.Options{}) + "/api/v1/journeys/" + prod
			contentType := "application/json"
			if bc.ndjson {
				contentType = "application/x-ndjson"
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: bc.clients}}
			b.Cleanup(client.CloseIdleConnections)
			// send posts one batch and returns what went wrong, if
			// anything: the concurrent clients cannot stop the benchmark
			// themselves.
			send := func(body []byte) string {
				resp, err := client.Post(url, contentType, bytes.NewReader(body))
				if err != nil {
					return err.Error()
				}
				defer resp.Body.Close()
				var r push.Response
				if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
					return "answer " + strconv.Itoa(resp.StatusCode)
				}
				if r.Accepted != bc.batch || r.New != bc.batch {
					return "answer " + strconv.Itoa(r.New) + " new of a batch of " + strconv.Itoa(bc.batch)
				}
				return ""
			}
			var batches atomic.Int64
			var failure atomic.Pointer[string]
			flushes := store.Stats().Flushes
			b.ReportAllocs()
			if bc.clients == 1 {
				var body []byte
				for b.Loop() {
					body = appendBatch(body[:0], int(batches.Add(1)-1)*bc.batch, bc.batch, bc.ndjson)
					if msg := send(body); msg != "" {
						b.Fatal(msg)
					}
				}
			} else {
				// Exactly bc.clients clients, each taking the next request
				// until b.N are sent.
				var wg sync.WaitGroup
				b.ResetTimer()
				for range bc.clients {
					wg.Go(func() {
						var body []byte
						for {
							k := int(batches.Add(1) - 1)
							if k >= b.N {
								return
							}
							body = appendBatch(body[:0], k*bc.batch, bc.batch, bc.ndjson)
							if msg := send(body); msg != "" {
								failure.CompareAndSwap(nil, &msg)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				batches.Store(int64(b.N))
			}
			if msg := failure.Load(); msg != nil {
				b.Fatal(*msg)
			}
			n := int(batches.Load())
			b.ReportMetric(float64(n*bc.batch)/b.Elapsed().Seconds(), "ids/s")
			b.ReportMetric(float64(store.Stats().Flushes-flushes)/float64(n), "flushes/op")
			if got := ex.Registry(prod).Tracker().Len(); got != n*bc.batch {
				b.Fatalf("tracker holds %d journeys, want %d", got, n*bc.batch)
			}
		})
	}
}
