package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const (
	token      = "proxy-test-operator-token"
	operatorID = 3
	regName    = "prod"
)

// simNow is the simulated registry's time: it only moves when a test says.
var simNow = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// answer is one HTTP answer, as the registry wrote it or as the operator
// got it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// recorder sits between the proxy and the simulator and keeps what the
// simulator answered, to compare with what the operator got.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	got  []answer
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw := testkit.NewTeeWriter(w)
	rec.next.ServeHTTP(tw, r)
	rec.mu.Lock()
	rec.got = append(rec.got, answer{tw.Status, w.Header().Clone(), bytes.Clone(tw.Body.Bytes())})
	rec.mu.Unlock()
}

// answerNumber waits for the registry's n-th answer (from 1): the operator
// may read the relayed answer before the recorder has stored it.
func (rec *recorder) answerNumber(t *testing.T, n int) answer {
	t.Helper()
	var a answer
	waitFor(t, fmt.Sprintf("registry answer #%d", n), func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.got) < n {
			return false
		}
		a = rec.got[n-1]
		return true
	})
	return a
}

// simRegistry is the simulated registry behind a recorder, over real HTTP.
type simRegistry struct {
	sim *simulator.Simulator
	rec *recorder
	url *url.URL
}

// newSimRegistry serves the versions given, or by default those the real
// servers serve.
func newSimRegistry(t testing.TB, versions ...string) *simRegistry {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Versions: versions,
		Tokens:   []simulator.Token{{Value: token, OperatorID: operatorID}},
		Clock:    clock.NewAccelerated(simNow, 0),
		Seed:     1,
		// Benchmarks submit far more than the registry's 20,000 a minute.
		Limits: simulator.Limits{Submit: simulator.Limit{Requests: 1 << 30, Window: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: sim.Handler()}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return &simRegistry{sim: sim, rec: rec, url: mustURL(t, srv.URL)}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// trackerRegistrar is the exporter's side of the contract in miniature: a
// real tracker, and a hook to make registration fail, block or panic.
type trackerRegistrar struct {
	tr   *tracker.Tracker
	hook func(ctx context.Context) error
}

func newTrackerRegistrar() *trackerRegistrar {
	return &trackerRegistrar{tr: tracker.New(tracker.DefaultPolicy)}
}

func (r *trackerRegistrar) Register(ctx context.Context, regs []tracker.Registration) (int, error) {
	if r.hook != nil {
		if err := r.hook(ctx); err != nil {
			return 0, err
		}
	}
	added := 0
	for _, reg := range regs {
		if r.tr.Register(simNow, reg) {
			added++
		}
	}
	return added, nil
}

func (r *trackerRegistrar) Relayed(ctx context.Context, c tracker.Change) (bool, error) {
	if r.hook != nil {
		if err := r.hook(ctx); err != nil {
			return false, err
		}
	}
	return r.tr.Relayed(simNow, tracker.SourceProxy, c), nil
}

// front is a proxy mounted as the exporter mounts it, over real HTTP.
type front struct {
	url     string // the operator's new base URL: …/proxy/prod
	metrics *prometheus.Registry
	logs    *testkit.LockedBuffer
}

func newFront(t testing.TB, target *url.URL, reg proxy.Registrar, mod func(*proxy.Config)) *front {
	t.Helper()
	f := &front{metrics: prometheus.NewPedanticRegistry(), logs: &testkit.LockedBuffer{}}
	cfg := proxy.Config{
		Registry:  regName,
		Target:    target,
		Registrar: reg,
		Logger:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	// As the exporter does: the series exist before the first submission.
	observer := collector.NewProxyMetrics(f.metrics)
	observer.Declare(regName)
	cfg.Observer = observer
	if mod != nil {
		mod(&cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/proxy/"+regName+"/", http.StripPrefix("/proxy/"+regName, p))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/proxy/" + regName
	return f
}

// metric reads one counter or histogram (its sample count) of the proxy.
func (f *front) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"registry": regName}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, want) {
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

func matches(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// waitMetric polls: the proxy counts a request once its answer is out.
func (f *front) waitMetric(t testing.TB, want float64, name string, labels ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s%v = %v", name, labels, want), func() bool { return f.metric(t, name, labels...) == want })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 10*time.Second, 2*time.Millisecond, what, cond)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// do sends a request and reads the whole answer.
func do(t testing.TB, method, u, auth string, body []byte, header http.Header) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// sameAnswer checks that the operator got the registry's answer unchanged:
// status, body byte for byte, and every header the registry set.
func sameAnswer(t testing.TB, got, sent answer) {
	t.Helper()
	if got.status != sent.status {
		t.Errorf("status %d relayed, the registry answered %d", got.status, sent.status)
	}
	if !bytes.Equal(got.body, sent.body) {
		t.Errorf("body relayed:\n%s\nthe registry's:\n%s", got.body, sent.body)
	}
	if len(sent.header) == 0 {
		t.Error("the registry's answer had no header to compare")
	}
	for k, vs := range sent.header {
		if fmt.Sprint(got.header[k]) != fmt.Sprint(vs) {
			t.Errorf("header %s relayed as %q, the registry sent %q", k, got.header[k], vs)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
