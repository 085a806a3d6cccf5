package scheduler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// VerdictStatuses are the lists a verdict round reads over the start-time
// ranges of its journeys (docs/registry.md, "The list endpoint"). ok,
// canceled and acquisition_error are exact: a journey in one of them has
// that status.
// anomaly_error also lists fraud errors and failed checks under a status
// that takes precedence: a journey known pending found there was decided
// fraud_error or anomaly_error and needs its own check for the labels; one
// in none of the four is still pending (or refused, as already known).
var VerdictStatuses = []string{"canceled", "acquisition_error", "ok", "anomaly_error"}

// batchStatuses are what a round of pending journeys only reads between
// full rounds: the batches' verdicts. A cancel or an acquisition error
// meanwhile leaves the journey in neither, as if still pending, until the
// next full round (fullEvery).
var batchStatuses = []string{"ok", "anomaly_error"}

// fullEvery (schedule time) is the longest between two rounds that read
// every VerdictStatuses list.
const fullEvery = 3 * time.Hour

// Round timing (schedule time): a round waits up to roundGather for more
// looks to share its requests, unless none is due that soon. A frame of a
// pending journey whose start the list cannot give yet is checked on its
// own at most once per ownCheckEvery.
const (
	roundGather = 10 * time.Minute
	// confirmGather is roundGather for a round of settle and confirming
	// looks only: no verdict is due, and sharing saves requests.
	confirmGather = 2 * time.Hour
	ownCheckEvery = 6 * time.Hour
	// createdMargin widens the start range read from created_at: the
	// operator's clock and the registry's are not the same.
	createdMargin = time.Minute
)

// look is a journey handed out for a list lookup.
type look struct {
	tracker.Look
	lo, hi time.Time // the start-time range, [lo, hi), that holds its start
	// partial: [lo, hi) is only the part of the journey's range the list
	// holds yet; not finding it there tells nothing.
	partial bool
}

// bulk gathers the looks of the next verdict round and the journeys the
// last round left for a check of their own.
type bulk struct {
	mu     sync.Mutex
	looks  []look
	oldest time.Time // schedule time the first gathered look was due
	// urgent (schedule time) is when the first gathered look of a
	// pending journey was due; zero if none is gathered.
	urgent  time.Time
	running bool
	// lastFull (schedule time) is when a round last read every list.
	lastFull time.Time
	checks   []string // handed out, waiting for their own check
	// offUntil (schedule time): the registry refused a list it should
	// answer; until then looks go without lists (listsOffFor).
	offUntil time.Time
	warned   bool
	pager    discovery.Pager
}

type route uint8

const (
	routeCheck route = iota // a request of its own
	routeList               // the next verdict round
	routePass               // nothing to ask: the lists cannot place it yet
)

// route tells how a due journey is looked at.
func (s *Scheduler) route(l tracker.Look, now time.Time) (look, route) {
	if s.cfg.Lister == nil || l.First {
		return look{}, routeCheck
	}
	s.bulk.mu.Lock()
	off := now.Before(s.bulk.offUntil)
	s.bulk.mu.Unlock()
	if lo, hi, ok := startRange(l); ok && !off {
		w := registry.SafeListWindow(now)
		if w.Holds(lo, hi) {
			return look{Look: l, lo: lo, hi: hi}, routeList
		}
		// A start known only to lie in the day before created_at may
		// well be before the list's end already: the part of the range
		// the list holds is read, and only finding the journey tells.
		if l.Start.IsZero() && w.End.After(lo) && w.Holds(lo, w.End) {
			return look{Look: l, lo: lo, hi: w.End, partial: true}, routeList
		}
	}
	switch {
	case l.Confirming:
		return look{}, routePass
	case l.Settling, undecided(l.Status) && l.Recheck:
		return look{}, routeCheck
	case undecided(l.Status) && l.Window && (l.LastCheck.IsZero() || now.Sub(l.LastCheck) >= ownCheckEvery):
		// A start late in the UTC day is listed only 24 to 26 h later:
		// a verdict of an early batch must not wait for it.
		return look{}, routeCheck
	}
	return look{}, routePass
}

// startRange is the range of start times that holds the journey's start:
// its start, or else the day before its created_at (a journey is refused
// as expired when submitted later than that).
func startRange(l tracker.Look) (lo, hi time.Time, ok bool) {
	switch {
	case !l.Start.IsZero():
		lo = l.Start.Truncate(time.Second)
		return lo, lo.Add(time.Second), true
	case !l.CreatedAt.IsZero() && !l.Expired:
		return l.CreatedAt.Add(-24*time.Hour - createdMargin).Truncate(time.Second), l.CreatedAt.Add(createdMargin).Truncate(time.Second), true
	}
	return time.Time{}, time.Time{}, false
}

