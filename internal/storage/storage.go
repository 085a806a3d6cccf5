// Package storage keeps the exporter's state on disk, in one bbolt file,
// so that a restart forgets no journey and resets no counter: each
// registry's journeys (a compact record by id, schedule included), the
// vocabularies those records were written under, and the totals of its
// tracker and scheduler.
//
// Layout, format version 2 (version 1 is the same with journey records
// of version 1 only; a version 1 store is upgraded when opened, so that a
// release that reads version 1 only refuses it rather than counting every
// newer record corrupt):
//
//	meta/format                       big-endian uint32
//	registries/<name>/journeys/<id>   tracker record
//	registries/<name>/vocabularies/<generation, big-endian uint64>  JSON
//	registries/<name>/totals          JSON
//	registries/<name>/count           uvarint: journeys at the last write
//
// Changes are written in batches by one flusher (see Run); a caller that
// needs its registrations on disk before it answers waits with Sync.
package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// FormatVersion is the layout this release writes. A store of an older
// version it reads (OldestFormatVersion on) is upgraded; one of another
// version is refused, never rewritten.
const (
	FormatVersion       = 2
	OldestFormatVersion = 1
)

// FileName is the store's file in its directory.
const FileName = "covoiturage.db"

// Defaults of Options.
const (
	DefaultFlushInterval = time.Second
	DefaultChunkSize     = 100_000
	lockTimeout          = time.Second
)

var (
	bucketMeta       = []byte("meta")
	bucketRegistries = []byte("registries")
	bucketJourneys   = []byte("journeys")
	bucketVocab      = []byte("vocabularies")
	keyFormat        = []byte("format")
	keyTotals        = []byte("totals")
	keyCount         = []byte("count")
)

// minRecordBytes is the least a journey takes in a page: bbolt's 16-byte
// element header, a 1-byte id and the shortest record (19 bytes).
const minRecordBytes = 16 + 1 + 19

// ErrClosed is returned once the store is closed.
var ErrClosed = errors.New("storage: closed")

// Options tune a Store; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// FlushInterval is how often Run writes what changed.
	FlushInterval time.Duration
	// ChunkSize bounds the journeys of one registry in one transaction,
	// so a first load of a million ids is written in several.
	ChunkSize int
}

// Store is an open store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	opts   Options
	logger *slog.Logger

	flushMu sync.Mutex // one flush at a time, so a flush covers every change made before it began
	regs    map[string]*registryState
	failing bool // the last flush failed: log the recovery
	// writeHook, when set (tests), runs in every write transaction; its
	// error fails it.
	writeHook func() error

	waitMu sync.Mutex
	next   *flushWait // the flush a Sync called now waits for
	kick   chan struct{}

	statsMu sync.Mutex
	stats   Stats
}

// registryState is what the store keeps between flushes of one registry;
// guarded by flushMu.
type registryState struct {
	gen        uint64 // the vocabulary generation its records are written under
	genWritten bool
	changes    tracker.Changes
	lastTotals []byte // as last written: unchanged totals are not written again
	key        []byte // scratch for ids as bucket keys
	order      []int
}

// Open opens, or creates, the store in dir. Only one process may have it
// open: another gets a clear error after a second.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// bbolt makes a new store of a missing or empty file; an empty file is
	// never a store this program left, whose format version is written
	// when it is created: it is one truncated to nothing.
	if st, err := os.Stat(path); err == nil {
		if st.Size() == 0 {
			return nil, &DamagedError{Path: path, Problem: "it is empty (0 bytes): truncated to nothing, so every journey and total it held is gone"}
		}
		if err := verify(path); err != nil {
			if locked(path) {
				return nil, errLocked(path)
			}
			return nil, err
		}
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout: lockTimeout,
		// The freelist is rebuilt by a scan at open instead of being
		// written at every commit, and kept in a hash map: commits of a
		// large file stay cheap.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, errLocked(path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, &DamagedError{Path: path, Problem: fmt.Sprintf("it is not a readable covoiturage_exporter store: %v", err)}
	case err != nil && db == nil && !errors.Is(err, os.ErrPermission) && !errors.Is(err, os.ErrNotExist):
		if _, statErr := os.Stat(path); statErr == nil {
			return nil, &DamagedError{Path: path, Problem: err.Error()}
		}
		return nil, fmt.Errorf("storage: opening %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("storage: opening %s: %w", path, err)
	}
	if err := check(db, path); err != nil {
		_ = guard(db.Close)
		return nil, err
	}
	s := &Store{
		db: db, path: path, opts: opts, logger: opts.Logger,
		regs: map[string]*registryState{}, next: newFlushWait(), kick: make(chan struct{}, 1),
		stats: Stats{FlushDuration: make([]uint64, len(FlushBuckets)+1)},
	}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.measure()
	return s, nil
}

func errLocked(path string) error {
	return fmt.Errorf("storage: %s is locked by another covoiturage_exporter (or another program): only one process may use a storage path", path)
}

