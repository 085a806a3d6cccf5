package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
)

// BenchmarkSubmission posts distinct journeys, each a real 201, to a fresh
// simulated registry: directly, then through the proxy with a registrar
// backed by a real tracker. The difference of the two is the latency the
// proxy adds; the proxied run also reports the proxy's own measure of it
// (added-ns/op, from its histogram).
func BenchmarkSubmission(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		target := benchRegistry(b)
		benchSubmit(b, target.String()+"/v3.3/journeys")
	})
	b.Run("proxied", func(b *testing.B) {
		target := benchRegistry(b)
		tr := newTrackerRegistrar()
		f := newFront(b, target, tr, nil)
		benchSubmit(b, f.url+"/v3.3/journeys")
		n := f.metric(b, "covoiturage_proxy_added_latency_seconds")
		if n == 0 || tr.tr.Len() != int(n) {
			b.Fatalf("%v submissions measured, %d tracked", n, tr.tr.Len())
		}
		mfs, _ := f.metrics.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "covoiturage_proxy_added_latency_seconds" {
				b.ReportMetric(mf.GetMetric()[0].GetHistogram().GetSampleSum()/n*1e9, "added-ns/op")
			}
		}
	})
	// As the binary runs it: the exporter is the registrar, on a real
	// store, so each answer waits for the flush, fsync included, that
	// writes its journey.
	b.Run("proxied-durable", func(b *testing.B) {
		target := benchRegistry(b)
		ex := durableExporter(b, target)
		f := newFront(b, target, ex.Registry(regName), nil)
		benchSubmit(b, f.url+"/v3.3/journeys")
		n := f.metric(b, "covoiturage_proxy_added_latency_seconds")
		if tracked := ex.Registry(regName).Tracker().Len(); n == 0 || tracked != int(n) {
			b.Fatalf("%v submissions measured, %d tracked", n, tracked)
		}
		if failed := f.metric(b, "covoiturage_proxy_tracking_failures_total", "reason", "timeout") +
			f.metric(b, "covoiturage_proxy_tracking_failures_total", "reason", "error"); failed != 0 {
			b.Fatalf("%v submissions relayed untracked", failed)
		}
		mfs, _ := f.metrics.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "covoiturage_proxy_added_latency_seconds" {
				b.ReportMetric(mf.GetMetric()[0].GetHistogram().GetSampleSum()/n*1e9, "added-ns/op")
			}
		}
	})
}

// durableExporter runs an exporter following the registry at target as
// regName, on a store in a temporary directory flushed as the binary's
// default does. Its clock stands still, so no status check competes with
// the submissions.
func durableExporter(b *testing.B, target *url.URL) *exporter.Exporter {
	b.Helper()
	store, err := storage.Open(b.TempDir(), storage.Options{FlushInterval: storage.DefaultFlushInterval})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Error(err)
		}
	})
	ex := exporter.New(exporter.Options{Clock: clock.NewAccelerated(simNow, 0), Store: store})
	b.Cleanup(ex.Close) // before the store's Close: the exporter writes its last changes
	tokenFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	rc := config.Registry{Name: regName, BaseURL: target.String(), APIVersion: "3.3", TokenFile: tokenFile}
	rc.ApplyDefaults()
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		b.Fatal(err)
	}
	return ex
}

// benchRegistry is a simulator without the tests' recorder, whose memory
// would grow with b.N.
func benchRegistry(b *testing.B) *url.URL {
	b.Helper()
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: token, OperatorID: operatorID}},
		Clock:  clock.NewAccelerated(simNow, 0),
		Limits: simulator.Limits{Submit: simulator.Limit{Requests: 1 << 30, Window: time.Minute}},
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	return mustURL(b, srv.URL)
}

func benchSubmit(b *testing.B, u string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	start := simNow.Add(-time.Hour).Format(time.RFC3339)
	end := simNow.Add(-20 * time.Minute).Format(time.RFC3339)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		// Identities of its own per journey, so the terms checks never
		// refuse one.
		body := fmt.Appendf(nil, `{"operator_journey_id":"bench%d","operator_trip_id":"t%d","operator_class":"C","incentives":[],`+
			`"start":{"datetime":%q,"lat":48.85,"lon":2.35},"end":{"datetime":%q,"lat":48.95,"lon":2.45},"distance":8000,`+
			`"driver":{"identity":{"identity_key":"d%063d","operator_user_id":"d","phone_trunc":"+336010203"},"revenue":200},`+
			`"passenger":{"identity":{"identity_key":"p%063d","operator_user_id":"p","phone_trunc":"+336010204"},"contribution":200,"seats":1}}`,
			i, i, start, end, i, i)
		req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("journey %d: %d", i, resp.StatusCode)
		}
	}
}
