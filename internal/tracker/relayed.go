package tracker

import (
	"math"
	"time"
)

// Operation is an operator's call that changes a journey at the registry
// at once, as the proxy relays it.
type Operation uint8

const (
	// Cancel: POST /journeys/{id}/cancel; the journey is canceled.
	Cancel Operation = iota + 1
	// Patch: PATCH /journeys/{id}; the registry stores the update and
	// runs its checks again, so the journey is pending whatever it was.
	Patch
)

var statusCanceled = Statuses.Index("canceled")

// Change is an operator's call the registry accepted, as the proxy relayed
// it.
type Change struct {
	ID string
	Op Operation
	// Start is the start a PATCH stored (its start.datetime), zero when
	// unknown: the registry lists and batches the journey by it.
	Start time.Time
}

// Relayed records c, which the registry accepted at now (its success
// answer, not the request): registered from source if not tracked yet. It is a change like any a check finds: a transition at now,
// the gauges and the seen counters move. The labels follow the registry's
// rules as Listed applies them: a cancel clears fraud and anomaly labels
// and keeps the terms reasons; a PATCH clears the checks' labels too.
//
// A canceled journey is not looked at again until the late confirmation
// of decided journeys (settle and confirm looks): no time limit is put on
// a cancel, and a later check may still change it. A PATCHed one is
// planned as if its batch window started again now, when its own has
// begun: the registry's next batches decide it. It returns whether the
// journey was added.
func (t *Tracker) Relayed(now time.Time, source Source, c Change) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Not the journey's submission, which came earlier at a time
	// unknown: no submission lag is counted for it.
	slot, added := t.register(now, Registration{ID: c.ID, Source: source, Start: c.Start, Resubmission: true})
	j := &t.journeys[slot]
	at := now.Unix()
	switch c.Op {
	case Cancel:
		t.apply(j, at, statusCanceled, 0, 0, j.terms)
	case Patch:
		if !c.Start.IsZero() {
			j.start = c.Start.Unix()
		}
		j.rebatch = uint32(min(max(at-j.registered, 0)+1, math.MaxUint32))
		t.apply(j, at, statusPending, 0, 0, j.terms)
	default:
		return added
	}
	// A journey handed out for a look or a check is planned again when
	// the scheduler gives it back, which then knows that what it read may
	// predate this change (back).
	if j.heapIdx < 0 {
		j.heapIdx = heapRelayed
	} else {
		t.heapRemove(slot)
		if j.flags&flagExpiring != 0 {
			// Waiting for its removal: a PATCH may bring looks back.
			j.flags &^= flagExpiring
			t.expiring--
		}
		t.schedule(slot, at)
	}
	t.touch(slot)
	return added
}

// heapRelayed is the heap index of a journey handed out by Next that
// Relayed changed before it came back.
const heapRelayed = -2

// batchAnchor is what the batch frames, the settle and the confirming
// looks count from: the journey's anchor, or, when a PATCH restarted the
// registry's checks after its window began, that moment less
// BatchWindowStart: the window starts again at the PATCH.
func (p *Policy) batchAnchor(j *journey) int64 {
	a := j.anchor()
	if j.rebatch == 0 {
		return a
	}
	return max(a, j.registered+int64(j.rebatch)-1-secs(p.BatchWindowStart))
}