func (s *Scheduler) gather(l look, now time.Time) {
	b := &s.bulk
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.looks) == 0 {
		b.oldest = now
	}
	if b.urgent.IsZero() && undecided(l.Status) && !l.Settling {
		b.urgent = now
	}
	b.looks = append(b.looks, l)
}

// putBack returns to the tracker, due now, the looks gathered for a round
// that will not run and the journeys waiting for their own check: a
// stopped scheduler (a reload) must not keep them out of the queue.
func (s *Scheduler) putBack() {
	b := &s.bulk
	b.mu.Lock()
	ids := b.checks
	for _, l := range b.looks {
		ids = append(ids, l.ID)
	}
	b.looks, b.checks, b.urgent = nil, nil, time.Time{}
	b.mu.Unlock()
	now := s.cfg.Clock.Now()
	for _, id := range ids {
		s.cfg.Tracker.Retry(id, now)
		s.inFlight.Add(-1)
	}
}

// popCheck returns a journey a round left for its own check.
func (s *Scheduler) popCheck() (string, bool) {
	b := &s.bulk
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.checks) == 0 {
		return "", false
	}
	id := b.checks[len(b.checks)-1]
	b.checks = b.checks[:len(b.checks)-1]
	return id, true
}

// RoundDue is when the gathered looks' round starts, zero when none are
// gathered or a round is running: once the first look of a pending journey
// has waited roundGather (the oldest look confirmGather), or at once when
// no other journey is due before then.
func (s *Scheduler) RoundDue() time.Time {
	b := &s.bulk
	b.mu.Lock()
	n, oldest, urgent, running := len(b.looks), b.oldest, b.urgent, b.running
	b.mu.Unlock()
	if n == 0 || running {
		return time.Time{}
	}
	at := oldest.Add(confirmGather)
	if u := urgent.Add(roundGather); !urgent.IsZero() && u.Before(at) {
		at = u
	}
	if next, ok := s.cfg.Tracker.NextDue(); !ok || next.After(at) {
		return oldest
	}
	return at
}

// takeRound hands over the gathered looks when their round is due.
func (s *Scheduler) takeRound(now time.Time) []look {
	due := s.RoundDue()
	if due.IsZero() || due.After(now) {
		return nil
	}
	b := &s.bulk
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return nil
	}
	looks := b.looks
	b.looks, b.urgent, b.running = nil, time.Time{}, true
	return looks
}

// round reads the verdict lists over the ranges of looks and records what
// they say; journeys they cannot settle go to their own check.
func (s *Scheduler) round(ctx context.Context, looks []look) {
	defer func() {
		s.bulk.mu.Lock()
		s.bulk.running = false
		s.bulk.mu.Unlock()
	}()
	started := time.Now()
	statuses := batchStatuses
	if s.needsFull(looks) {
		statuses = VerdictStatuses
	}
	sets, err := s.readLists(ctx, ranges(looks), statuses)
	now := s.cfg.Clock.Now()
	if err == nil && len(statuses) == len(VerdictStatuses) {
		s.bulk.mu.Lock()
		s.bulk.lastFull = now
		s.bulk.mu.Unlock()
	}
	t := s.cfg.Tracker
	if err != nil && ctx.Err() == nil && listRefused(err) {
		// Each look gets its own check, and lists rest a while: the
		// registry will not answer them better in a minute.
		s.bulk.mu.Lock()
		s.bulk.offUntil = now.Add(listsOffFor)
		warn := !s.bulk.warned
		s.bulk.warned = true
		for _, l := range looks {
			s.bulk.checks = append(s.bulk.checks, l.ID)
		}
		s.bulk.mu.Unlock()
		log := s.cfg.Logger.Debug
		if warn {
			log = s.cfg.Logger.Warn
		}
		log("the registry refused a verdict list: journeys are checked one by one for a while", "registry", s.cfg.Name,
			"for", listsOffFor, "err", err)
		return
	}
	if err != nil {
		for _, l := range looks {
			s.inFlight.Add(-1)
			if ctx.Err() != nil {
				t.Retry(l.ID, now)
			}
		}
		if ctx.Err() == nil {
			s.failed(started, err, func(at time.Time) {
				for _, l := range looks {
					t.Retry(l.ID, at)
				}
			})
		}
		return
	}
	s.succeeded(started)
	var own []string
	for _, l := range looks {
		in := func(st string) bool { _, ok := sets[st][l.ID]; return ok }
		switch {
		case l.partial && !in("canceled") && !in("acquisition_error") && !in("ok") && !in("anomaly_error"):
			// Its start may lie in the part the list does not hold yet.
			s.cfg.Tracker.Passed(l.ID, now)
		case in("canceled"):
			t.Listed(l.ID, now, "canceled")
			s.counters.listVerdicts[ListVerdictCanceled].Add(1)
		case in("acquisition_error"):
			t.Listed(l.ID, now, "acquisition_error")
			s.counters.listVerdicts[ListVerdictAcquisitionError].Add(1)
		case in("ok"):
			t.Listed(l.ID, now, "ok")
			s.counters.listVerdicts[ListVerdictOK].Add(1)
		case in("anomaly_error"):
			switch l.Status {
			case "fraud_error", "anomaly_error", "terms_violation_error":
				t.Unchanged(l.ID, now)
				s.counters.listVerdicts[ListVerdictUnchanged].Add(1)
			default:
				own = append(own, l.ID)
				continue
			}
		case l.Status == "terms_violation_error":
			t.Unchanged(l.ID, now)
			s.counters.listVerdicts[ListVerdictUnchanged].Add(1)
		case undecided(l.Status):
			if l.Settling && !l.Confirming {
				own = append(own, l.ID)
				continue
			}
			t.Unchanged(l.ID, now)
			s.counters.listVerdicts[ListVerdictUnchanged].Add(1)
		default:
			// Known decided, now in none of the lists its status is in:
			// the registry changed its mind (a PATCH).
			own = append(own, l.ID)
			continue
		}
		s.inFlight.Add(-1)
	}
	s.counters.listed.Add(uint64(len(looks) - len(own)))
	if len(own) > 0 {
		s.bulk.mu.Lock()
		s.bulk.checks = append(s.bulk.checks, own...)
		s.bulk.mu.Unlock()
	}
}

