package web_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const (
	token        = "web-test-token"
	registryName = "prod"
)

// now is when the fixture starts; start is its first journey's start,
// the others follow a minute apart: all are recent, still checked.
var (
	now   = time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	start = now.Add(-6 * time.Hour)
)

func startOf(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }

// decided tells the configured journeys that are pending at the first
// check and fraud_error at the second.
func decided(id string) bool {
	i, err := strconv.Atoi(strings.TrimPrefix(id, "c"))
	return id[0] == 'c' && err == nil && i%len(statuses) == 3
}

// settled is an exporter that followed a registry (the simulator, over
// HTTP) until every journey was checked and some changed status: the
// state an on-call lists. Its journeys, by design:
//   - c000..c239 configured, each with a start a minute apart; in the
//     simulator their status is statuses[i%len], with labels and reasons
//     as the registry gives them; c010, c020... answer 404 (not there);
//   - p000..p039 pushed (source push), all ok; the even ones with a
//     start i hours before their push (a submission lag of i hours), the
//     odd ones without;
//   - journeys that were pending at the first check and decided at the
//     second (decided: fraud_error with its labels), so they carry a
//     story of three transitions.
type settled struct {
	ex       *exporter.Exporter
	clk      *clock.Accelerated
	sim      *simulator.Simulator
	srv      *httptest.Server
	ids      []string
	pushedAt time.Time // when the pushed journeys were registered
}

// firstRound is when every journey was first checked; the decided and
// the not found ones were checked again an hour later.
var firstRound = now.Add(2 * time.Minute)

var statuses = []string{
	simulator.StatusOK, simulator.StatusPending, simulator.StatusFraudError, simulator.StatusPending,
	simulator.StatusAnomalyError, simulator.StatusTermsViolationError, simulator.StatusCanceled, simulator.StatusOK,
}

func simJourney(i int, status string) simulator.Journey {
	j := simulator.Journey{
		OperatorID: 1, OperatorJourneyID: fmt.Sprintf("c%03d", i), Status: status,
		StartAt: startOf(i), CreatedAt: startOf(i).Add(time.Minute),
	}
	switch status {
	case simulator.StatusFraudError:
		j.FraudLabels = []string{registry.FraudLabels[i%len(registry.FraudLabels)]}
		if i%3 == 0 {
			j.FraudLabels = append(j.FraudLabels, registry.FraudLabels[(i+1)%len(registry.FraudLabels)])
		}
	case simulator.StatusAnomalyError:
		j.Anomalies = []simulator.Anomaly{{Label: registry.AnomalyLabels[(i/8)%len(registry.AnomalyLabels)]}}
	case simulator.StatusTermsViolationError:
		j.TermsViolations = []string{registry.TermsReasons[(i/8)%len(registry.TermsReasons)]}
	}
	return j
}

func newSettled(t *testing.T) *settled {
	t.Helper()
	clk := clock.NewAccelerated(now, 0)
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := config.Registry{Name: registryName, TokenFile: tokenFile}
	var ids []string
	for i := range 240 {
		id := fmt.Sprintf("c%03d", i)
		ids = append(ids, id)
		rc.Journeys.Resolved = append(rc.Journeys.Resolved, config.Journey{ID: id, Start: startOf(i)})
		if i%10 != 0 {
			sim.Put(simJourney(i, statuses[i%len(statuses)]))
		}
	}
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	rc.BaseURL = simSrv.URL
	rc.Schedule.FirstCheckDelay = model.Duration(time.Minute)
	rc.Schedule.PendingInterval = model.Duration(time.Hour)
	// The clock jumps an hour at once: a day of patience keeps the
	// scheduler from sampling the backlog that makes.
	rc.Schedule.MaxDelay = model.Duration(24 * time.Hour)
	rc.Budget = config.Budget{RequestsPerSecond: 10_000, Burst: 1000, Concurrency: 16}
	rc.ApplyDefaults()

	reg := prometheus.NewRegistry()
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 50 * time.Millisecond, Poll: time.Millisecond})
	t.Cleanup(ex.Close)
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(collector.NewJourneys(ex.Snapshots))
	clk.Advance(30 * time.Second) // the pushed ones are registered later
	var pushed []tracker.Registration
	for i := range 40 {
		id := fmt.Sprintf("p%03d", i)
		ids = append(ids, id)
		r := tracker.Registration{ID: id, Source: tracker.SourcePush}
		if i%2 == 0 {
			r.Start = clk.Now().Add(-time.Duration(i) * time.Hour) // a submission lag of i hours
		}
		pushed = append(pushed, r)
		sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: id, Status: simulator.StatusOK, StartAt: start, CreatedAt: start})
	}
	if _, err := ex.Registry(registryName).Register(context.Background(), pushed); err != nil {
		t.Fatal(err)
	}
	s := &settled{ex: ex, clk: clk, sim: sim, ids: ids, pushedAt: clk.Now()}

	// First round: every journey checked once.
	clk.Advance(90 * time.Second)
	s.waitChecked(t, 1)
	// The registry decides some pending ones; their next check sees it.
	for i := 3; i < 240; i += len(statuses) {
		sim.Put(simJourney(i, simulator.StatusFraudError))
	}
	clk.Advance(time.Hour + time.Minute)
	s.waitChecked(t, 2)

	mux := http.NewServeMux()
	web.New(web.Options{Registries: s.registries, Version: "test"}).Register(mux, nil)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// waitChecked waits until the scheduler has nothing due, and the
// decided journeys were checked at least n times.
func (s *settled) waitChecked(t *testing.T, n int) {
	t.Helper()
	tr := s.ex.Registry(registryName).Tracker()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, id := range s.ids {
			j, _ := tr.Lookup(id)
			if j.Checks == 0 || (decided(id) && j.Checks < n) {
				done = false
				break
			}
		}
		snaps := s.ex.Snapshots()
		if done && len(snaps) == 1 && snaps[0].Scheduler.InFlight == 0 {
			if due, _ := tr.DueCount(s.clk.Now(), nil); due == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			for _, id := range s.ids {
				j, _ := tr.Lookup(id)
				t.Logf("%s %s checks %d next %v", id, j.Status, j.Checks, j.NextCheck)
			}
			t.Logf("%+v now %v", s.ex.Snapshots()[0].Scheduler, s.clk.Now())
			t.Fatalf("timed out waiting for every journey to be checked %d times", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *settled) registries() []web.Registry {
	var out []web.Registry
	for _, snap := range s.ex.Snapshots() {
		h := s.ex.Registry(snap.Registry)
		info := h.Info()
		out = append(out, web.Registry{
			Name: snap.Registry, APIVersion: info.APIVersion, RequestsPerSecond: info.RequestsPerSecond,
			Concurrency: info.Concurrency, Sources: []string{"config", "push"},
			Journeys: snap.Journeys, Latest: snap.Latest, Scheduler: snap.Scheduler, Tracker: h.Tracker(),
		})
	}
	return out
}

// get answers a GET of path on the test server.
func get(t *testing.T, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(resp.Header, resp.Trailer)
	return resp.StatusCode, resp.Header, string(body)
}
