package starts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/starts"
)

// The bounds are inclusive, and "ahead" counts from the time given, not
// the wall clock: a demo clock years ahead takes its own day's starts.
func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		start time.Time
		want  string
	}{
		{starts.Min, ""},
		{starts.Min.Add(-time.Second), "before 2015"},
		{now.Add(-time.Hour), ""},
		{now.Add(starts.MaxAhead), ""},
		{now.Add(starts.MaxAhead + time.Second), "more than 24h0m0s in the future"},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), "more than 24h0m0s in the future"},
	} {
		err := starts.Check(c.start, now)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%v, %v) = %v, want %q", c.start, now, err, c.want)
		}
	}
}
