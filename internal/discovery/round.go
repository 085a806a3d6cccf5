package discovery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// report is what one round did.
type report struct {
	start, end time.Time // the window of start times listed, both ends included
	found      int       // distinct ids listed
	added      int       // of which the tracker did not follow yet
	requests   int
	duration   time.Duration
	result     Result
}

// round lists every configured status over the window of start times
// that ends now, and registers the ids found. Ids are registered even when
// the round fails part way: each came from a page that decoded whole, and
// registering is idempotent.
func (d *Discoverer) round(ctx context.Context) (report, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	began := time.Now()
	start, end := d.window(d.cfg.Clock.Now())
	w := &walk{cfg: &d.cfg, ctx: ctx, counters: d.counters, seen: map[string]struct{}{}, density: map[string]float64{}, keepOrder: true}
	err := w.cover(start, end)
	if err == nil {
		err = w.incomplete
	}
	rep := report{start: start, end: end, found: len(w.order), requests: w.pages, result: ResultError}
	added, rerr := d.register(ctx, w)
	rep.added = added
	if rerr != nil {
		err = errors.Join(err, rerr)
	}
	rep.duration = time.Since(began)

	if w.cut > 0 && !d.warnedCut {
		d.warnedCut = true
		d.cfg.Logger.Warn("a short list page had more ids after it: the registry cuts pages below the limit asked, or ignores offset; such pages are split like full ones",
			"registry", d.cfg.Name, "page_size", d.cfg.PageSize, "cut_at", w.cut)
	}
	if w.invalid > 0 {
		log := d.cfg.Logger.Debug
		if !d.warnedInvalid {
			d.warnedInvalid, log = true, d.cfg.Logger.Warn
		}
		log("the registry listed ids that are not operator_journey_ids; they were skipped",
			"registry", d.cfg.Name, "count", w.invalid)
	}
	c := d.counters
	c.found.Add(uint64(rep.found))
	c.added.Add(uint64(added))
	if ctx.Err() != nil {
		// A round cut by shutdown says nothing about the registry.
		return rep, err
	}
	c.lastDuration.Store(int64(rep.duration))
	switch {
	case err == nil:
		rep.result = ResultOK
		c.lastSuccess.Store(time.Now().UnixNano())
	case rerr == nil && errors.Is(err, ErrIncomplete):
		rep.result = ResultIncomplete
	default:
		rep.result = ResultError
	}
	c.rounds[rep.result].Add(1)
	return rep, err
}

// window returns the start times a round lists: Lookback back from the
// list's end, today 00:00 Paris as the servers compute it, on whole
// seconds (the list filters to the second), within the registry's limits
// on both ends (registry.SafeListWindow). Journeys that started since that midnight cannot be
// listed (docs/registry.md, "The list endpoint").
func (d *Discoverer) window(now time.Time) (start, end time.Time) {
	w := registry.SafeListWindow(now)
	start = w.End.Add(-d.cfg.Lookback).Truncate(time.Second)
	if start.Before(w.Start) {
		start = w.Start
	}
	return start, w.End
}

// register hands the tracker the ids the last round did not already
// register. Discovered journeys carry no start: the list does not give it,
// and the tracker keeps a start as exact, shows it, and lets no later
// registration correct it; without one it anchors the schedule on the
// journey's created_at from the first check, which for a journey
// submitted once it happened is after its start, so no check is planned
// before the registry's batches could have run.
func (d *Discoverer) register(ctx context.Context, w *walk) (int, error) {
	var regs []tracker.Registration
	for _, id := range w.order {
		if _, ok := d.known[id]; !ok {
			regs = append(regs, tracker.Registration{ID: id, Source: tracker.SourceDiscovery})
		}
	}
	if len(regs) > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		added, err := d.cfg.Register(ctx, regs)
		added = max(0, min(added, len(regs)))
		if err != nil {
			return added, fmt.Errorf("registering %d discovered journeys: %w", len(regs), err)
		}
		d.cfg.Logger.Debug("discovered journeys registered", "registry", d.cfg.Name, "offered", len(regs), "new", added)
		d.known = w.seen
		return added, nil
	}
	d.known = w.seen
	return 0, nil
}

