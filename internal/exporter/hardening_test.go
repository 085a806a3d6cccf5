package exporter_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
)

// lockedBuffer collects log lines written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A registry whose every request times out is unavailable as soon as a
// few attempts in a row got no answer, not once the client has given up
// retrying each check; and the log lines name it once.
func TestHungRegistryIsUnavailableSoon(t *testing.T) {
	t.Parallel()
	clk := clock.NewAccelerated(start, 0)
	sim := newSim(t, clk)
	ids := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	for _, id := range ids {
		sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: id, Status: simulator.StatusOK, StartAt: start, CreatedAt: start})
	}
	sim.SetFaults(simulator.Faults{Latency: time.Minute})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ex := exporter.New(exporter.Options{Clock: clk, Tick: 10 * time.Millisecond, Poll: time.Millisecond, Logger: logger})
	defer ex.Close()
	rc := registryConfig("hung", srv.URL, ids...)
	rc.RequestTimeout = model.Duration(300 * time.Millisecond)
	rc.HealthInterval = model.Duration(time.Hour)
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	var st scheduler.Stats
	waitFor(t, "the hung registry unavailable", func() bool {
		st = ex.Snapshots()[0].Scheduler
		return st.State == "unavailable"
	})
	// A check gives up after three attempts with backoff between them: the
	// unavailability came from the attempts, before three checks failed.
	if failed := st.Outcomes[scheduler.OutcomeError]; failed >= 3 {
		t.Errorf("unavailable only after %d failed checks: the client's retries hid the time-outs", failed)
	}
	waitFor(t, "the state change logged", func() bool { return strings.Contains(logs.String(), "polling state changed") })
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Count(line, "registry=hung") > 1 {
			t.Errorf("a log line names the registry twice: %s", line)
		}
	}
}
