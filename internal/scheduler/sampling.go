package scheduler

import (
	"context"
	"math"
	"time"
)

// minRatio keeps a trickle of journeys followed however tight the budget.
const minRatio = 0.001

// plan re-plans the sampling ratio every Tick until ctx ends.
func (s *Scheduler) plan(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	s.adjust(time.Now(), s.cfg.Clock.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.adjust(now, s.cfg.Clock.Now())
		}
	}
}

// adjust re-plans the sampling ratio from what it observes: the backlog
// of due checks of followed journeys, and how much of the budget the
// checks used. When the backlog would take longer than MaxDelay (schedule
// time) to drain at the budget's rate, fewer journeys are followed, at
// most half as many per tick; when the budget has room and the backlog is
// short, more are, a quarter more per tick. Demand is not estimated: the
// checks of journeys left out and offered again would inflate it.
func (s *Scheduler) adjust(wall, now time.Time) {
	due, dueSampled := s.cfg.Tracker.DueCount(now, s.sampled)
	// The journeys verdict rounds left for checks of their own are due
	// too.
	s.bulk.mu.Lock()
	due += len(s.bulk.checks)
	dueSampled += len(s.bulk.checks)
	s.bulk.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.due = due
	dispatched := s.dispatched.Swap(0)
	if s.lastWall.IsZero() {
		s.lastWall, s.lastClock = wall, now
		return
	}
	dt := wall.Sub(s.lastWall).Seconds()
	if dt <= 0 || s.cfg.Rate <= 0 {
		return
	}
	// A clock that stood still (a test's manual clock) is taken as real
	// time rather than as infinitely patient.
	speed := max(now.Sub(s.lastClock).Seconds()/dt, 1)
	s.lastWall, s.lastClock = wall, now

	ratio := s.Ratio()
	drain := float64(dueSampled) / s.cfg.Rate * speed
	limit := s.cfg.MaxDelay.Seconds()
	used := float64(dispatched) / dt / s.cfg.Rate
	switch {
	case drain > limit:
		ratio *= max(0.5, limit/drain)
	case ratio < 1 && drain < limit/2 && used < 0.9:
		ratio = ratio*1.25 + 0.01
	}
	s.ratioBits.Store(math.Float64bits(min(max(ratio, minRatio), 1)))
}

// Stats are a scheduler's figures for the metrics.
type Stats struct {
	State         string
	SamplingRatio float64
	// Due is the backlog of checks due, as of the last planning tick.
	Due int
	// InFlight is the number of checks under way now, and of journeys
	// waiting for a verdict round or for their own check after one.
	InFlight    int
	Outcomes    [numOutcomes]uint64
	LastSuccess time.Time // wall time of the last answered check; zero if none
	// ListRequests are the verdict rounds' list requests; Listed the
	// looks they settled without a check of their own.
	ListRequests, Listed uint64
	// ListVerdicts are the listed looks the lists gave a verdict (the
	// others were passed: the lists could not hold them yet), by
	// ListVerdictNames.
	ListVerdicts [numListVerdicts]uint64
	// Gathered are the looks waiting for the next verdict round, among
	// InFlight.
	Gathered int
}

// Stats returns the scheduler's figures.
func (s *Scheduler) Stats() Stats {
	st := Stats{State: StateNames[s.state.Load()], SamplingRatio: s.Ratio(), InFlight: int(s.inFlight.Load())}
	s.mu.Lock()
	st.Due = s.due
	s.mu.Unlock()
	for i := range st.Outcomes {
		st.Outcomes[i] = s.counters.outcomes[i].Load()
	}
	if ns := s.counters.lastSuccess.Load(); ns != 0 {
		st.LastSuccess = time.Unix(0, ns)
	}
	st.ListRequests, st.Listed = s.counters.listRequests.Load(), s.counters.listed.Load()
	for i := range st.ListVerdicts {
		st.ListVerdicts[i] = s.counters.listVerdicts[i].Load()
	}
	s.bulk.mu.Lock()
	st.Gathered = len(s.bulk.looks)
	s.bulk.mu.Unlock()
	return st
}
