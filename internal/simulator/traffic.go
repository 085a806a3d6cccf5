package simulator

import "errors"

// ErrNoTraffic is returned when the simulator was built without a traffic
// generator: there is nothing to read or change.
var ErrNoTraffic = errors.New("the simulator generates no traffic")

// Traffic returns the generator's current settings.
func (s *Simulator) Traffic() (Traffic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == nil {
		return Traffic{}, ErrNoTraffic
	}
	return s.gen.cfg, nil
}

// UpdateTraffic applies change to a copy of the generator's settings and,
// if the result is valid, makes its rate and ratios the ones used from the
// next generated case on. Read and write happen under one lock so that
// concurrent updates of different fields do not undo each other. Backfill,
// OperatorID and OnSubmit cannot change at run time: the history is already
// generated, and the submissions already reported belong to that operator.
func (s *Simulator) UpdateTraffic(change func(*Traffic)) (Traffic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == nil {
		return Traffic{}, ErrNoTraffic
	}
	next := s.gen.cfg
	change(&next)
	if err := next.validate(); err != nil {
		return s.gen.cfg, err
	}
	// Field by field rather than the whole struct: report reads OnSubmit
	// outside the lock, so that word must never be written.
	c := &s.gen.cfg
	c.PerHour = next.PerHour
	c.LateRatio = next.LateRatio
	c.DuplicateRatio = next.DuplicateRatio
	c.FraudRatio = next.FraudRatio
	c.AnomalyRatio = next.AnomalyRatio
	c.ShortRatio = next.ShortRatio
	c.TooManyRatio = next.TooManyRatio
	c.TooCloseRatio = next.TooCloseRatio
	c.AcquisitionErrorRatio = next.AcquisitionErrorRatio
	c.CancelRatio = next.CancelRatio
	c.Delay = next.Delay
	c.DelayGrowth = next.DelayGrowth
	return *c, nil
}
