package discovery

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero Config (all defaults): %v", err)
	}
	if err := (Config{Statuses: DefaultStatuses, Lookback: MaxLookback, PageSize: MaxPageSize, Slice: time.Second}).Validate(); err != nil {
		t.Errorf("the limits themselves: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Interval: -time.Second}, "interval"},
		{Config{Lookback: 91 * 24 * time.Hour}, "lookback"},
		{Config{Slice: time.Millisecond}, "slice"},
		{Config{PageSize: MaxPageSize + 1}, "page_size"},
		{Config{PageSize: -1}, "page_size"},
		{Config{MaxPagesPerRound: -1}, "max_pages_per_round"},
		{Config{RetryBackoff: -1}, "retry_backoff"},
		{Config{Statuses: []string{"terms_violation_error"}}, "statuses[0]"},
		{Config{Statuses: []string{"pending", "unknown"}}, "statuses[1]"},
		{Config{Statuses: []string{"pending", "made_up"}}, "statuses[1]"},
		{Config{Statuses: []string{"pending", "pending"}}, "twice"},
		{Config{Statuses: []string{strings.Repeat("x", 10_000)}}, "…"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("error of %d bytes: untrusted input must be cut", len(err.Error()))
		}
	}
}

// An unchecked Config still gives a Discoverer that runs within the
// registry's rules.
func TestDefaults(t *testing.T) {
	t.Parallel()
	c := New(Config{}).cfg
	if c.Interval != DefaultInterval || c.Lookback != DefaultLookback || c.PageSize != DefaultPageSize ||
		c.Slice != DefaultSlice || c.MaxPagesPerRound != DefaultMaxPagesPerRound || !slices.Equal(c.Statuses, DefaultStatuses) {
		t.Errorf("defaults not applied: %+v", c)
	}
	c = New(Config{Lookback: 365 * 24 * time.Hour, PageSize: 1 << 30, Slice: 1500 * time.Millisecond,
		Statuses: []string{"terms_violation_error", "ok", "ok", "Pending"}}).cfg
	if c.Lookback != MaxLookback || c.PageSize != MaxPageSize || c.Slice != time.Second || !slices.Equal(c.Statuses, []string{"ok"}) {
		t.Errorf("out-of-range values not brought back: lookback %s, page size %d, slice %s, statuses %v",
			c.Lookback, c.PageSize, c.Slice, c.Statuses)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	d := New(Config{})
	now := time.Date(2026, 3, 2, 12, 0, 30, 700_000_000, time.UTC)
	start, end := d.window(now)
	if want := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC); !end.Equal(want) {
		t.Errorf("end %s, want %s: today 00:00 Paris", end, want)
	}
	// In the minute after UTC midnight the day before's end is kept, in
	// case the registry's clock is behind.
	if _, end := d.window(time.Date(2026, 3, 3, 0, 0, 30, 0, time.UTC)); !end.Equal(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("end just after UTC midnight %s, want the day before's", end)
	}
	if want := end.Add(-DefaultLookback); !start.Equal(want) {
		t.Errorf("start %s, want %s", start, want)
	}
	d = New(Config{Lookback: MaxLookback})
	start, _ = d.window(now)
	if oldest := registry.ListStartLimit(now); !start.After(oldest) || start.Nanosecond() != 0 {
		t.Errorf("start %s: want a whole second after %s", start, oldest)
	}
}
