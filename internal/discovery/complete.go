package discovery

import (
	"context"
	"time"
)

// DefaultPagerSlice: a verdict list asks for a few statuses that hold few
// journeys beside ok, over the day or two of starts its journeys may have:
// asked whole, such a range costs one request a status, where discovery's
// 6 h slices would cost five.
const DefaultPagerSlice = 3 * 24 * time.Hour

// Pager lists, for callers other than discovery rounds (the scheduler's
// verdict lists), every id of one status over a window of start times,
// complete despite pages that shift, with the same walk as a round. It
// remembers across calls what it learnt of the registry's paging (a cut
// below the limit asked, the largest short page proven whole), so that a
// short page costs no probe once one as large was proven. It is not safe
// for concurrent use.
type Pager struct {
	Lister   Lister
	PageSize int // default MaxPageSize: a request costs the same whatever its size
	// MaxPages bounds the requests of one call; default
	// DefaultMaxPagesPerRound.
	MaxPages int
	// Slice is the widest start-time window one request asks; default
	// DefaultPagerSlice. Slices are split further by the density seen.
	Slice     time.Duration
	cut       int
	confirmed int
}

// Complete lists the ids of status whose start is in [start, end), and
// the requests it made. A short page is the whole result at the instant it
// was served; full pages are split, as in a discovery round. The error
// wraps ErrIncomplete when the walk could not prove it listed every id.
func (p *Pager) Complete(ctx context.Context, status string, start, end time.Time) (map[string]struct{}, int, error) {
	cfg := Config{Lister: p.Lister, Statuses: []string{status}, PageSize: p.PageSize, MaxPagesPerRound: p.MaxPages, Slice: p.Slice}
	if cfg.Slice <= 0 {
		cfg.Slice = DefaultPagerSlice
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = MaxPageSize
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.MaxPagesPerRound <= 0 {
		cfg.MaxPagesPerRound = DefaultMaxPagesPerRound
	}
	w := &walk{cfg: &cfg, ctx: ctx, counters: &Counters{}, seen: map[string]struct{}{}, density: map[string]float64{},
		cut: p.cut, confirmed: p.confirmed}
	err := w.cover(start.Truncate(time.Second), end)
	if err == nil {
		err = w.incomplete
	}
	p.cut, p.confirmed = w.cut, max(p.confirmed, w.confirmed)
	return w.seen, w.pages, err
}
