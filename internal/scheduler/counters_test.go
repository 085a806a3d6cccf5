package scheduler

import (
	"maps"
	"testing"
)

// Stored totals come back under their own label values, and a value a
// later release wrote, which this one does not know, is kept under the
// catch-all value rather than dropped: totals never go down.
func TestRestoreKeepsUnknownValuesUnderTheCatchAll(t *testing.T) {
	t.Parallel()
	var c Counters
	c.Restore(CounterTotals{
		Outcomes:          map[string]uint64{"checked": 5, "skipped": 2, "teleported": 3},
		CertificateChecks: map[string]uint64{"ok": 4, "revoked": 1},
		ListVerdicts:      map[string]uint64{"ok": 7, "unchanged": 1, "reborn": 2},
	})
	c.Restore(CounterTotals{Outcomes: map[string]uint64{"checked": 1}})
	got := c.Totals()
	for _, tc := range []struct {
		name      string
		got, want map[string]uint64
	}{
		{"outcomes", got.Outcomes, map[string]uint64{"checked": 6, "skipped": 2, "error": 3}},
		{"certificate checks", got.CertificateChecks, map[string]uint64{"ok": 4, "other": 1}},
		{"list verdicts", got.ListVerdicts, map[string]uint64{"ok": 7, "unchanged": 3}},
	} {
		if !maps.Equal(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
