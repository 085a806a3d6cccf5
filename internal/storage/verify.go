package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DamagedError is a state file that cannot be used as it is: truncated,
// overwritten, or not a bbolt file at all. Nothing was written to it.
type DamagedError struct {
	Path    string
	Problem string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("storage: %s is damaged: %s", e.Path, e.Problem)
}

// maxProblems bounds the consistency errors quoted in a DamagedError.
const maxProblems = 3

// guard runs f, turning a panic, and a fault on the memory-mapped file,
// into an error: bbolt asserts on pages it does not expect rather than
// returning errors, and a page beyond the end of a truncated file is an
// access fault. Only f's own goroutine is covered.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("reading it failed: %v", v)
		}
	}()
	return f()
}

// openBolt opens path with bbolt, guarded.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	err = guard(func() error {
		var oerr error
		db, oerr = bolt.Open(path, 0o600, opts)
		return oerr
	})
	return db, err
}

// verify reads the file itself, without bbolt, and follows every page a
// transaction can reach: bbolt opens a file for writing by walking its
// pages on a goroutine of its own, where an unexpected page is a panic or
// a fault that no recover can catch and that kills the process. A file
// that passes holds no page bbolt could trip on.
func verify(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: opening %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	w := &pageWalker{f: f, size: st.Size(), seen: map[uint64]bool{}}
	problem := w.run()
	if problem == "" {
		return nil
	}
	return &DamagedError{Path: path, Problem: problem}
}

// bbolt's file format (version 2), as far as verify reads it.
const (
	boltMagic      = 0xED0CDAED
	pageHeaderSize = 16 // id uint64, flags uint16, count uint16, overflow uint32
	elementSize    = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	inBucketSize   = 16 // root pgid, sequence uint64
	branchFlag     = 0x01
	leafFlag       = 0x02
	bucketLeafFlag = 0x01
	metaOffset     = pageHeaderSize
	metaChecksumAt = metaOffset + 4 + 4 + 4 + 4 + inBucketSize + 8 + 8 + 8
)

type pageWalker struct {
	f        *os.File
	size     int64
	pageSize uint64
	hwm      uint64 // the meta's high water mark: no page at or past it
	seen     map[uint64]bool
}

// meta is one parsed meta page.
type meta struct {
	ok             bool
	pageSize, root uint64
	pgid, txid     uint64
}

func (w *pageWalker) meta(off int64) meta {
	b := make([]byte, metaChecksumAt+8)
	if _, err := w.f.ReadAt(b, off); err != nil {
		return meta{}
	}
	m := b[metaOffset:]
	h := fnv.New64a()
	_, _ = h.Write(b[metaOffset:metaChecksumAt])
	if binary.LittleEndian.Uint32(m) != boltMagic || h.Sum64() != binary.LittleEndian.Uint64(b[metaChecksumAt:]) {
		return meta{}
	}
	return meta{
		ok:       true,
		pageSize: uint64(binary.LittleEndian.Uint32(m[8:])),
		root:     binary.LittleEndian.Uint64(m[16:]),
		pgid:     binary.LittleEndian.Uint64(m[40:]),
		txid:     binary.LittleEndian.Uint64(m[48:]),
	}
}

// run returns what is wrong, "" if nothing.
func (w *pageWalker) run() string {
	m0 := w.meta(0)
	second := int64(os.Getpagesize())
	if m0.ok {
		second = int64(m0.pageSize)
	}
	m1 := w.meta(second)
	switch {
	case !m0.ok && !m1.ok:
		return "it is not a readable covoiturage_exporter store: neither of its two meta pages is valid"
	case !m0.ok || !m1.ok:
		bad, good := 0, 1
		if m0.ok {
			bad, good = 1, 0
		}
		// bbolt would quietly open the file from the other one, a
		// transaction older, whose pages may since have been reused; a
		// kill never tears a page.
		return fmt.Sprintf("its meta page %d is overwritten (page %d, one transaction older, is intact)", bad, good)
	}
	m := m0
	if m1.txid > m0.txid {
		m = m1
	}
	if m.pageSize < 1024 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return fmt.Sprintf("its meta page gives a page size of %d bytes", m.pageSize)
	}
	w.pageSize, w.hwm = m.pageSize, m.pgid
	if reach := w.hwm * w.pageSize; reach > uint64(w.size) || w.hwm > 1<<40 {
		return fmt.Sprintf("the file holds %d bytes but its pages reach %d: it was truncated", w.size, reach)
	}
	return w.page(m.root, "the root bucket")
}

