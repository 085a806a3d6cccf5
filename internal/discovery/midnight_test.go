package discovery

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Discovery runs across Paris midnights, the two DST changes included and
// the hour or two each night when the Paris date is already the next one,
// against the simulator's list rules (end ≤ today 00:00 Paris of the UTC
// date): no list request is refused, and every journey is found in the
// first round after it is both submitted and listable, however late it was
// submitted (up to 24 h after its start).
func TestDiscoveryAcrossParisMidnights(t *testing.T) {
	t.Parallel()
	for _, day := range []string{"2026-03-29", "2026-06-02", "2026-10-25"} {
		t.Run(day, func(t *testing.T) {
			t.Parallel()
			testAcrossMidnights(t, day)
		})
	}
}

func testAcrossMidnights(t *testing.T, day string) {
	f := newFixture(t, options{})
	d0, err := time.ParseInLocation(time.DateOnly, day, registry.Paris())
	if err != nil {
		t.Fatal(err)
	}
	// The journeys start over the two days around the day, every 17
	// minutes, and are submitted 0 to 24 h later.
	from := d0.Add(-30 * time.Hour)
	to := d0.Add(30 * time.Hour)
	type journey struct {
		id               string
		start, submitted time.Time
		due              time.Time // first moment it is both submitted and listable
		found            time.Time
		put              bool
	}
	delays := []time.Duration{0, 30 * time.Minute, 2 * time.Hour, 13 * time.Hour, 23*time.Hour + 59*time.Minute}
	var journeys []*journey
	for i, s := 0, from; s.Before(to); i, s = i+1, s.Add(17*time.Minute) {
		j := &journey{id: fmt.Sprintf("Trip-%s/%03d", day, i), start: s, submitted: s.Add(delays[i%len(delays)])}
		j.due = registry.ListableFrom(s)
		if j.submitted.After(j.due) {
			j.due = j.submitted
		}
		journeys = append(journeys, j)
	}
	// A round each step, from before the first start to after the last
	// journey is due.
	const step = 30 * time.Minute
	f.clock.Advance(from.Add(-time.Hour).Truncate(step).Sub(f.clock.Now()))
	d := New(f.config(nil))
	end := to.Add(72 * time.Hour)
	rounds := 0
	for f.clock.Now().Before(end) {
		now := f.clock.Now()
		for _, j := range journeys {
			if !j.put && !j.submitted.After(now) {
				f.sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: j.id, Status: simulator.StatusPending,
					StartAt: j.start, EndAt: j.start.Add(20 * time.Minute), CreatedAt: j.submitted})
				j.put = true
			}
		}
		rep, err := d.round(context.Background())
		if err != nil || rep.result != ResultOK {
			t.Fatalf("round at %s: %v (%v)", now.Format(time.RFC3339), err, rep.result)
		}
		rounds++
		got := f.registered()
		for _, j := range journeys {
			if j.found.IsZero() && got[j.id] {
				j.found = now
				if now.Before(j.due) {
					t.Errorf("%s (start %s) listed at %s, before the registry could list it (%s)", j.id, j.start.UTC().Format(time.RFC3339), now.Format(time.RFC3339), j.due.Format(time.RFC3339))
				}
			}
		}
		f.clock.Advance(step)
	}
	refused := 0
	for _, r := range f.sim.Requests() {
		if r.Group == "status" && r.Status != http.StatusOK {
			refused++
		}
	}
	if refused != 0 {
		t.Errorf("%d list requests refused over %d rounds, want 0", refused, rounds)
	}
	var worst time.Duration
	for _, j := range journeys {
		if j.found.IsZero() {
			t.Errorf("%s (start %s, submitted %s) never found", j.id, j.start.UTC().Format(time.RFC3339), j.submitted.UTC().Format(time.RFC3339))
			continue
		}
		late := j.found.Sub(j.due)
		worst = max(worst, late)
		if late > step+registry.ListEndMargin {
			t.Errorf("%s found at %s, due %s: more than a round late", j.id, j.found.Format(time.RFC3339), j.due.Format(time.RFC3339))
		}
	}
	t.Logf("%d journeys, %d rounds, %d refused list requests; found at most %s after they were listable and submitted", len(journeys), rounds, refused, worst)
}