// needsFull tells whether a round must read every list: a journey that
// is decided, or at its settle or confirming look, is placed only by the
// list of its status; and pending ones read them every fullEvery.
func (s *Scheduler) needsFull(looks []look) bool {
	s.bulk.mu.Lock()
	last := s.bulk.lastFull
	s.bulk.mu.Unlock()
	if last.IsZero() || s.cfg.Clock.Now().Sub(last) >= fullEvery {
		return true
	}
	for _, l := range looks {
		if !undecided(l.Status) || l.Settling || l.Confirming || !l.Looked {
			return true
		}
	}
	return false
}

// readLists lists statuses over each range, each answer complete.
func (s *Scheduler) readLists(ctx context.Context, rs [][2]time.Time, statuses []string) (map[string]map[string]struct{}, error) {
	sets := map[string]map[string]struct{}{}
	for _, st := range VerdictStatuses {
		sets[st] = map[string]struct{}{}
	}
	p := &s.bulk.pager
	p.Lister, p.PageSize = s.cfg.Lister, s.cfg.ListPageSize
	for _, r := range rs {
		for _, st := range statuses {
			ids, pages, err := p.Complete(ctx, st, r[0], r[1])
			s.dispatched.Add(int64(pages))
			s.counters.listRequests.Add(uint64(pages))
			if err != nil {
				return nil, err
			}
			for id := range ids {
				sets[st][id] = struct{}{}
			}
		}
	}
	return sets, nil
}

// undecided tells the statuses the registry may still change in the
// ordinary course.
func undecided(status string) bool {
	return status == "pending" || status == tracker.StatusUnchecked || status == tracker.StatusNotFound
}

// listsOffFor (schedule time) is how long looks go without lists after
// the registry refused one; a pending journey is then checked on its own
// at most once every ownCheckEvery.
const listsOffFor = 6 * time.Hour

// listRefused tells the list failures that retrying soon will not mend:
// a request refused as such, an answer that could not be read, or pages
// that could not be proven complete.
func listRefused(err error) bool {
	switch registry.KindOf(err) {
	case registry.KindBadRequest, registry.KindNotFound, registry.KindDecode, registry.KindServerError:
		return true
	}
	return errors.Is(err, discovery.ErrIncomplete)
}

// mergeGap: ranges closer than this are read as one; the lists hold few
// journeys of an operator's hour beside what a request costs.
const mergeGap = time.Hour

// ranges merges the looks' start ranges.
func ranges(looks []look) [][2]time.Time {
	rs := make([][2]time.Time, 0, len(looks))
	for _, l := range looks {
		rs = append(rs, [2]time.Time{l.lo, l.hi})
	}
	slices.SortFunc(rs, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var out [][2]time.Time
	for _, r := range rs {
		if n := len(out); n > 0 && !r[0].After(out[n-1][1].Add(mergeGap)) {
			if r[1].After(out[n-1][1]) {
				out[n-1][1] = r[1]
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
