package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const token = "exporter-test-token"

var start = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// tokenFile holds token: the exporter reads credentials from files only.
var tokenFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exporter-test-")
	if err != nil {
		panic(err)
	}
	tokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func registryConfig(name, url string, ids ...string) config.Registry {
	r := config.Registry{Name: name, BaseURL: url, TokenFile: tokenFile}
	for _, id := range ids {
		r.Journeys.Resolved = append(r.Journeys.Resolved, config.Journey{ID: id, Start: start})
	}
	r.Schedule.FirstCheckDelay = model.Duration(time.Minute)
	r.ApplyDefaults()
	return r
}

// newSim is a registry peer for the test's token on clk.
func newSim(t *testing.T, clk clock.Clock) *simulator.Simulator {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 10*time.Second, 5*time.Millisecond, what, cond)
}

// A reload keeps each registry's journeys and totals by name, adds the new
// ones, forgets registries that left, and a configuration that cannot run
// leaves the current one in place.
func TestApplyKeepsJourneysAcrossReloads(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	sim := newSim(t, clk)
	for _, id := range []string{"a1", "a2", "b1"} {
		sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: id, Status: simulator.StatusOK, StartAt: start, CreatedAt: start})
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	reg := prometheus.NewRegistry()
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond,
		Requests: collector.NewRequestMetrics(reg), Health: collector.NewHealth(reg)})
	defer ex.Close()

	if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("prod", srv.URL, "a1")}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	prod := ex.Registry("prod").Tracker()
	waitFor(t, "a1 checked", func() bool { j, _ := prod.Lookup("a1"); return j.Status == "ok" })

	err := ex.Apply(&config.Config{Registries: []config.Registry{
		registryConfig("prod", srv.URL, "a1", "a2"),
		registryConfig("other", srv.URL, "b1"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Registry("prod").Tracker() != prod {
		t.Fatal("a reload replaced the tracker of a registry it kept")
	}
	if j, _ := prod.Lookup("a1"); j.Status != "ok" || j.Checks != 1 {
		t.Fatalf("a1 after reload: %+v", j)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, "a2 and b1 checked", func() bool {
		a, _ := prod.Lookup("a2")
		b, _ := ex.Registry("other").Tracker().Lookup("b1")
		return a.Status == "ok" && b.Status == "ok"
	})
	checked := func() uint64 {
		for _, s := range ex.Snapshots() {
			if s.Registry == "prod" {
				return s.Scheduler.Outcomes[0]
			}
		}
		return 0
	}
	before := checked()

	bad := registryConfig("prod", "ftp://nowhere", "a1")
	if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("fresh", srv.URL), bad}}); err == nil {
		t.Fatal("a configuration whose client cannot be built was applied")
	}
	for _, f := range seriesOf(t, reg, "fresh") {
		t.Errorf("%s has a series of a registry from a configuration that failed", f)
	}
	if len(ex.Snapshots()) != 2 {
		t.Fatal("a failed reload stopped the running registries")
	}

	if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("prod", srv.URL)}}); err != nil {
		t.Fatal(err)
	}
	snaps := ex.Snapshots()
	if len(snaps) != 1 || ex.Registry("other") != nil {
		t.Fatalf("a registry removed from the configuration is still running: %d", len(snaps))
	}
	for _, f := range seriesOf(t, reg, "other") {
		t.Errorf("%s still has a series of the removed registry", f)
	}
	if got := checked(); got != before || snaps[0].Journeys.Tracked != 2 {
		t.Fatalf("counters %d→%d, tracked %d: totals must survive reloads", before, got, snaps[0].Journeys.Tracked)
	}
}

// A registry on api_version 2 follows journeys by the registry's own
// journey_id through the v2 JSON-RPC route, whose statuses
// include expired.
func TestV2Registry(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	// The real servers retired v2: this simulator serves it as older
	// servers did.
	sim, err := simulator.New(simulator.Config{Versions: simulator.AllVersions, Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: "legacy1", JourneyID: 4242, Status: simulator.StatusOK, StartAt: start, CreatedAt: start})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond})
	defer ex.Close()
	rc := registryConfig("legacy", srv.URL, "4242")
	rc.APIVersion = "2"
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, "4242 checked through v2", func() bool {
		j, _ := ex.Registry("legacy").Tracker().Lookup("4242")
		return j.Status == "ok" && !j.CreatedAt.IsZero()
	})
}

