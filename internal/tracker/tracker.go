// Package tracker keeps every journey the exporter follows: its last known
// status, labels and reasons, where and when it was registered, when it was
// checked and when it is due next. It keeps the counts the metrics need up
// to date on every change, so reading them costs the same with ten or a
// million journeys.
package tracker

import (
	"slices"
	"sync"
	"time"
)

// Registration announces a journey to follow. Status and TermsReasons are
// set when the registration already knows them, e.g. from the answer to
// the journey's submission.
type Registration struct {
	ID           string
	Source       Source
	Start        time.Time // zero when unknown
	Status       string
	TermsReasons []string
	// SubmittedAt is when the operator submitted the journey to the
	// registry, for a registration that comes from that submission
	// (Source.Submits); zero means at the registration itself, as with the
	// proxy, which registers while it relays the answer. A submission
	// before the registration (the demo's history, reported when the
	// exporter starts) is when the journey is registered: its
	// registered_at, the lag filter that reads it and the lag histogram
	// then say the same. One after the registration (a clock skew) is
	// not: a journey is never registered in the tracker's future.
	SubmittedAt time.Time
	// Resubmission says the registry already had the journey (the
	// proxy's 409, or a cancel or PATCH it relayed): this is not its
	// first submission, whose time is not known, so no submission lag is
	// counted for it, not even as unknown.
	Resubmission bool
}

// Result is what a status check found.
type Result struct {
	Status        string
	CreatedAt     time.Time // zero when the registry did not say
	FraudLabels   []string
	AnomalyLabels []string
	TermsReasons  []string
}

const (
	flagSkipped    uint8 = 1 << iota // a planned check was skipped by sampling
	flagExpiring                     // no more checks: the next event is its removal
	flagSettled                      // its time to a settled status was observed
	flagOverdue                      // still pending when seen after its batch window
	flagDirty                        // changed since the last TakeChanges; never stored
	flagHistoryCut                   // its oldest transitions were dropped (maxTransitions)
	flagLooked                       // placed by a list lookup since it was loaded; never stored
	flagRecheck                      // its next look is a pending_interval check; never stored
)

// journey is kept small: a tracker may hold millions. Times are Unix
// seconds, 0 when unknown.
type journey struct {
	id                                string
	history                           string // transitions, see history.go
	seq                               uint64 // registration order, for paging; 0 on a free slot
	start, createdAt, registered      int64
	lastCheck, due                    int64
	heapIdx                           int32
	seenStatus                        uint16
	status                            uint8
	fraud, anomaly, terms             uint8
	seenFraud, seenAnomaly, seenTerms uint8
	source                            Source
	checks, misses, flags             uint8
	// rebatch is when a PATCH made the registry run the journey's checks
	// again (Relayed), in seconds after registered plus one; 0 if never.
	// It fits the struct's padding: a million journeys cost no more.
	rebatch uint32
}

var statusPending, statusUnchecked, statusNotFound = Statuses.Index("pending"), Statuses.Index(StatusUnchecked), Statuses.Index(StatusNotFound)

// undecided tells whether the registry may still change its mind in the
// ordinary course: pending, or not known yet.
func (j *journey) undecided() bool {
	return j.status == statusPending || j.status == statusUnchecked || j.status == statusNotFound
}

// Tracker holds the journeys of one registry. It is safe for concurrent
// use.
type Tracker struct {
	mu       sync.Mutex
	policy   Policy
	journeys []journey
	free     []int32
	index    map[string]int32
	queue    []int32 // min-heap of slots by due
	expiring int
	stats    Stats
	changes  changeLog // what TakeChanges hands to the store
	order    order     // slots in registration order, for listing
	latest   Latest
	wake     chan struct{}
	// What the checks taught of the registry's batch timing (learn).
	earlyMisses int
	lateOnly    bool
}

// New returns an empty tracker following policy.
func New(policy Policy) *Tracker {
	return &Tracker{policy: policy, index: map[string]int32{}, stats: newStats(), order: newOrder(), latest: newLatest(),
		wake: make(chan struct{}, 1), lateOnly: true}
}

// Wake receives when the earliest event became earlier (a journey was
// registered, restored or rescheduled ahead of the others): whoever sleeps
// until NextDue must look again.
func (t *Tracker) Wake() <-chan struct{} { return t.wake }

// SetPolicy changes the policy; each journey follows it from its next
// event on.
func (t *Tracker) SetPolicy(p Policy) {
	t.mu.Lock()
	t.policy = p
	t.mu.Unlock()
}

// Grow makes room for n more journeys, so that registering a large batch
// does not leave the runtime holding the outgrown arrays of every doubling.
func (t *Tracker) Grow(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n -= len(t.free)
	if n <= 0 {
		return
	}
	t.journeys = slices.Grow(t.journeys, n)
	t.queue = slices.Grow(t.queue, n)
	if len(t.index) == 0 {
		t.index = make(map[string]int32, n)
	}
}

