package tracker

import "time"

// Look is a due journey as a scheduler that reads the registry's lists
// needs it: what places it in the list's start-time filter, and what it
// was last known as.
type Look struct {
	ID        string
	Start     time.Time // zero when unknown
	CreatedAt time.Time // zero when unknown
	Status    string
	// Expired: refused as submitted more than 24 h after its start, so its
	// start is not within the day before its created_at.
	Expired bool
	// First: nothing is known of the journey yet; only its own check
	// tells a refusal within minutes.
	First bool
	// Settling: the look at or after SettleAfter; a journey the lists
	// cannot place gets its own check, once.
	Settling bool
	// Confirming: the look after the settled one; one the lists cannot
	// place is passed.
	Confirming bool
	// Window: the look falls after the batch window's first check
	// (BatchWindowStart plus BatchCheckDelay), when a verdict may be due.
	Window bool
	// LastCheck is the last check of its own, zero if none.
	LastCheck time.Time
	// Looked: a list lookup placed it before, since the tracker was
	// loaded.
	Looked bool
	// Recheck: a check Policy.PendingInterval asks for before the
	// batches; of its own when the list cannot hold the journey yet.
	Recheck bool
}

var statusTerms = Statuses.Index("terms_violation_error")
var termsExpired = uint8(1) << TermsReasons.Index("expired")

// NextLook is Next, with what the scheduler needs to know of the journey.
func (t *Tracker) NextLook(now time.Time) (Look, bool) {
	id, ok := t.Next(now)
	if !ok {
		return Look{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	j := &t.journeys[t.index[id]]
	at := now.Unix()
	anchor := t.policy.batchAnchor(j)
	return Look{
		ID: id, Start: unixOrZero(j.start), CreatedAt: unixOrZero(j.createdAt),
		Status:     Statuses.names[j.status],
		Expired:    j.status == statusTerms && j.terms&termsExpired != 0,
		First:      j.status == statusUnchecked,
		Settling:   at >= anchor+secs(t.policy.SettleAfter),
		Confirming: t.policy.ConfirmAfter > t.policy.SettleAfter && at >= anchor+secs(t.policy.ConfirmAfter),
		Window:     at >= anchor+secs(t.policy.BatchWindowStart+t.policy.BatchCheckDelay),
		LastCheck:  unixOrZero(j.lastCheck),
		Looked:     j.flags&flagLooked != 0,
		Recheck:    j.flags&flagRecheck != 0,
	}, true
}

// Listed records a status read in one of the registry's exact lists (ok,
// canceled, acquisition_error): the per-journey check would give the same
// status. The labels follow the registry's rules: a journey ok has none;
// a cancel clears fraud and anomaly labels and keeps the terms reasons;
// otherwise what was known is kept.
func (t *Tracker) Listed(id string, now time.Time, status string) {
	t.back(id, func(slot int32, j *journey, stale bool) {
		at := now.Unix()
		st := Statuses.Index(status)
		fraud, anomaly, terms := j.fraud, j.anomaly, j.terms
		switch status {
		case "ok":
			fraud, anomaly, terms = 0, 0, 0
		case "canceled":
			fraud, anomaly = 0, 0
		}
		if !stale {
			t.apply(j, at, st, fraud, anomaly, terms)
		}
		j.misses = 0
		j.flags = j.flags&^flagSkipped | flagLooked
		t.schedule(slot, at)
	})
}

// Unchanged records a look that found nothing new: the lists place the
// journey where its last known status says.
func (t *Tracker) Unchanged(id string, now time.Time) {
	t.back(id, func(slot int32, j *journey, _ bool) {
		at := now.Unix()
		t.apply(j, at, j.status, j.fraud, j.anomaly, j.terms)
		j.flags = j.flags&^flagSkipped | flagLooked
		t.schedule(slot, at)
	})
}

// Passed records a look that asked nothing (the lists cannot hold the
// journey yet, and it needs no check of its own): it waits for its next.
func (t *Tracker) Passed(id string, now time.Time) {
	t.back(id, func(slot int32, j *journey, _ bool) {
		j.flags &^= flagSkipped
		t.schedule(slot, now.Unix())
	})
}