// page checks page id and everything below it.
func (w *pageWalker) page(id uint64, from string) string {
	if id < 2 || id >= w.hwm {
		return fmt.Sprintf("%s points at page %d, outside the file's pages 2 to %d", from, id, w.hwm-1)
	}
	if w.seen[id] {
		return fmt.Sprintf("page %d is reached twice", id)
	}
	w.seen[id] = true
	head := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(head, int64(id*w.pageSize)); err != nil {
		return fmt.Sprintf("page %d cannot be read: %v", id, err)
	}
	if got := binary.LittleEndian.Uint64(head); got != id {
		return fmt.Sprintf("page %d holds the header of page %d: it was overwritten", id, got)
	}
	overflow := uint64(binary.LittleEndian.Uint32(head[12:]))
	if id+overflow >= w.hwm {
		return fmt.Sprintf("page %d claims %d overflow pages, past the file's pages", id, overflow)
	}
	for i := uint64(1); i <= overflow; i++ {
		w.seen[id+i] = true
	}
	buf := make([]byte, (overflow+1)*w.pageSize)
	if _, err := w.f.ReadAt(buf, int64(id*w.pageSize)); err != nil {
		return fmt.Sprintf("page %d cannot be read: %v", id, err)
	}
	return w.elements(buf, fmt.Sprintf("page %d", id))
}

// elements checks a branch or leaf page held in buf (an inline bucket's
// page is a leaf within a value) and follows what it points to.
func (w *pageWalker) elements(buf []byte, name string) string {
	if len(buf) < pageHeaderSize {
		return name + " is shorter than a page header"
	}
	flags := binary.LittleEndian.Uint16(buf[8:])
	count := uint64(binary.LittleEndian.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(buf)) {
		return fmt.Sprintf("%s claims %d elements, more than it can hold", name, count)
	}
	switch flags {
	case branchFlag:
		if count == 0 {
			return name + " is a branch without elements"
		}
	case leafFlag:
	default:
		return fmt.Sprintf("%s has page type %#x where a branch or leaf page is expected: it was overwritten", name, flags)
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := buf[at : at+elementSize]
		if flags == branchFlag {
			pos, ksize := uint64(binary.LittleEndian.Uint32(e)), uint64(binary.LittleEndian.Uint32(e[4:]))
			if at+pos+ksize > uint64(len(buf)) {
				return fmt.Sprintf("%s: element %d points past the page", name, i)
			}
			if p := w.page(binary.LittleEndian.Uint64(e[8:]), name); p != "" {
				return p
			}
			continue
		}
		eflags := binary.LittleEndian.Uint32(e)
		pos, ksize := uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:]))
		vsize := uint64(binary.LittleEndian.Uint32(e[12:]))
		end := at + pos + ksize + vsize
		if end > uint64(len(buf)) {
			return fmt.Sprintf("%s: element %d points past the page", name, i)
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		v := buf[at+pos+ksize : end]
		if len(v) < inBucketSize {
			return fmt.Sprintf("%s: bucket %d has a %d-byte header", name, i, len(v))
		}
		inner := name + fmt.Sprintf(", bucket %q", buf[at+pos:at+pos+ksize])
		var p string
		if root := binary.LittleEndian.Uint64(v); root == 0 {
			p = w.elements(v[inBucketSize:], inner+" (inline)")
		} else {
			p = w.page(root, inner)
		}
		if p != "" {
			return p
		}
	}
	return ""
}

// check runs bbolt's own consistency check on an open file that verify
// passed: it also finds keys out of order and pages neither used nor
// free.
func check(db *bolt.DB, path string) error {
	var found []string
	n := 0
	err := guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			for cerr := range tx.Check() {
				if n < maxProblems {
					found = append(found, cerr.Error())
				}
				n++
			}
			return nil
		})
	})
	switch {
	case err != nil:
		return &DamagedError{Path: path, Problem: err.Error()}
	case n > maxProblems:
		found = append(found, fmt.Sprintf("and %d more", n-maxProblems))
	}
	if n > 0 {
		return &DamagedError{Path: path, Problem: "its consistency check failed: " + strings.Join(found, "; ")}
	}
	return nil
}

// Salvaged is what Recover kept of a damaged file.
type Salvaged struct {
	// MovedTo is where the damaged file now is.
	MovedTo string
	// Registries and Records count what was copied into the new file;
	// Incomplete names the registries whose reading stopped on damage.
	Registries, Records int
	Incomplete          []string
}

