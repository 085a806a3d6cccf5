package tracker

import (
	"errors"
	"iter"
	"slices"
	"strings"
)

// changeLog remembers, once a store follows the tracker (Restore), which
// journeys changed since the last TakeChanges: a dirty flag on the
// journey, so a journey changed a thousand times is listed once, and its
// slot in a FIFO list, so a take limited to a chunk writes the oldest
// changes first and a flush that started after a change always covers it.
// The list is reused from one take to the next: no allocation per change
// once it has grown to the usual flow.
type changeLog struct {
	on      bool
	gen     uint64 // vocabulary generation of the records
	dirty   []int32
	head    int
	sorted  bool // dirty[head:] was put in id order for a take in chunks
	removed []string
}

// shrinkAbove: after a flush that drained a list larger than this (a first
// load of a million journeys), the list is let go rather than kept at its
// peak for ever.
const shrinkAbove = 1 << 16

// touch marks a journey changed; t.mu is held.
func (t *Tracker) touch(slot int32) {
	if !t.changes.on {
		return
	}
	j := &t.journeys[slot]
	if j.flags&flagDirty == 0 {
		j.flags |= flagDirty
		t.changes.dirty = append(t.changes.dirty, slot)
	}
}

// dropped notes that a journey left the tracker; t.mu is held. Its slot
// may still be listed as dirty: the cleared flag makes TakeChanges skip
// it.
func (t *Tracker) dropped(id string) {
	if t.changes.on {
		t.changes.removed = append(t.changes.removed, id)
	}
}

// Changes are what changed in a tracker since the previous take: the
// journeys to write, as records, the ids to delete, and the totals. One
// Changes is reused from take to take.
type Changes struct {
	ids     []string
	ends    []int
	buf     []byte
	deletes []string
	// Totals are the tracker's monotonic counts at the take.
	Totals Totals
	// Tracked is the number of journeys tracked at the take.
	Tracked int
}

// Reset empties c, keeping its buffers unless a large take grew them.
func (c *Changes) Reset() {
	if cap(c.buf) > 64*shrinkAbove {
		*c = Changes{}
		return
	}
	clear(c.ids)
	clear(c.deletes)
	c.ids, c.ends, c.buf, c.deletes = c.ids[:0], c.ends[:0], c.buf[:0], c.deletes[:0]
	c.Totals, c.Tracked = Totals{}, 0
}

// Len is the number of journeys to write.
func (c *Changes) Len() int { return len(c.ids) }

// Upsert returns the i-th journey to write: its id and its record. The
// record is valid until c is reset.
func (c *Changes) Upsert(i int) (id string, record []byte) {
	from := 0
	if i > 0 {
		from = c.ends[i-1]
	}
	return c.ids[i], c.buf[from:c.ends[i]:c.ends[i]]
}

// Deletes are the ids of the journeys that left the tracker. Writing them
// before the upserts is right: an id forgotten then registered again is
// in both.
func (c *Changes) Deletes() []string { return c.deletes }

// Empty tells whether no journey is to be written or deleted.
func (c *Changes) Empty() bool { return len(c.ids) == 0 && len(c.deletes) == 0 }

// TakeChanges fills c (reset first) with what changed since the previous
// take, at most limit journeys (limit <= 0: all), oldest changes first,
// and tells whether more are left. Taken changes are no longer pending:
// if they cannot be written, PutBack returns them. A tracker that no store
// follows (never restored) has only its totals to give.
func (t *Tracker) TakeChanges(c *Changes, limit int) (more bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.Reset()
	c.Totals, c.Tracked = t.totalsLocked(), int(t.stats.Tracked)
	cl := &t.changes
	if !cl.on {
		return false
	}
	c.deletes = append(c.deletes, cl.removed...)
	clear(cl.removed)
	cl.removed = cl.removed[:0]
	if limit > 0 && len(cl.dirty)-cl.head > limit && !cl.sorted {
		// Chunks in id order each fill their own range of the store's
		// B+tree, instead of each rewriting most of its pages: a first
		// load of a million journeys is written once, not once a chunk.
		slices.SortFunc(cl.dirty[cl.head:], func(a, b int32) int {
			return strings.Compare(t.journeys[a].id, t.journeys[b].id)
		})
		cl.sorted = true
	}
	for cl.head < len(cl.dirty) && (limit <= 0 || len(c.ids) < limit) {
		slot := cl.dirty[cl.head]
		cl.head++
		j := &t.journeys[slot]
		if j.flags&flagDirty == 0 {
			continue // removed since, or listed again after a removal and taken already
		}
		j.flags &^= flagDirty
		c.buf = appendRecord(c.buf, cl.gen, j)
		c.ids = append(c.ids, j.id)
		c.ends = append(c.ends, len(c.buf))
	}
	if cl.head < len(cl.dirty) {
		return true
	}
	if cap(cl.dirty) > shrinkAbove {
		cl.dirty = nil
	}
	cl.dirty, cl.head, cl.sorted = cl.dirty[:0], 0, false
	return false
}

