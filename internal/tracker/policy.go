package tracker

import (
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Policy says when a journey is checked. Offsets marked "from the anchor"
// count from the journey's start when known, else from its created_at at
// the registry, else from its registration.
//
// The fraud and anomaly batches' timing is not public (docs/registry.md,
// "Status lifecycle"): they take the journeys that started in [now − DELAY −
// FRAME, now − DELAY); the servers' example settings say DELAY 24 h, FRAME
// 6 h, older notes 48 h and 6 h. The batch window covers both: a frame at
// each of its ends, each checked BatchCheckDelay after its two edges (25,
// 31, 49 and 55 h by default), so a verdict is seen within about an hour
// of the batches whichever setting the registry runs.
type Policy struct {
	FirstCheckDelay time.Duration // after registration
	PendingInterval time.Duration // between checks of a pending journey before the batches
	// BatchWindowStart and BatchWindowEnd, from the anchor, bound where
	// the registry's batches may run; BatchFrame is the width of one
	// batch's frame, one at each end of the window. A journey is checked
	// BatchCheckDelay after each frame's edges.
	BatchWindowStart time.Duration
	BatchWindowEnd   time.Duration
	BatchFrame       time.Duration
	BatchCheckDelay  time.Duration
	SettleAfter      time.Duration // from the anchor: the last check
	Retention        time.Duration // from the anchor: when the journey is forgotten
	// RetryAfterSkip: when a journey never checked misses its last
	// planned check to sampling, it is offered again this much later, so
	// a burst of old journeys is caught up once the budget allows.
	RetryAfterSkip time.Duration
	// MaxNotFound: after this many 404s in a row a journey is no longer
	// polled.
	MaxNotFound int
	// Bulk plans for a scheduler that learns verdicts from the registry's
	// lists (issue 14): a journey whose registration already gave its
	// status (the proxy) skips the first check; a pending journey is
	// looked at every ListInterval, on ticks shared by every journey, while
	// a batch frame may decide it; a decided one is confirmed at
	// SettleAfter and again at ConfirmAfter (when later). Looks are list
	// lookups where the list can answer; Look says which need a request
	// of their own.
	Bulk         bool
	ListInterval time.Duration
	ConfirmAfter time.Duration
}

// Bulk defaults: a verdict of an hourly batch is seen within half an hour
// (plus the round's own time), and a late cancel or PATCH within a week.
const (
	DefaultListInterval = 30 * time.Minute
	DefaultConfirmAfter = 7 * 24 * time.Hour
)

// WithBulk returns p planned for list lookups, with the bulk defaults
// where p leaves them zero.
func (p Policy) WithBulk() Policy {
	p.Bulk = true
	if p.ListInterval <= 0 {
		p.ListInterval = DefaultListInterval
	}
	if p.ConfirmAfter <= 0 {
		p.ConfirmAfter = DefaultConfirmAfter
	}
	return p
}

// DefaultPolicy follows docs/registry.md's "Status lifecycle": the batch
// window covers 24 to 54 h after the start.
var DefaultPolicy = Policy{
	FirstCheckDelay:  10 * time.Minute,
	PendingInterval:  24 * time.Hour,
	BatchWindowStart: 24 * time.Hour,
	BatchWindowEnd:   54 * time.Hour,
	BatchFrame:       6 * time.Hour,
	BatchCheckDelay:  time.Hour,
	SettleAfter:      72 * time.Hour,
	Retention:        30 * 24 * time.Hour,
	RetryAfterSkip:   time.Hour,
	MaxNotFound:      3,
}

// earlyFrameMisses: after this many journeys in a row still pending at
// the check after the early frame's end, the tracker takes it that the
// registry runs its batches late in the window and stops checking at the
// early frame's end. A registry running the early frame has decided every
// journey by then, whatever its batches' cadence (the last batch passes
// what is left), so a few in a row are enough; a journey whose geographic
// processing is still pending is the exception. One early verdict, at the
// check after the early frame's start, brings the check back.
//
// A tracker starts as if the registry ran its batches late (the older
// notes, and what the exporter assumed so far): a registry running them
// early shows it at the first check after the early frame's start, and the
// journeys already planned for the late frame are then brought back to the
// early frame's end.
const earlyFrameMisses = 3

// anchor is the journey's start, created_at or registration, in Unix
// seconds.
func (j *journey) anchor() int64 {
	switch {
	case j.start != 0:
		return j.start
	case j.createdAt != 0:
		return j.createdAt
	}
	return j.registered
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// frames gives the window's two frames, [early, early+frame) and
// [late−frame, late), as offsets from the anchor; split is false when the
// window is too narrow to hold two distinct frames.
func (p *Policy) frames() (earlyEnd, lateStart int64, split bool) {
	frame := min(p.BatchFrame, p.BatchWindowEnd-p.BatchWindowStart)
	if frame <= 0 {
		return 0, 0, false
	}
	earlyEnd, lateStart = secs(p.BatchWindowStart+frame), secs(p.BatchWindowEnd-frame)
	return earlyEnd, lateStart, earlyEnd < lateStart
}

// batchChecks lists the planned batch checks, offsets from the anchor in
// order: each frame's edges plus BatchCheckDelay. lateOnly drops the check
// after the early frame's end, once the registry was seen deciding nothing
// in it.
func (p *Policy) batchChecks(lateOnly bool) []int64 {
	d := secs(p.BatchCheckDelay)
	out := []int64{secs(p.BatchWindowStart) + d}
	if earlyEnd, lateStart, split := p.frames(); split {
		if !lateOnly {
			out = append(out, earlyEnd+d)
		}
		out = append(out, lateStart+d)
	}
	if last := secs(p.BatchWindowEnd) + d; last > out[len(out)-1] {
		out = append(out, last)
	}
	return out
}

// next returns when the journey is next checked after the moment after,
// or 0 when it is no longer polled, and whether that look is a
// pending_interval recheck (only a list-reading scheduler plans those).
func (p *Policy) next(j *journey, after int64, lateOnly bool) (int64, bool) {
	if p.Bulk {
		return p.nextBulk(j, after, lateOnly)
	}
	return p.nextCheck(j, after, lateOnly), false
}

// nextCheck is next for a scheduler that checks journeys one by one.
func (p *Policy) nextCheck(j *journey, after int64, lateOnly bool) int64 {
	anchor := p.batchAnchor(j)
	settle := anchor + secs(p.SettleAfter)
	if j.checks == 0 && j.flags&flagSkipped == 0 {
		return max(j.registered+secs(p.FirstCheckDelay), after)
	}
	if j.status == statusNotFound && int(j.misses) >= p.MaxNotFound {
		return 0
	}
	if after >= settle {
		if j.checks == 0 {
			return after + max(secs(p.RetryAfterSkip), 1)
		}
		return 0
	}
	if !j.undecided() {
		return settle
	}
	pending := max(secs(p.PendingInterval), 1)
	for _, off := range p.batchChecks(lateOnly) {
		at := anchor + off
		if after >= at {
			continue
		}
		if after+pending < at-pending/2 {
			return after + pending
		}
		// A re-check this close to the batches would tell nothing the
		// batch check will not.
		return at
	}
	return settle
}

// nextBulk is next for a list-reading scheduler. Only a journey never
// seen (no check, no status from its registration) needs its first check
// early: it shows a refusal within minutes. A pending one is then looked
// at on the shared ticks of ListInterval while a frame may decide it: both
// frames while the registry is seen deciding early, else one look after
// the early frame's start (to notice it does) and the late frame.
func (p *Policy) nextBulk(j *journey, after int64, lateOnly bool) (due int64, recheck bool) {
	anchor := p.batchAnchor(j)
	if j.status == statusUnchecked && j.flags&flagSkipped == 0 {
		return max(j.registered+secs(p.FirstCheckDelay), after), false
	}
	if j.status == statusNotFound && int(j.misses) >= p.MaxNotFound {
		return 0, false
	}
	settle := anchor + secs(p.SettleAfter)
	iv := max(secs(p.ListInterval), 1)
	tick := func(x int64) int64 { return (x/iv + 1) * iv } // the first tick after x
	if after >= settle {
		if j.status == statusUnchecked {
			return after + max(secs(p.RetryAfterSkip), 1), false
		}
		if confirm := anchor + secs(p.ConfirmAfter); after < confirm {
			return confirm, false
		}
		return 0, false
	}
	next := settle
	if j.checks == 0 && j.start != 0 && j.flags&flagLooked == 0 && j.status != statusCanceled {
		// Known only from its registration (the proxy): a cancel or an
		// acquisition error since shows in the first list that can hold
		// it, shared by every journey of its day. Nothing takes
		// precedence over a cancel: one the proxy saw waits for the
		// confirming looks.
		if from := registry.ListableFrom(time.Unix(j.start, 0)).Unix(); from > after {
			next = min(tick(from), settle)
		}
	}
	if !j.undecided() {
		return next, false
	}
	next = min(next, p.frameLook(j, after, lateOnly, tick))
	// A pending_interval shorter than the wait for the batches asks for
	// checks meanwhile, as without lists; they are checks of their own
	// while the list cannot hold the journey yet.
	if pending := max(secs(p.PendingInterval), 1); after+pending < next-pending/2 {
		return after + pending, true
	}
	return next, false
}

// frameLook is the next look of a pending journey within the batch
// frames, else its settle look.
func (p *Policy) frameLook(j *journey, after int64, lateOnly bool, tick func(int64) int64) int64 {
	anchor := p.batchAnchor(j)
	settle := anchor + secs(p.SettleAfter)
	iv := max(secs(p.ListInterval), 1)
	d := secs(p.BatchCheckDelay)
	earlyEnd, lateStart, split := p.frames()
	probe := secs(p.BatchWindowStart) + d
	frames := [][2]int64{{secs(p.BatchWindowStart), secs(p.BatchWindowEnd) + d}}
	if split {
		early := [2]int64{secs(p.BatchWindowStart), earlyEnd + d}
		frames = [][2]int64{early, {lateStart, secs(p.BatchWindowEnd) + d}}
		switch {
		case lateOnly && j.start == 0:
			// Journeys with a known start tell whether the early
			// frame is live.
			frames = frames[1:]
		case lateOnly:
			// One look, on the first tick from the probe on.
			frames[0] = [2]int64{probe, probe + iv - 1}
		}
	}
	// Without the start, the frames cover every start the journey may
	// have had: within the day before its created_at, unless refused as
	// expired.
	first := anchor
	if j.start == 0 && j.rebatch == 0 && j.createdAt != 0 && (j.status != statusTerms || j.terms&termsExpired == 0) {
		first = j.createdAt - secs(24*time.Hour)
	}
	for _, f := range frames {
		lo, hi := first+f[0], anchor+f[1]
		if at := max(tick(after), tick(lo-1)); at <= hi {
			return min(at, settle)
		}
	}
	return settle
}

// learn reads what a check of a journey with a known start says of the
// registry's batch timing: a verdict (pending to decided) before the late
// frame's check means the early frame is live; a journey still pending at
// the check after the early frame's end counts as a miss.
func (t *Tracker) learn(j *journey, at int64, was, now uint8) {
	p := &t.policy
	earlyEnd, lateStart, split := p.frames()
	if !split || j.start == 0 || j.rebatch != 0 {
		// Without the start, created_at may be up to a day later: a
		// verdict of the late frame could pass for an early one. After
		// a PATCH, the verdict's timing is the PATCH's, not the start's.
		return
	}
	age := at - j.anchor()
	d := secs(p.BatchCheckDelay)
	switch {
	case age < secs(p.BatchWindowStart) || age >= lateStart+d:
	case (was == statusPending || was == statusUnchecked) && decidedByBatch(now) && age < lateStart:
		t.earlyMisses = 0
		if t.lateOnly {
			t.lateOnly = false
			t.replanEarlyEnd(at, earlyEnd+d, lateStart+d)
		}
	case now == statusPending && age >= earlyEnd+d:
		if t.earlyMisses++; t.earlyMisses >= earlyFrameMisses {
			t.lateOnly = true
		}
	}
}

var statusOK, statusFraud, statusAnomaly = Statuses.Index("ok"), Statuses.Index("fraud_error"), Statuses.Index("anomaly_error")

func decidedByBatch(s uint8) bool { return s == statusOK || s == statusFraud || s == statusAnomaly }

// replanEarlyEnd brings the journeys planned for the late frame's check
// (offset late) back to the early frame's end (offset early) when that is
// still to come: the registry was just seen deciding in the early frame.
// It walks every queued journey, once per change of mind.
func (t *Tracker) replanEarlyEnd(now, early, late int64) {
	moved := false
	for _, slot := range t.queue {
		j := &t.journeys[slot]
		if t.policy.Bulk {
			// Looks cost little: every pending journey's next look is
			// planned again, now that the early frame decides.
			if j.undecided() && j.status != statusUnchecked && j.flags&flagExpiring == 0 {
				// A look kept where it was keeps its own recheck bit.
				if due, recheck := t.policy.next(j, now, false); due < j.due {
					j.due = due
					j.setRecheck(recheck)
					t.touch(slot)
					moved = true
				}
			}
			continue
		}
		if j.start == 0 || !j.undecided() || j.checks == 0 || j.flags&flagExpiring != 0 {
			continue
		}
		if a := t.policy.batchAnchor(j); j.due == a+late && a+early > now {
			j.due = a + early
			t.touch(slot)
			moved = true
		}
	}
	if moved {
		for i := len(t.queue)/2 - 1; i >= 0; i-- {
			t.down(i)
		}
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// skipsEarlyEnd tells whether a journey handed out for its check after
// the early frame's end can pass it: the registry was seen deciding
// nothing in the early frame since it was planned.
func (t *Tracker) skipsEarlyEnd(j *journey) bool {
	earlyEnd, _, split := t.policy.frames()
	return t.lateOnly && split && !t.policy.Bulk && j.undecided() && j.checks > 0 &&
		j.due == t.policy.batchAnchor(j)+earlyEnd+secs(t.policy.BatchCheckDelay)
}

// expiry is when the journey leaves the tracker.
func (p *Policy) expiry(j *journey) int64 {
	return j.anchor() + secs(p.Retention)
}
