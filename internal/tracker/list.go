package tracker

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// order lists the tracked journeys in registration order: each journey
// gets a sequence number when it is registered, never changed, and
// listing pages by it. A cursor is a sequence number, so a page boundary
// survives any change: a journey changing status keeps its place, a new
// one comes after every other, and one that leaves is simply not found.
// Slots of removed journeys stay listed until they outnumber the live
// ones, then the list is compacted.
type order struct {
	seqs  []uint64 // increasing
	slots []int32  // slots[i] holds seqs[i], unless its journey left
	next  uint64
	stale int
	epoch uint64 // tells this tracker's sequence numbers from another's
}

var epochs atomic.Uint64

func newOrder() order {
	// The epoch changes with every tracker, restarts included: a cursor
	// from a previous run is refused rather than misread.
	return order{next: 1, epoch: uint64(time.Now().UnixNano())&^0xffff | epochs.Add(1)&0xffff}
}

// add lists slot last and returns its sequence number.
func (o *order) add(slot int32) uint64 {
	seq := o.next
	o.next++
	o.seqs = append(o.seqs, seq)
	o.slots = append(o.slots, slot)
	return seq
}

// restored lists journeys restored from a store, which come in id
// order, by the time they were registered; t.mu is held.
func (t *Tracker) orderRestored() {
	slots := make([]int32, 0, len(t.journeys))
	for slot := range t.journeys {
		slots = append(slots, int32(slot))
	}
	slices.SortStableFunc(slots, func(a, b int32) int {
		return cmp.Compare(t.journeys[a].registered, t.journeys[b].registered)
	})
	o := &t.order
	o.seqs, o.slots = slices.Grow(o.seqs, len(slots)), slices.Grow(o.slots, len(slots))
	for _, slot := range slots {
		t.journeys[slot].seq = o.add(slot)
	}
}

// removed notes that a listed journey left.
func (o *order) removed() { o.stale++ }

// compact drops the entries of journeys that left, once they are half
// the list; t.mu is held. Cursors are sequence numbers: they stay valid.
func (t *Tracker) compactOrder() {
	o := &t.order
	if o.stale < 1024 || o.stale < len(o.seqs)/2 {
		return
	}
	n := 0
	for i, slot := range o.slots {
		if t.journeys[slot].seq == o.seqs[i] {
			o.seqs[n], o.slots[n] = o.seqs[i], slot
			n++
		}
	}
	o.seqs, o.slots, o.stale = o.seqs[:n], o.slots[:n], 0
}

// Filter selects journeys. Each non-zero field must match; a bit set
// matches a journey that has any of its bits.
type Filter struct {
	Statuses                     uint16 // by Statuses index
	Fraud, Anomaly, Terms        uint8  // labels the journey carries now
	Sources                      uint16 // by Source
	Registered, Start, LastCheck Range
	// Changed is when the journey took its current status, labels and
	// reasons: its latest transition, or its registration.
	Changed Range
	// Lag is the submission lag, as the lag metrics count it.
	Lag LagRange
}

// LagRange selects journeys by their submission lag, from their start to
// their registration, in [From, To); a zero To is open. Only a journey
// registered from its submission (Source.Submits), whose start is known
// and not after its registration, has a lag: any other is outside a set
// range, as the lag histogram counts it apart or not at all.
type LagRange struct {
	From, To time.Duration
	Set      bool
}

func (r LagRange) matches(j *journey) bool {
	if !r.Set {
		return true
	}
	if !j.source.Submits() || j.start == 0 || j.start > j.registered {
		return false
	}
	lag := j.registered - j.start
	return lag >= int64(r.From/time.Second) && (r.To == 0 || lag < int64(r.To/time.Second))
}

// Range is a time interval [From, To); a zero bound is open. A journey
// whose time is unknown (never checked, start not given) is outside any
// range that has a bound.
type Range struct{ From, To time.Time }

func (r Range) matches(unix int64) bool {
	if r.From.IsZero() && r.To.IsZero() {
		return true
	}
	if unix == 0 {
		return false
	}
	return (r.From.IsZero() || unix >= r.From.Unix()) && (r.To.IsZero() || unix < r.To.Unix())
}

