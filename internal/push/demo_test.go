package push_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
)

// Under --demo, a start is bounded with the demo registry's clock, which
// runs an hour a second: a journey the demo's operator starts "now" is
// days past the wall clock after a minute, and is taken; a start more than
// a day past the demo's clock is still refused. The demo clock is moved
// two days ahead at once rather than waited for. The start refused is ten
// days past the demo's clock: the demo clock reaches it only after 216 s
// of wall time, far more than any stall of this test.
func TestPushUnderTheDemoBoundsStartsWithTheDemoClock(t *testing.T) {
	t.Parallel()
	sim, err := demo.Start(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	ex := exporter.New(exporter.Options{Clock: sim.Clock}) // as main wires --demo
	t.Cleanup(ex.Close)
	if err := ex.Apply(sim.Config()); err != nil {
		t.Fatal(err)
	}
	sim.Clock.Advance(48 * time.Hour)
	demoNow := sim.Clock.Now()
	if ahead := time.Until(demoNow); ahead < 47*time.Hour {
		t.Fatalf("the demo clock is %v past the wall clock, want two days", ahead)
	}
	base := serve(t, lookupIn(ex), push.Options{})
	inDemoDay := demoNow.Add(-time.Hour).UTC().Format(time.RFC3339)
	tooFar := demoNow.Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	a := post(t, base, demo.Name, "application/json", fmt.Sprintf(
		`[{"operator_journey_id": "demo-now", "start": %q}, {"operator_journey_id": "demo-far", "start": %q}]`, inDemoDay, tooFar))
	if a.code != http.StatusOK || a.Accepted != 1 || a.RejectedCount != 1 {
		t.Fatalf("answer %d %+v, want the start of the demo's last hour taken and the one a day past it refused", a.code, a.Response)
	}
	if r := a.Rejected[0]; r.OperatorJourneyID != "demo-far" || !strings.Contains(r.Error, "more than 24h0m0s in the future") {
		t.Errorf("rejected %+v, want demo-far as too far ahead", r)
	}
	j, ok := ex.Registry(demo.Name).Tracker().Lookup("demo-now")
	if !ok || !j.Start.Equal(demoNow.Add(-time.Hour).Truncate(time.Second)) {
		t.Errorf("demo-now tracked %v with start %v, want %v", ok, j.Start, demoNow.Add(-time.Hour))
	}
}