// PutBack returns changes that could not be written, so that the next
// take has them again. What happened to those journeys since the take is
// kept: a journey removed since stays deleted, one registered again since
// is written as it is now.
func (t *Tracker) PutBack(c *Changes) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.changes.on {
		return
	}
	for _, id := range c.ids {
		if slot, ok := t.index[id]; ok {
			t.touch(slot)
		}
	}
	for _, id := range c.deletes {
		if _, ok := t.index[id]; !ok {
			t.changes.removed = append(t.changes.removed, id)
		}
	}
}

// Saved is what a store kept of a tracker.
type Saved struct {
	// Gen is the vocabulary generation the tracker's records are written
	// under from now on; Decoder reads the stored ones.
	Gen     uint64
	Decoder *Decoder
	// Records yields each stored journey: its id and its record. The
	// slices may be reused after each step.
	Records iter.Seq2[[]byte, []byte]
	// Count, when known, is how many there are: room is made at once.
	Count  int
	Totals Totals
}

// Restored says what Restore did.
type Restored struct {
	Journeys int
	// Corrupt records were skipped; their journeys are lost.
	Corrupt int
}

// Restore fills an empty tracker with what a store kept: the journeys,
// their schedule and every count the gauges need, and the monotonic
// totals, without counting anything again. From then on the tracker
// records its changes for TakeChanges. Records that cannot be read are
// skipped and counted, never a reason to panic or to refuse the rest.
func (t *Tracker) Restore(s Saved) (Restored, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.index) != 0 || t.changes.on {
		return Restored{}, errors.New("tracker: restore into a tracker already in use")
	}
	var r Restored
	if s.Records != nil && s.Decoder != nil {
		if s.Count > 0 {
			t.journeys = make([]journey, 0, s.Count)
			t.queue = make([]int32, 0, s.Count)
			t.index = make(map[string]int32, s.Count)
		}
		var j journey
		for id, rec := range s.Records {
			if len(id) == 0 || s.Decoder.decode(rec, &j) != nil {
				r.Corrupt++
				continue
			}
			if _, dup := t.index[string(id)]; dup {
				r.Corrupt++
				continue
			}
			j.id = string(id)
			t.adopt(j)
			r.Journeys++
		}
		// One pass of sift-downs builds the heap in linear time.
		for i := len(t.queue)/2 - 1; i >= 0; i-- {
			t.down(i)
		}
		t.orderRestored()
	}
	t.applyTotals(s.Totals)
	t.changes = changeLog{on: true, gen: s.Gen}
	return r, nil
}

// adopt appends a restored journey and counts it in the gauges; t.mu is
// held. The heap is built afterwards.
func (t *Tracker) adopt(j journey) {
	slot := int32(len(t.journeys))
	j.heapIdx = int32(len(t.queue))
	t.journeys = append(t.journeys, j)
	t.queue = append(t.queue, slot)
	t.index[j.id] = slot
	s := &t.stats
	s.Tracked++
	s.BySource[j.source]++
	s.ByStatus[j.status]++
	countBits(j.fraud, s.ByFraud)
	countBits(j.anomaly, s.ByAnomaly)
	countBits(j.terms, s.ByTerms)
	if j.flags&flagExpiring != 0 {
		t.expiring++
	}
	if j.flags&flagOverdue != 0 {
		s.PendingOverdue++
	}
}

func countBits(set uint8, gauge []int64) {
	for i := range gauge {
		if set&(1<<i) != 0 {
			gauge[i]++
		}
	}
}
