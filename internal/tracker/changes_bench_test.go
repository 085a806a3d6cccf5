package tracker_test

import (
	"fmt"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// BenchmarkTakeChanges measures what recording changes for the store
// costs a tracker of a million journeys in its steady state: each op
// checks 1,000 journeys (Next and Checked, which mark them changed) and
// takes their changes as records, reusing one Changes. allocs/op does not
// grow with the changes: the totals' maps are the only allocations.
func BenchmarkTakeChanges(b *testing.B) {
	b.Run(fmt.Sprintf("tracked=%d/changed=1000", benchTracked), func(b *testing.B) {
		tr := tracker.New(benchSteady)
		if _, err := tr.Restore(tracker.Saved{Gen: 1}); err != nil {
			b.Fatal(err)
		}
		tr.Grow(benchTracked)
		for i := range benchTracked {
			tr.Register(benchNow, tracker.Registration{ID: benchIDs[1].id(i), Source: tracker.SourceConfig})
		}
		var c tracker.Changes
		for tr.TakeChanges(&c, 100_000) {
		}
		now, _ := tr.NextDue()
		pending := tracker.Result{Status: "pending", CreatedAt: benchNow}
		b.ReportAllocs()
		for b.Loop() {
			for range 1000 {
				id, ok := tr.Next(now)
				if !ok {
					now, _ = tr.NextDue()
					if id, ok = tr.Next(now); !ok {
						b.Fatal("nothing due")
					}
				}
				tr.Checked(id, now, pending)
			}
			if tr.TakeChanges(&c, 0) || c.Len() != 1000 {
				b.Fatalf("took %d changes, want 1000", c.Len())
			}
		}
	})
}