// Recover moves the damaged state file in dir aside, next to it, and
// starts a new one holding what can still be read of it: every record of
// every registry up to the first damaged page of that registry. The
// records are checked again when they are restored; the damaged file is
// left for a closer look.
func Recover(dir string, now func() string) (Salvaged, error) {
	path := filepath.Join(dir, FileName)
	aside, err := setAside(path, path+".damaged-"+now())
	if err != nil {
		return Salvaged{}, fmt.Errorf("storage: moving the damaged file aside: %w", err)
	}
	out := Salvaged{MovedTo: aside}
	regs, incomplete := salvage(aside)
	out.Incomplete = incomplete
	s, err := Open(dir, Options{})
	if err != nil {
		return out, err
	}
	defer func() { _ = s.Close() }()
	err = s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRegistries)
		for _, r := range regs {
			if err := r.write(root); err != nil {
				return err
			}
			out.Registries++
			out.Records += len(r.journeys)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("storage: writing what was salvaged: %w", err)
	}
	return out, nil
}

// maxSetAside bounds the names tried for one set-aside file; reaching it
// means a directory full of earlier ones, which wants a person's look.
const maxSetAside = 1000

// setAside moves path to name, or to name-1, name-2... if name is taken:
// the stamp has a one-second resolution, and a rename would silently
// replace a file set aside earlier in the same second, the only copy of
// what it held. A hard link fails rather than replace an existing name,
// so the choice is safe even against another process doing the same. On
// a file system without hard links, a name checked free is renamed to.
func setAside(path, name string) (string, error) {
	for i := range maxSetAside {
		aside := name
		if i > 0 {
			aside = fmt.Sprintf("%s-%d", name, i)
		}
		err := os.Link(path, aside)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if _, serr := os.Lstat(aside); !errors.Is(serr, fs.ErrNotExist) {
				return "", err
			}
			if rerr := os.Rename(path, aside); rerr != nil {
				return "", rerr
			}
			return aside, nil
		}
		if err := os.Remove(path); err != nil {
			_ = os.Remove(aside)
			return "", err
		}
		return aside, nil
	}
	return "", fmt.Errorf("%s and %d more names like it are taken", name, maxSetAside-1)
}

type kv struct{ k, v []byte }

// salvagedRegistry is what could be read of one registry.
type salvagedRegistry struct {
	name                   []byte
	totals, count          []byte
	vocabularies, journeys []kv
}

func (r *salvagedRegistry) write(root *bolt.Bucket) error {
	rb, err := root.CreateBucketIfNotExists(r.name)
	if err != nil {
		return err
	}
	for key, v := range map[string][]byte{string(keyTotals): r.totals, string(keyCount): r.count} {
		if v != nil {
			if err := rb.Put([]byte(key), v); err != nil {
				return err
			}
		}
	}
	for _, sub := range []struct {
		name []byte
		kvs  []kv
	}{{bucketVocab, r.vocabularies}, {bucketJourneys, r.journeys}} {
		b, err := rb.CreateBucketIfNotExists(sub.name)
		if err != nil {
			return err
		}
		for _, e := range sub.kvs {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// salvage reads what it can of a damaged file: nothing if bbolt cannot
// open it, else each registry's records until the first damage.
func salvage(path string) (regs []*salvagedRegistry, incomplete []string) {
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		return nil, nil
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		return nil, nil
	}
	defer func() { _ = guard(db.Close) }()
	var names [][]byte
	_ = guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			root := tx.Bucket(bucketRegistries)
			if root == nil {
				return nil
			}
			c := root.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v == nil {
					names = append(names, clone(k))
				}
			}
			return nil
		})
	})
	for _, name := range names {
		r := &salvagedRegistry{name: name}
		err := guard(func() error {
			return db.View(func(tx *bolt.Tx) error {
				rb := tx.Bucket(bucketRegistries).Bucket(name)
				if rb == nil {
					return errors.New("unreadable")
				}
				r.totals, r.count = clone(rb.Get(keyTotals)), clone(rb.Get(keyCount))
				copyAll(rb.Bucket(bucketVocab), &r.vocabularies)
				copyAll(rb.Bucket(bucketJourneys), &r.journeys)
				return nil
			})
		})
		if err != nil {
			incomplete = append(incomplete, string(name))
		}
		regs = append(regs, r)
	}
	return regs, incomplete
}

// copyAll appends b's plain values to out as it goes, so what was read
// before a damaged page is kept.
func copyAll(b *bolt.Bucket, out *[]kv) {
	if b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			*out = append(*out, kv{clone(k), clone(v)})
		}
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
