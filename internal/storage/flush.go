package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Registry is one registry whose state a flush writes. Its tracker and
// counters must have been given to Restore first.
type Registry struct {
	Name     string
	Tracker  *tracker.Tracker
	Counters *scheduler.Counters
}

// flushWait is the outcome of one flush cycle, for the Sync calls that
// wait for it.
type flushWait struct {
	done chan struct{}
	err  error
}

func newFlushWait() *flushWait { return &flushWait{done: make(chan struct{})} }

func (w *flushWait) finish(err error) {
	w.err = err
	close(w.done)
}

// closedWait answers every Sync once the store is closed or its flusher
// has stopped.
var closedWait = func() *flushWait {
	w := newFlushWait()
	w.finish(ErrClosed)
	return w
}()

// Run writes the registries' changes every FlushInterval, and at once when
// a Sync waits, until ctx ends; then it writes them a last time. registries
// lists the registries to write at each flush. One Run per store.
func (s *Store) Run(ctx context.Context, registries func() []Registry) {
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.cycle(registries(), true)
			return
		case <-tick.C:
		case <-s.kick:
		}
		s.cycle(registries(), false)
	}
}

// cycle is one flush whose outcome the Sync calls made before it began
// receive: group commit, every registration waiting shares one
// transaction.
func (s *Store) cycle(regs []Registry, last bool) {
	s.waitMu.Lock()
	w := s.next
	if w == closedWait {
		s.waitMu.Unlock()
		return
	}
	if last {
		s.next = closedWait
	} else {
		s.next = newFlushWait()
	}
	s.waitMu.Unlock()
	w.finish(s.Flush(regs))
}

// Sync returns once a flush that began after the call has written every
// change made before it, with that flush's error; or with ctx's. It is how
// a registration is made durable before it is acknowledged. Run must be
// running.
func (s *Store) Sync(ctx context.Context) error {
	s.waitMu.Lock()
	w := s.next
	s.waitMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a flush is already asked for
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush writes what changed in regs since their last flush: one
// transaction, or several of ChunkSize journeys a registry when there are
// more. When a transaction fails, its changes go back to the trackers for
// the next flush, and the error is returned.
func (s *Store) Flush(regs []Registry) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err := s.flushLocked(regs)
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.logger.Error("storage: writing the state failed; changes are kept in memory and written again at the next flush", "path", s.path, "err", err)
	case err != nil:
		s.logger.Debug("storage: writing the state failed again", "path", s.path, "err", err)
	case s.failing:
		s.failing = false
		s.logger.Info("storage: writing the state works again", "path", s.path)
	}
	return err
}

// pendingWrite is one registry's part of a transaction.
type pendingWrite struct {
	name   string
	st     *registryState
	totals []byte
}

func (s *Store) flushLocked(regs []Registry) error {
	var writes []pendingWrite
	for {
		writes = writes[:0]
		more := false
		for _, r := range regs {
			st := s.regs[r.Name]
			if st == nil {
				// Never restored: writing its totals would overwrite the
				// stored ones with a fresh start.
				continue
			}
			if r.Tracker.TakeChanges(&st.changes, s.opts.ChunkSize) {
				more = true
			}
			totals, err := json.Marshal(registryTotals{Journeys: st.changes.Totals, Scheduler: r.Counters.Totals()})
			if err != nil {
				s.putBack(regs)
				return err
			}
			if st.changes.Empty() && st.genWritten && bytes.Equal(totals, st.lastTotals) {
				continue
			}
			writes = append(writes, pendingWrite{name: r.Name, st: st, totals: totals})
		}
		if len(writes) == 0 {
			return nil
		}
		began := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			if s.writeHook != nil {
				if err := s.writeHook(); err != nil {
					return err
				}
			}
			for _, w := range writes {
				if err := w.write(tx); err != nil {
					return err
				}
			}
			return nil
		})
		s.observe(time.Since(began), err)
		s.measure()
		if err != nil {
			s.putBack(regs)
			return err
		}
		for _, w := range writes {
			w.st.lastTotals, w.st.genWritten = w.totals, true
		}
		if !more {
			return nil
		}
	}
}

// putBack returns the changes taken from every registry of a failed
// flush.
func (s *Store) putBack(regs []Registry) {
	for _, r := range regs {
		if st := s.regs[r.Name]; st != nil {
			r.Tracker.PutBack(&st.changes)
		}
	}
}

func (w pendingWrite) write(tx *bolt.Tx) error {
	rb, err := tx.Bucket(bucketRegistries).CreateBucketIfNotExists([]byte(w.name))
	if err != nil {
		return err
	}
	st := w.st
	if !st.genWritten {
		vb, err := rb.CreateBucketIfNotExists(bucketVocab)
		if err != nil {
			return err
		}
		voc, err := json.Marshal(tracker.CurrentVocabularies())
		if err != nil {
			return err
		}
		if err := vb.Put(binary.BigEndian.AppendUint64(nil, st.gen), voc); err != nil {
			return err
		}
	}
	jb, err := rb.CreateBucketIfNotExists(bucketJourneys)
	if err != nil {
		return err
	}
	// Records keep their size when rewritten, and a first load comes in
	// id order: pages filled to 90% rather than bbolt's half make the
	// file smaller without splitting them at every update.
	jb.FillPercent = 0.9
	c := &st.changes
	for _, id := range c.Deletes() {
		st.key = append(st.key[:0], id...)
		if err := jb.Delete(st.key); err != nil {
			return err
		}
	}
	// In key order, each page is visited once.
	st.order = st.order[:0]
	for i := range c.Len() {
		st.order = append(st.order, i)
	}
	slices.SortFunc(st.order, func(a, b int) int {
		ida, _ := c.Upsert(a)
		idb, _ := c.Upsert(b)
		return strings.Compare(ida, idb)
	})
	for _, i := range st.order {
		id, rec := c.Upsert(i)
		st.key = append(st.key[:0], id...) // bbolt copies keys, and keeps values until the commit
		if err := jb.Put(st.key, rec); err != nil {
			return err
		}
	}
	if err := rb.Put(keyTotals, w.totals); err != nil {
		return err
	}
	return rb.Put(keyCount, binary.AppendUvarint(nil, uint64(c.Tracked)))
}

// Stats are the store's figures for the metrics.
type Stats struct {
	Flushes, FailedFlushes uint64
	// FlushDuration counts flush transactions by duration, per bucket of
	// FlushBuckets (the last counts those above every bound).
	FlushDuration    []uint64
	FlushDurationSum float64
	LastFlush        time.Time // zero before the first successful flush
	SizeBytes        int64
	CorruptRecords   uint64
}

// FlushBuckets are the upper bounds, in seconds, of the flush duration
// histogram: from an fsync on a fast disk to a chunk of a first load on a
// slow one.
var FlushBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (s *Store) observe(d time.Duration, err error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := &s.stats
	if err != nil {
		st.FailedFlushes++
	} else {
		st.Flushes++
		st.LastFlush = time.Now()
	}
	secs := d.Seconds()
	st.FlushDurationSum += secs
	i, _ := slices.BinarySearch(FlushBuckets, secs)
	st.FlushDuration[i]++
}

// measure records the file's size: bbolt grows it ahead of its pages, and
// the disk it takes is what matters.
func (s *Store) measure() {
	if fi, err := os.Stat(s.path); err == nil {
		s.statsMu.Lock()
		s.stats.SizeBytes = fi.Size()
		s.statsMu.Unlock()
	}
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.FlushDuration = slices.Clone(st.FlushDuration)
	return st
}