// Register starts following a journey, due for a first check after the
// policy's FirstCheckDelay. It is idempotent: registering a tracked id
// again only fills in a start time it did not have, and returns false.
func (t *Tracker) Register(now time.Time, r Registration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, added := t.register(now, r)
	return added
}

// register is Register, giving the journey's slot; t.mu is held.
func (t *Tracker) register(now time.Time, r Registration) (int32, bool) {
	if slot, ok := t.index[r.ID]; ok {
		j := &t.journeys[slot]
		if j.start == 0 && !r.Start.IsZero() {
			j.start = r.Start.Unix()
			t.touch(slot)
		}
		return slot, false
	}
	var slot int32
	if n := len(t.free); n > 0 {
		slot, t.free = t.free[n-1], t.free[:n-1]
	} else {
		t.journeys = append(t.journeys, journey{})
		slot = int32(len(t.journeys) - 1)
	}
	registered := now
	if r.Source.Submits() && !r.SubmittedAt.IsZero() && r.SubmittedAt.Before(now) {
		registered = r.SubmittedAt
	}
	t.journeys[slot] = journey{id: r.ID, registered: registered.Unix(), source: r.Source, heapIdx: -1, status: statusUnchecked}
	j := &t.journeys[slot]
	j.seq = t.order.add(slot)
	if !r.Start.IsZero() {
		j.start = r.Start.Unix()
	}
	t.index[r.ID] = slot
	if r.Source.Submits() && !r.Resubmission {
		submitted := r.SubmittedAt
		if submitted.IsZero() {
			submitted = now
		}
		t.stats.observeLag(r.Source, r.Start, submitted)
	}
	t.stats.Tracked++
	t.stats.BySource[r.Source]++
	t.stats.Registered[r.Source]++
	t.stats.ByStatus[j.status]++
	t.stats.SeenStatus[j.status]++
	t.latest.Status[j.status] = r.ID
	j.seenStatus = 1 << j.status
	if r.Status != "" {
		// The answer to the submission, at the submission.
		t.apply(j, j.registered, Statuses.Index(r.Status), 0, 0, TermsReasons.mask(r.TermsReasons))
	}
	// Planned from now: a registration told late plans no look in the
	// past, only its first check is due at once.
	t.schedule(slot, now.Unix())
	t.touch(slot)
	return slot, true
}

// Next hands out the earliest journey due at now for a check; it is out of
// the queue until Checked, NotFound, Retry or Skip. Journeys whose
// retention ended are dropped on the way.
func (t *Tracker) Next(now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := now.Unix()
	for len(t.queue) > 0 {
		slot := t.queue[0]
		j := &t.journeys[slot]
		if j.due > at {
			return "", false
		}
		t.heapRemove(slot)
		if j.flags&flagExpiring != 0 {
			t.remove(slot)
			continue
		}
		if t.skipsEarlyEnd(j) {
			// Planned before the registry was seen to decide nothing
			// early: passed without a request.
			t.schedule(slot, j.due)
			t.touch(slot)
			continue
		}
		return j.id, true
	}
	return "", false
}

// NextDue is when the earliest event is due, false when nothing is queued.
func (t *Tracker) NextDue() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return time.Time{}, false
	}
	return time.Unix(t.journeys[t.queue[0]].due, 0), true
}

// Checked records a successful check.
func (t *Tracker) Checked(id string, now time.Time, r Result) {
	t.back(id, func(slot int32, j *journey, stale bool) {
		if !r.CreatedAt.IsZero() {
			j.createdAt = r.CreatedAt.Unix()
		}
		at := now.Unix()
		if !stale {
			t.apply(j, at, Statuses.Index(r.Status), FraudLabels.mask(r.FraudLabels), AnomalyLabels.mask(r.AnomalyLabels), TermsReasons.mask(r.TermsReasons))
		}
		j.lastCheck = at
		j.misses = 0
		j.checks = satInc(j.checks)
		j.flags &^= flagSkipped
		t.schedule(slot, at)
	})
}

// NotFound records that the registry does not know the journey (404). It
// keeps its place in the gauges as not_found and is checked again as
// planned, until MaxNotFound answers in a row.
func (t *Tracker) NotFound(id string, now time.Time) {
	t.back(id, func(slot int32, j *journey, stale bool) {
		at := now.Unix()
		if !stale {
			t.stats.NotFound++
			t.apply(j, at, statusNotFound, 0, 0, 0)
			j.misses = satInc(j.misses)
		}
		j.lastCheck = at
		j.checks = satInc(j.checks)
		t.schedule(slot, at)
	})
}