const (
	// maxPasses bounds the offset walks of one slice; maxStalePages stops
	// a walk whose pages bring nothing the walk has not seen, as when the
	// registry ignores offset.
	maxPasses     = 4
	maxStalePages = 2
	// overlap is the share of a page the next offset page repeats, so a
	// few rows shifting between two requests are not skipped.
	overlapDivisor = 10
)

// walk is one round's listing.
type walk struct {
	cfg      *Config
	ctx      context.Context
	counters *Counters
	seen     map[string]struct{}
	// order is seen in the order found, kept only with keepOrder: a round
	// registers in that order, a Pager hands out the set alone.
	order     []string
	keepOrder bool
	pages     int
	invalid   int
	// cut is the page size the registry was seen to cut pages at, below
	// the limit asked (docs/registry.md: a cap of 100 is intended, not
	// enforced); 0 while none was seen.
	cut int
	// confirmed is the largest short page shown this round to be the
	// whole result: a short page no larger needs no probe.
	confirmed int
	// incomplete is the first slice the round could not list to the end;
	// the round goes on with the others.
	incomplete error
	// density is the ids a second of start time last seen for each status.
	density map[string]float64
}

// cover lists the window [start, end] in slices, oldest first: if a round
// runs out of pages, the journeys about to leave the window are the ones
// it has listed, and the newer ones get another chance next round.
// Adjacent slices share their boundary second, so none is missed whether
// the registry's bounds are inclusive or not.
func (w *walk) cover(start, end time.Time) error {
	for s := start; s.Before(end); {
		e := s.Add(w.cfg.Slice)
		if e.After(end) {
			e = end
		}
		for _, status := range w.cfg.Statuses {
			if err := w.slice(status, s, e); err != nil {
				return err
			}
		}
		s = e
	}
	return nil
}

// slice lists one status over [s, e]. A short page is the whole result at
// the instant it was served, however the registry orders rows: nothing
// more is needed. A full page proves nothing, so the slice is split until
// its parts fit a page; a slice that the density seen so far says would
// fill a page is split before it is asked.
func (w *walk) slice(status string, s, e time.Time) error {
	span := e.Sub(s)
	if w.density[status]*span.Seconds() >= float64(w.pageLimit()) {
		return w.split(status, s, e, max(2, w.parts(status, span)))
	}
	ids, err := w.list(status, s, e, w.cfg.PageSize, 0)
	if err != nil {
		return err
	}
	w.add(ids)
	if !w.full(len(ids), w.cfg.PageSize) {
		cut, err := w.wasCut(status, s, e, w.cfg.PageSize, len(ids))
		if err != nil {
			return err
		}
		if !cut {
			w.density[status] = float64(len(ids)) / span.Seconds()
			return nil
		}
	}
	if span > time.Second {
		// A full page gives a floor on the density: at least halve.
		w.density[status] = max(w.density[status], float64(w.pageLimit())/span.Seconds())
		return w.split(status, s, e, max(2, w.parts(status, span)))
	}
	return w.dense(status, s, e)
}

// fill is the share of a page a slice is sized for from the density seen
// before it, leaving room for the rush hours.
const fill = 2.0 / 3

// parts returns how many slices a span should be cut into for each to
// fill a page by fill, by the density last seen for status; at most one a
// second.
func (w *walk) parts(status string, span time.Duration) int {
	expected := w.density[status] * span.Seconds()
	k := math.Ceil(expected / (fill * float64(w.pageLimit())))
	return int(max(1, min(k, float64(span/time.Second))))
}

// split lists [s, e] in k slices of whole seconds, oldest first.
func (w *walk) split(status string, s, e time.Time, k int) error {
	step := (e.Sub(s) / time.Duration(k)).Truncate(time.Second)
	for i := range k {
		a, b := s.Add(time.Duration(i)*step), s.Add(time.Duration(i+1)*step)
		if i == k-1 {
			b = e
		}
		if err := w.slice(status, a, b); err != nil {
			return err
		}
	}
	return nil
}

func (w *walk) pageLimit() int {
	if w.cut > 0 {
		return min(w.cfg.PageSize, w.cut)
	}
	return w.cfg.PageSize
}

// full tells whether a page of n ids may have more after it.
func (w *walk) full(n, limit int) bool {
	if w.cut > 0 {
		limit = min(limit, w.cut)
	}
	return n >= limit
}