// A registry configured with a version the real servers retired (v2, 3.1,
// 3.2; the simulator serves 3.3 and 3.4 as they do) answers 404 with an
// empty body: the scheduler's state becomes unsupported_version, the series
// CovoiturageUnsupportedAPIVersion reads, while the registry stays up and
// no journey is taken for one the registry lost.
func TestRetiredVersion(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	sim := newSim(t, clk)
	sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: "kept1", JourneyID: 4242, Status: simulator.StatusOK, StartAt: start, CreatedAt: start})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	reg := prometheus.NewPedanticRegistry()
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond, Health: collector.NewHealth(reg)})
	defer ex.Close()
	reg.MustRegister(collector.NewJourneys(ex.Snapshots))
	var rcs []config.Registry
	for _, v := range []struct{ name, version, id string }{{"v2", "2", "4242"}, {"v31", "3.1", "kept1"}, {"v32", "3.2", "kept1"}, {"v33", "3.3", "kept1"}} {
		rc := registryConfig(v.name, srv.URL, v.id)
		rc.APIVersion = v.version
		rc.HealthInterval = model.Duration(20 * time.Millisecond)
		rcs = append(rcs, rc)
	}
	if err := ex.Apply(&config.Config{Registries: rcs}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	gauge := func(name, registry, state string) float64 {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
		metrics:
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if (l.GetName() == "registry" && l.GetValue() != registry) || (l.GetName() == "state" && l.GetValue() != state) {
						continue metrics
					}
				}
				return m.GetGauge().GetValue()
			}
		}
		return -1
	}
	for _, name := range []string{"v2", "v31", "v32"} {
		waitFor(t, name+" unsupported_version", func() bool {
			return gauge("covoiturage_scheduler_state", name, "unsupported_version") == 1
		})
		waitFor(t, name+" up", func() bool { return gauge("covoiturage_registry_up", name, "") == 1 })
		id := "kept1"
		if name == "v2" {
			id = "4242"
		}
		if j, _ := ex.Registry(name).Tracker().Lookup(id); j.Status == tracker.StatusNotFound || j.Status == "ok" {
			t.Errorf("%s: journey %+v: a retired version is neither a lost journey nor an answer", name, j)
		}
	}
	// The served version beside them follows its journey.
	waitFor(t, "v33 checked", func() bool {
		j, _ := ex.Registry("v33").Tracker().Lookup("kept1")
		return j.Status == "ok"
	})
	if got := gauge("covoiturage_scheduler_state", "v33", "polling"); got != 1 {
		t.Errorf("v33 state polling = %v", got)
	}
}

// seriesOf lists the families that have a series with registry=name.
func seriesOf(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "registry" && l.GetValue() == name {
					out = append(out, f.GetName())
				}
			}
		}
	}
	return out
}

// The exporter probes each registry's /health in the background and
// reports to the Health observer: covoiturage_registry_up follows the
// registry in and out of maintenance.
func TestHealthProbeFollowsTheRegistry(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	sim := newSim(t, clk)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	reg := prometheus.NewPedanticRegistry()
	ex := exporter.New(exporter.Options{Clock: clk, Health: collector.NewHealth(reg)})
	defer ex.Close()
	rc := registryConfig("prod", srv.URL)
	rc.HealthInterval = model.Duration(20 * time.Millisecond)
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	up := func(want float64) {
		t.Helper()
		waitFor(t, fmt.Sprintf("covoiturage_registry_up %v", want), func() bool {
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if f.GetName() == "covoiturage_registry_up" && len(f.GetMetric()) == 1 {
					return f.GetMetric()[0].GetGauge().GetValue() == want
				}
			}
			return false
		})
	}
	up(1)
	sim.SetFaults(simulator.Faults{Maintenance: true})
	up(0)
	sim.SetFaults(simulator.Faults{})
	up(1)
}

// A request works on the handle it looked up: after a reload that keeps
// the registry the handle still registers into its tracker; once a reload
// removed the registry, it refuses.
func TestHandleAcrossReloads(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	sim := newSim(t, clk)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	ex := exporter.New(exporter.Options{Clock: clk})
	defer ex.Close()
	both := &config.Config{Registries: []config.Registry{registryConfig("prod", srv.URL), registryConfig("other", srv.URL)}}
	if err := ex.Apply(both); err != nil {
		t.Fatal(err)
	}
	prod, other := ex.Registry("prod"), ex.Registry("other")
	if prod == nil || other == nil || prod.Name() != "prod" || prod.Proxy() != nil {
		t.Fatalf("handles %v, %v", prod, other)
	}
	// The registry takes any 1 to 256 characters.
	for _, id := range []string{"abc123", "ABC-1/x y.z"} {
		if got, err := prod.CanonicalID(id); err != nil || got != id {
			t.Errorf("CanonicalID(%q) = %q, %v", id, got, err)
		}
	}
	if _, err := prod.CanonicalID(strings.Repeat("x", 257)); err == nil {
		t.Error("CanonicalID accepted 257 characters")
	}

	if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("prod", srv.URL)}}); err != nil {
		t.Fatal(err)
	}
	if added, err := prod.Register(context.Background(), []tracker.Registration{{ID: "kept1", Source: tracker.SourcePush}}); err != nil || added != 1 {
		t.Fatalf("Register through the handle of a kept registry: %d, %v", added, err)
	}
	if _, ok := ex.Registry("prod").Tracker().Lookup("kept1"); !ok {
		t.Error("a journey registered through the old handle is not in the running tracker")
	}
	if _, err := other.Register(context.Background(), []tracker.Registration{{ID: "gone1", Source: tracker.SourcePush}}); !errors.Is(err, exporter.ErrUnknownRegistry) {
		t.Errorf("Register through the handle of a removed registry: %v, want ErrUnknownRegistry", err)
	}
}