// Retry puts a journey whose check failed back in the queue at at,
// without changing what is known of it.
func (t *Tracker) Retry(id string, at time.Time) {
	t.back(id, func(slot int32, j *journey, stale bool) {
		if stale {
			// Changed meanwhile: planned from what it is now.
			t.schedule(slot, at.Unix())
			return
		}
		j.due = at.Unix()
		t.heapPush(slot)
	})
}

// Skip passes over a due check the budget cannot afford (sampling): the
// journey waits for its next planned check.
func (t *Tracker) Skip(id string, now time.Time) {
	t.back(id, func(slot int32, j *journey, _ bool) {
		j.flags |= flagSkipped
		t.schedule(slot, now.Unix())
	})
}

// back runs f, under the lock, on a journey handed out by Next (or still
// queued: it is taken out of the queue first); f puts it back. stale says
// the proxy relayed a change of the journey while it was handed out
// (heapRelayed): what its look or check read may be older than that
// change, which then wins. An id no longer tracked is ignored.
func (t *Tracker) back(id string, f func(slot int32, j *journey, stale bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.index[id]
	if !ok {
		return
	}
	j := &t.journeys[slot]
	stale := j.heapIdx == heapRelayed
	if j.heapIdx >= 0 {
		t.heapRemove(slot)
	}
	j.heapIdx = -1
	f(slot, j, stale)
	t.touch(slot)
}

// apply moves a journey to a status and label sets, keeping every count.
func (t *Tracker) apply(j *journey, at int64, status, fraud, anomaly, terms uint8) {
	s := &t.stats
	t.learn(j, at, j.status, status)
	if status != j.status || fraud != j.fraud || anomaly != j.anomaly || terms != j.terms {
		j.addTransition(transition{at: at, status: status, fraud: fraud, anomaly: anomaly, terms: terms})
	}
	if status != j.status {
		s.ByStatus[j.status]--
		s.ByStatus[status]++
		j.status = status
		if bit := uint16(1) << status; j.seenStatus&bit == 0 {
			j.seenStatus |= bit
			s.SeenStatus[status]++
			t.latest.Status[status] = j.id
		}
	}
	j.fraud = updateSet(j.fraud, fraud, &j.seenFraud, s.ByFraud, s.SeenFraud, t.latest.Fraud, j.id)
	j.anomaly = updateSet(j.anomaly, anomaly, &j.seenAnomaly, s.ByAnomaly, s.SeenAnomaly, t.latest.Anomaly, j.id)
	j.terms = updateSet(j.terms, terms, &j.seenTerms, s.ByTerms, s.SeenTerms, t.latest.Terms, j.id)
	// The registry's batches should have decided a journey seen pending
	// after its window: a backlog of those is the registry's, not ours.
	overdue := status == statusPending && at >= t.policy.batchAnchor(j)+secs(t.policy.BatchWindowEnd+t.policy.BatchCheckDelay)
	if overdue != (j.flags&flagOverdue != 0) {
		j.flags ^= flagOverdue
		if overdue {
			s.PendingOverdue++
		} else {
			s.PendingOverdue--
		}
	}
	if j.flags&flagSettled == 0 && !j.undecided() {
		j.flags |= flagSettled
		s.Settle.observe(SettleBuckets, float64(at-j.registered))
	}
}

// updateSet moves a journey from the label set old to cur in the gauges,
// and counts, in counter, the labels it carries for the first time, noting
// its id in last (the counters' exemplars).
func updateSet(old, cur uint8, seen *uint8, gauge []int64, counter []uint64, last []string, id string) uint8 {
	for i := range gauge {
		bit := uint8(1) << i
		switch {
		case old&bit != 0 && cur&bit == 0:
			gauge[i]--
		case old&bit == 0 && cur&bit != 0:
			gauge[i]++
			if *seen&bit == 0 {
				counter[i]++
				last[i] = id
			}
		}
	}
	*seen |= cur
	return cur
}

// schedule queues the journey's next event after at: a check, or its
// removal once the policy plans no more checks.
func (t *Tracker) schedule(slot int32, at int64) {
	j := &t.journeys[slot]
	expiry := t.policy.expiry(j)
	next, recheck := t.policy.next(j, at, t.lateOnly)
	j.setRecheck(recheck)
	if next == 0 || next >= expiry {
		if j.flags&flagExpiring == 0 {
			j.flags |= flagExpiring
			t.expiring++
		}
		next = max(expiry, at)
	}
	j.due = next
	t.heapPush(slot)
}

func (j *journey) setRecheck(on bool) {
	if on {
		j.flags |= flagRecheck
	} else {
		j.flags &^= flagRecheck
	}
}

func (t *Tracker) remove(slot int32) {
	j := &t.journeys[slot]
	s := &t.stats
	updateSet(j.fraud, 0, &j.seenFraud, s.ByFraud, s.SeenFraud, nil, "")
	updateSet(j.anomaly, 0, &j.seenAnomaly, s.ByAnomaly, s.SeenAnomaly, nil, "")
	updateSet(j.terms, 0, &j.seenTerms, s.ByTerms, s.SeenTerms, nil, "")
	s.ByStatus[j.status]--
	s.BySource[j.source]--
	s.Tracked--
	s.Forgotten++
	if j.flags&flagExpiring != 0 {
		t.expiring--
	}
	if j.flags&flagOverdue != 0 {
		s.PendingOverdue--
	}
	delete(t.index, j.id)
	t.dropped(j.id)
	t.order.removed()
	*j = journey{heapIdx: -1}
	t.free = append(t.free, slot)
	// Here and not only when listing: a tracker nobody lists would keep
	// an entry for every journey it ever followed.
	t.compactOrder()
}

func satInc(v uint8) uint8 {
	if v == 255 {
		return v
	}
	return v + 1
}

// Len is the number of tracked journeys.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(t.stats.Tracked)
}