// wasCut tells whether a short page of n ids was cut by the registry below
// the limit asked, by asking for what follows it. Only a page larger than
// any confirmed whole this round is probed, a few probes a round.
func (w *walk) wasCut(status string, s, e time.Time, limit, n int) (bool, error) {
	if n == 0 || n <= w.confirmed || w.cut > 0 {
		return false, nil
	}
	more, err := w.list(status, s, e, limit, n)
	if err != nil {
		return false, err
	}
	if len(more) == 0 {
		w.confirmed = n
		return false, nil
	}
	w.add(more)
	w.cut = n
	return true, nil
}

// dense lists a one-second slice whose page is full: more journeys started
// within that second than a page holds, as with an operator that rounds
// start times. A larger page is asked first, since a short page is exact;
// offset pages, which rows can shift between, come last.
func (w *walk) dense(status string, s, e time.Time) error {
	limit := w.cfg.PageSize
	for w.cut == 0 && limit < MaxPageSize {
		limit = min(limit*4, MaxPageSize)
		ids, err := w.list(status, s, e, limit, 0)
		if err != nil {
			return err
		}
		w.add(ids)
		if !w.full(len(ids), limit) {
			cut, err := w.wasCut(status, s, e, limit, len(ids))
			if err != nil || !cut {
				return err
			}
		}
	}
	if w.cut > 0 {
		limit = min(limit, w.cut)
	}
	return w.offsets(status, s, e, limit)
}

// offsets walks a slice by overlapping offset pages, again until a whole
// walk brings no id the round had not seen.
func (w *walk) offsets(status string, s, e time.Time, limit int) error {
	step := max(limit-limit/overlapDivisor, 1)
	where := fmt.Sprintf("%s journeys that started %s to %s", status, s.Format(time.RFC3339), e.Format(time.RFC3339))
	for pass := range maxPasses {
		inPass := map[string]struct{}{}
		fresh, stale := 0, 0
		for offset := 0; ; offset += step {
			ids, err := w.list(status, s, e, limit, offset)
			if err != nil {
				return err
			}
			fresh += w.add(ids)
			passFresh := 0
			for _, id := range ids {
				if _, ok := inPass[id]; !ok {
					inPass[id] = struct{}{}
					passFresh++
				}
			}
			if !w.full(len(ids), limit) {
				break
			}
			if passFresh > 0 {
				stale = 0
			} else if stale++; stale >= maxStalePages {
				w.markIncomplete(fmt.Errorf("%w: %s: offset pages repeat (does the registry ignore offset?)", ErrIncomplete, where))
				return nil
			}
		}
		if pass > 0 && fresh == 0 {
			return nil
		}
	}
	w.markIncomplete(fmt.Errorf("%w: %s: %d offset walks still found new ids", ErrIncomplete, where, maxPasses))
	return nil
}

func (w *walk) markIncomplete(err error) {
	if w.incomplete == nil {
		w.incomplete = err
	}
}

// list asks for one page, within the round's page budget.
func (w *walk) list(status string, s, e time.Time, limit, offset int) ([]string, error) {
	if w.pages >= w.cfg.MaxPagesPerRound {
		return nil, fmt.Errorf("%w: %d pages, the most a round may ask (max_pages_per_round)", ErrIncomplete, w.pages)
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	w.pages++
	w.counters.requests.Add(1)
	ids, err := w.cfg.Lister.ListJourneys(w.ctx, registry.ListQuery{Status: status, Start: s, End: e, Limit: limit, Offset: offset})
	if err != nil {
		return nil, fmt.Errorf("listing %s journeys that started %s to %s: %w",
			status, s.Format(time.RFC3339), e.Format(time.RFC3339), err)
	}
	return ids, nil
}

// add records ids and returns how many the round had not seen. An id that
// is not an operator_journey_id is skipped: the tracker could not follow
// it.
func (w *walk) add(ids []string) int {
	fresh := 0
	for _, id := range ids {
		if !registry.ValidOperatorJourneyID(id) {
			w.invalid++
			continue
		}
		if _, ok := w.seen[id]; ok {
			continue
		}
		w.seen[id] = struct{}{}
		if w.keepOrder {
			w.order = append(w.order, id)
		}
		fresh++
	}
	return fresh
}
