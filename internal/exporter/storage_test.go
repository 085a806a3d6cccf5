package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// durableSim serves journeys in every status on a manual clock.
func durableSim(t *testing.T, clk clock.Clock) string {
	t.Helper()
	sim := newSim(t, clk)
	for i, st := range []string{simulator.StatusOK, "fraud_error", "pending", "terms_violation_error"} {
		j := simulator.Journey{OperatorID: 1, OperatorJourneyID: fmt.Sprintf("c%d", i), Status: st, StartAt: start, CreatedAt: start}
		if st == "fraud_error" {
			j.FraudLabels = []string{"interoperator_overlap"}
		}
		if st == "terms_violation_error" {
			j.TermsViolations = []string{"expired"}
		}
		sim.Put(j)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// exporterOn runs an exporter on the store in dir.
func exporterOn(t *testing.T, dir string, clk clock.Clock, logs *testkit.LockedBuffer) (*exporter.Exporter, *storage.Store) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	store, err := storage.Open(dir, storage.Options{Logger: logger, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond, Store: store, Logger: logger})
	t.Cleanup(func() {
		ex.Close()
		_ = store.Close()
	})
	return ex, store
}

func snapshot(ex *exporter.Exporter, name string) (tracker.Stats, [6]uint64) {
	for _, s := range ex.Snapshots() {
		if s.Registry == name {
			return s.Journeys, s.Scheduler.Outcomes
		}
	}
	return tracker.Stats{}, [6]uint64{}
}

// An exporter stopped and started again on the same store goes on where
// it was: configured journeys keep their statuses and are not registered
// again, pushed journeys are still followed, and no total starts over.
func TestRestartKeepsJourneysAndTotals(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	url := durableSim(t, clk)
	dir := t.TempDir()
	cfg := &config.Config{Registries: []config.Registry{registryConfig("prod", url, "c0", "c1", "c2", "c3", "unknown")}}

	ex, store := exporterOn(t, dir, clk, nil)
	if err := ex.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, "the configured journeys checked", func() bool {
		s, _ := snapshot(ex, "prod")
		return s.ByStatus[tracker.Statuses.Index(tracker.StatusUnchecked)] == 0
	})
	pushed := []tracker.Registration{{ID: "p1", Source: tracker.SourcePush}, {ID: "p2", Source: tracker.SourceProxy, Status: "terms_violation_error", TermsReasons: []string{"expired"}}}
	if added, err := ex.Registry("prod").Register(context.Background(), pushed); err != nil || added != 2 {
		t.Fatalf("Register: %d %v", added, err)
	}
	wantStats, wantOutcomes := snapshot(ex, "prod") // nothing is due any more: the clock stands still
	ex.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &testkit.LockedBuffer{}
	ex2, _ := exporterOn(t, dir, clk, logs)
	if err := ex2.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	gotStats, gotOutcomes := snapshot(ex2, "prod")
	if !reflect.DeepEqual(gotStats, wantStats) {
		t.Errorf("journey stats after the restart:\n got %+v\nwant %+v", gotStats, wantStats)
	}
	if gotOutcomes != wantOutcomes || wantOutcomes[0] < 4 {
		t.Errorf("check outcomes after the restart: %v, want %v", gotOutcomes, wantOutcomes)
	}
	for _, id := range []string{"p1", "p2"} {
		if j, ok := ex2.Registry("prod").Tracker().Lookup(id); !ok || j.Source == "config" {
			t.Errorf("pushed journey %s after the restart: %+v %v", id, j, ok)
		}
	}
	if j, _ := ex2.Registry("prod").Tracker().Lookup("c1"); j.Status != "fraud_error" || len(j.FraudLabels) != 1 {
		t.Errorf("c1 after the restart: %+v", j)
	}
	if !strings.Contains(logs.String(), "journeys=7") {
		t.Errorf("the start-up does not log the 7 journeys restored:\n%s", logs.String())
	}
}

// A registry that leaves the configuration keeps its state on disk,
// last changes included, and is said to be there once; back in the
// configuration, it goes on from that state.
func TestRemovedRegistryStaysOnDisk(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	url := durableSim(t, clk)
	logs := &testkit.LockedBuffer{}
	ex, store := exporterOn(t, t.TempDir(), clk, logs)
	both := &config.Config{Registries: []config.Registry{registryConfig("a", url, "c0"), registryConfig("b", url, "c1")}}
	if err := ex.Apply(both); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Registry("b").Register(context.Background(), []tracker.Registration{{ID: "pushed-to-b", Source: tracker.SourcePush}}); err != nil {
		t.Fatal(err)
	}
	ex.Registry("b").Tracker().Register(clk.Now(), tracker.Registration{ID: "unsynced", Source: tracker.SourceDemo})
	onlyA := &config.Config{Registries: []config.Registry{registryConfig("a", url, "c0")}}
	for range 2 {
		if err := ex.Apply(onlyA); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "the store holds a registry the configuration does not name"); n != 1 {
		t.Errorf("the registry left on disk is logged %d times, want once:\n%s", n, logs.String())
	}
	if names, _ := store.Names(); len(names) != 2 {
		t.Fatalf("store holds %v", names)
	}
	if err := ex.Apply(both); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "pushed-to-b", "unsynced"} {
		if _, ok := ex.Registry("b").Tracker().Lookup(id); !ok {
			t.Errorf("%s lost when b left the configuration and came back", id)
		}
	}
}

// When the store cannot write, Register fails instead of acknowledging
// journeys that are not on disk.
func TestRegisterFailsWhenTheStoreCannotWrite(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	url := durableSim(t, clk)
	ex, store := exporterOn(t, t.TempDir(), clk, nil)
	if err := ex.Apply(&config.Config{Registries: []config.Registry{registryConfig("prod", url)}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := ex.Registry("prod").Register(context.Background(), []tracker.Registration{{ID: "p1", Source: tracker.SourcePush}})
	if !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Register on a closed store: %v, want ErrClosed", err)
	}
	if ex.Registry("nosuch") != nil {
		t.Fatal("a handle for a registry the configuration does not name")
	}
}