// locked tells whether another process holds the file: what it is
// writing meanwhile is no damage.
func locked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// checkFormat refuses a file of another format, and marks a new one.
func (s *Store) checkFormat() error {
	fresh, old := false, false
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("storage: %s has no format version: it is not a covoiturage_exporter store", s.path)
			}
			fresh = true
			return nil
		}
		v := meta.Get(keyFormat)
		if len(v) != 4 {
			return fmt.Errorf("storage: %s has an unreadable format version: it is not a covoiturage_exporter store", s.path)
		}
		got := binary.BigEndian.Uint32(v)
		if got < OldestFormatVersion || got > FormatVersion {
			return fmt.Errorf("storage: %s is in format version %d, and this covoiturage_exporter reads format versions %d to %d only: run a release that reads version %d, or move the directory away to start afresh", s.path, got, OldestFormatVersion, FormatVersion, got)
		}
		old = got < FormatVersion
		return nil
	})
	if err != nil {
		return err
	}
	if old {
		// Its records stay as they are, read as they were written; the
		// ones written from now on are the newer kind.
		return s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
		})
	}
	if !fresh {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketRegistries)
		return err
	})
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Names lists the registries the store holds.
func (s *Store) Names() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRegistries).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// registryTotals is how a registry's totals are stored.
type registryTotals struct {
	Journeys  tracker.Totals          `json:"journeys"`
	Scheduler scheduler.CounterTotals `json:"scheduler"`
}

// Restore fills a new registry's empty tracker and counters with what the
// store kept of it, if anything, and from then on writes their changes
// when they are flushed. Unreadable records are skipped, counted in
// covoiturage_storage_corrupt_records_total and logged once; only a
// failure to read the file is an error.
func (s *Store) Restore(name string, t *tracker.Tracker, c *scheduler.Counters) (tracker.Restored, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	st := &registryState{gen: 1}
	var res tracker.Restored
	badTotals := false
	err := s.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRegistries).Bucket([]byte(name))
		saved := tracker.Saved{Gen: 1}
		var totals registryTotals
		if rb != nil {
			gens := readVocabularies(rb.Bucket(bucketVocab))
			st.gen, st.genWritten = generationOf(gens)
			saved.Gen, saved.Decoder = st.gen, tracker.NewDecoder(gens)
			// The count only makes room; a corrupt one must not make room
			// for more records than the file can hold.
			if n, k := binary.Uvarint(rb.Get(keyCount)); k > 0 {
				saved.Count = int(min(n, uint64(tx.Size())/minRecordBytes, math.MaxInt32))
			}
			if jb := rb.Bucket(bucketJourneys); jb != nil {
				saved.Records = func(yield func(id, rec []byte) bool) {
					cur := jb.Cursor()
					for k, v := cur.First(); k != nil; k, v = cur.Next() {
						if !yield(k, v) { // a nested bucket's value is nil: it reads as corrupt
							return
						}
					}
				}
			}
			if raw := rb.Get(keyTotals); raw != nil {
				if err := json.Unmarshal(raw, &totals); err != nil {
					badTotals, totals = true, registryTotals{}
				}
			}
		}
		saved.Totals = totals.Journeys
		var err error
		if res, err = t.Restore(saved); err != nil {
			return err
		}
		c.Restore(totals.Scheduler)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("storage: restoring registry %s: %w", name, err)
	}
	s.regs[name] = st
	if bad := res.Corrupt + boolInt(badTotals); bad > 0 {
		s.statsMu.Lock()
		s.stats.CorruptRecords += uint64(bad)
		s.statsMu.Unlock()
		s.logger.Error("storage: skipped unreadable records; the journeys they held are lost",
			"registry", name, "records", res.Corrupt, "totals_unreadable", badTotals, "path", s.path)
	}
	return res, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readVocabularies reads every stored generation; one that does not
// parse is left out, and its records read as corrupt.
func readVocabularies(b *bolt.Bucket) map[uint64]tracker.Vocabularies {
	gens := map[uint64]tracker.Vocabularies{}
	if b == nil {
		return gens
	}
	_ = b.ForEach(func(k, v []byte) error {
		var voc tracker.Vocabularies
		if len(k) == 8 && v != nil && json.Unmarshal(v, &voc) == nil {
			gens[binary.BigEndian.Uint64(k)] = voc
		}
		return nil
	})
	return gens
}

// generationOf finds the stored generation of this release's
// vocabularies, or picks the next one, to be written with the first
// records that use it.
func generationOf(gens map[uint64]tracker.Vocabularies) (gen uint64, stored bool) {
	cur := tracker.CurrentVocabularies()
	for g, v := range gens {
		if v.Equal(cur) {
			return g, true
		}
		gen = max(gen, g)
	}
	return gen + 1, false
}

// Close closes the file; a flush under way finishes first, and a Sync
// still waiting gets ErrClosed.
func (s *Store) Close() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.waitMu.Lock()
	w := s.next
	s.next = closedWait
	s.waitMu.Unlock()
	if w != closedWait {
		w.finish(ErrClosed)
	}
	return s.db.Close()
}