func (f *Filter) matches(j *journey) bool {
	return (f.Statuses == 0 || f.Statuses&(1<<j.status) != 0) &&
		(f.Fraud == 0 || f.Fraud&j.fraud != 0) &&
		(f.Anomaly == 0 || f.Anomaly&j.anomaly != 0) &&
		(f.Terms == 0 || f.Terms&j.terms != 0) &&
		(f.Sources == 0 || f.Sources&(1<<j.source) != 0) &&
		f.Registered.matches(j.registered) && f.Start.matches(j.start) && f.LastCheck.matches(j.lastCheck) &&
		(f.Changed.isOpen() || f.Changed.matches(j.lastChange())) &&
		f.Lag.matches(j)
}

func (r Range) isOpen() bool { return r.From.IsZero() && r.To.IsZero() }

// Cursor is a place in a tracker's registration order: listing goes on
// after it. The zero Cursor is the beginning.
type Cursor struct{ epoch, seq uint64 }

// IsZero tells whether c is the beginning.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String is the cursor as a client passes it back.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatUint(c.epoch, 36) + "." + strconv.FormatUint(c.seq, 36)
}

// ErrCursor is returned for a cursor that is not one of this tracker's.
var ErrCursor = errors.New("not a cursor of this exporter's current run: start again without a cursor")

// ParseCursor reads a cursor String gave.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	e, q, ok := strings.Cut(s, ".")
	epoch, err1 := strconv.ParseUint(e, 36, 64)
	seq, err2 := strconv.ParseUint(q, 36, 64)
	if !ok || err1 != nil || err2 != nil || epoch == 0 {
		return Cursor{}, fmt.Errorf("malformed cursor: %w", ErrCursor)
	}
	return Cursor{epoch: epoch, seq: seq}, nil
}

// listChunk bounds the journeys one step of Find looks at while holding
// the lock, and listBatch those it copies out: scrapes, checks and
// pushes wait at most that long for a list, however long the list.
const (
	listChunk = 4096
	listBatch = 256
)

// Find calls yield with each journey matching f registered after the
// cursor, in registration order, with the cursor that follows it, until
// yield returns false or none is left. It takes the tracker's lock a chunk
// at a time and calls yield without it: a journey registered meanwhile is
// found if it matches, and a journey that changes is seen as it is when
// its chunk is read, never twice.
func (t *Tracker) Find(f Filter, after Cursor, yield func(Journey, Cursor) bool) error {
	t.mu.Lock()
	epoch := t.order.epoch
	t.mu.Unlock()
	if !after.IsZero() && after.epoch != epoch {
		return ErrCursor
	}
	seq := after.seq
	batch := make([]Journey, 0, listBatch)
	seqs := make([]uint64, 0, listBatch)
	for {
		batch, seqs = batch[:0], seqs[:0]
		done := t.findChunk(&f, &seq, &batch, &seqs)
		for i, j := range batch {
			if !yield(j, Cursor{epoch: epoch, seq: seqs[i]}) {
				return nil
			}
		}
		if done {
			return nil
		}
		// A goroutine woken by the unlock (a scrape, a check) gets the
		// lock before the next chunk takes it again.
		runtime.Gosched()
	}
}

// findChunk reads one chunk after *seq into batch and moves *seq past
// what it read; it tells whether the end was reached.
func (t *Tracker) findChunk(f *Filter, seq *uint64, batch *[]Journey, seqs *[]uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.compactOrder()
	o := &t.order
	i, found := slices.BinarySearch(o.seqs, *seq)
	if found {
		i++
	}
	for end := min(len(o.seqs), i+listChunk); i < end && len(*batch) < listBatch; i++ {
		j := &t.journeys[o.slots[i]]
		*seq = o.seqs[i]
		if j.seq != o.seqs[i] || !f.matches(j) {
			continue
		}
		*batch = append(*batch, t.export(j))
		*seqs = append(*seqs, j.seq)
	}
	return i >= len(o.seqs)
}