// DueCount counts the checks due at now, and among them those whose id
// hash passes sampled. It walks only the due part of the queue. Under a
// Bulk policy only first checks count: the other looks are read in lists
// that cost the budget a handful of requests whatever their number.
func (t *Tracker) DueCount(now time.Time, sampled func(hash uint64) bool) (due, dueSampled int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := now.Unix()
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(t.queue) {
			continue
		}
		j := &t.journeys[t.queue[i]]
		if j.due > at {
			continue
		}
		if j.flags&flagExpiring == 0 && (!t.policy.Bulk || j.status == statusUnchecked) {
			due++
			if sampled == nil || sampled(Hash(j.id)) {
				dueSampled++
			}
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return due, dueSampled
}

// Hash is the id hash sampling uses: FNV-1a, whose high bits are poorly
// mixed for ids that differ in their last digits, then the murmur3
// finaliser. Stable across restarts and machines, so the same journeys
// stay sampled.
func Hash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Journey is what the tracker knows of one journey.
type Journey struct {
	ID            string    `json:"id"`
	Source        string    `json:"source"`
	Status        string    `json:"status"`
	FraudLabels   []string  `json:"fraud_labels,omitempty"`
	AnomalyLabels []string  `json:"anomaly_labels,omitempty"`
	TermsReasons  []string  `json:"terms_violations,omitempty"`
	Start         time.Time `json:"start,omitzero"`      // zero when unknown
	CreatedAt     time.Time `json:"created_at,omitzero"` // zero when unknown
	RegisteredAt  time.Time `json:"registered_at"`
	LastCheck     time.Time `json:"last_check,omitzero"` // zero when never checked
	NextCheck     time.Time `json:"next_check,omitzero"` // zero when no longer polled
	ForgetAt      time.Time `json:"forget_at"`
	Checks        int       `json:"checks"`
	// Transitions are the journey's story, oldest first: the status it
	// was registered in, then each change of status, labels or reasons
	// the exporter saw, at the check that saw it. Only the latest
	// MaxTransitions are kept; EarlierDropped says some were let go.
	Transitions    []Transition `json:"transitions"`
	EarlierDropped bool         `json:"earlier_transitions_dropped,omitempty"`
}

// Lookup returns what is known of one journey.
func (t *Tracker) Lookup(id string) (Journey, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.index[id]
	if !ok {
		return Journey{}, false
	}
	return t.export(&t.journeys[slot]), true
}

// export is the Journey of j; t.mu is held.
func (t *Tracker) export(j *journey) Journey {
	out := Journey{
		ID: j.id, Source: j.source.String(), Status: Statuses.names[j.status],
		FraudLabels: maskNames(FraudLabels, j.fraud), AnomalyLabels: maskNames(AnomalyLabels, j.anomaly),
		TermsReasons: maskNames(TermsReasons, j.terms),
		Start:        unixOrZero(j.start), CreatedAt: unixOrZero(j.createdAt),
		RegisteredAt: time.Unix(j.registered, 0), LastCheck: unixOrZero(j.lastCheck),
		ForgetAt: time.Unix(t.policy.expiry(j), 0), Checks: int(j.checks),
		Transitions: j.transitions(), EarlierDropped: j.flags&flagHistoryCut != 0,
	}
	if j.flags&flagExpiring == 0 {
		out.NextCheck = unixOrZero(j.due)
	}
	return out
}

func maskNames(v *Vocabulary, m uint8) []string {
	var out []string
	for i, n := range v.names {
		if m&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func unixOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
