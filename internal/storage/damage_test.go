package storage

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// damagedStore writes a store of two registries, 3000 journeys each,
// closes it and returns its directory and file size.
func damagedStore(t *testing.T) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := restored(t, s, "a"), restored(t, s, "b")
	fill(a, "a", 3000)
	fill(b, "b", 3000)
	if err := s.Flush([]Registry{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return dir, st.Size()
}

// overwrite writes n pseudo-random bytes at off.
func overwrite(t *testing.T, path string, off int64, n int, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Every kind of damage is found at open, named with the file and what is
// wrong, and never a panic; Recover then moves the file aside and keeps
// what can be read. One damaged meta page is what bbolt was built to
// survive: the file opens from the other one, with a warning.
func TestDamagedFilesAreRefusedThenRecovered(t *testing.T) {
	t.Parallel()
	page := int64(os.Getpagesize())
	cases := []struct {
		name    string
		damage  func(t *testing.T, path string, size int64)
		problem string // in the error; "" when the file still opens
	}{
		{"truncated to 0", func(t *testing.T, path string, _ int64) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "0 bytes"},
		{"truncated to half", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"both meta pages overwritten", func(t *testing.T, path string, _ int64) {
			overwrite(t, path, 0, int(2*page), 1)
		}, "not a readable covoiturage_exporter store"},
		{"one meta page overwritten", func(t *testing.T, path string, _ int64) {
			overwrite(t, path, page+16, 64, 2)
		}, "meta page 1 is overwritten"},
		{"data pages overwritten", func(t *testing.T, path string, size int64) {
			overwrite(t, path, (size/page/2)*page, int(8*page), 3)
		}, "damaged"},
		{"random bytes", func(t *testing.T, path string, size int64) {
			overwrite(t, path, 0, int(size), 4)
		}, "not a readable covoiturage_exporter store"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, size := damagedStore(t)
			path := filepath.Join(dir, FileName)
			c.damage(t, path, size)
			s, err := Open(dir, Options{})
			if c.problem == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				a := restored(t, s, "a")
				t.Logf("opened: %d journeys of a restored", a.Tracker.Len())
				_ = s.Close()
				return
			}
			var damaged *DamagedError
			if !errors.As(err, &damaged) || damaged.Path != path || !strings.Contains(err.Error(), c.problem) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("Open: %v, want a DamagedError naming %s and saying %q", err, path, c.problem)
			}
			t.Logf("refused: %v", err)

			got, err := Recover(dir, func() string { return "test" })
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if _, err := os.Stat(path + ".damaged-test"); err != nil || got.MovedTo != path+".damaged-test" {
				t.Fatalf("the damaged file is not kept aside: %+v %v", got, err)
			}
			s = open(t, dir, Options{})
			a, b := restored(t, s, "a"), restored(t, s, "b")
			t.Logf("recovered: %d registries, %d records salvaged (incomplete: %v); restored a=%d b=%d",
				got.Registries, got.Records, got.Incomplete, a.Tracker.Len(), b.Tracker.Len())
			if a.Tracker.Len()+b.Tracker.Len() > 6000 {
				t.Fatalf("more journeys than were stored")
			}
		})
	}
}

// A sound file passes verify and bbolt's check.
func TestVerifyPassesASoundFile(t *testing.T) {
	t.Parallel()
	dir, _ := damagedStore(t)
	path := filepath.Join(dir, FileName)
	if err := verify(path); err != nil {
		t.Fatalf("verify of a sound file: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := check(db, path); err != nil {
		t.Fatalf("check of a sound file: %v", err)
	}
}

// Two recoveries stamped with the same time (the stamp has a one-second
// resolution) keep both damaged files: the second one is set aside under a
// free name and the first is left byte for byte as it was.
func TestRecoverNeverOverwritesAnEarlierSetAsideFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	same := func() string { return "20261201T194500Z" }
	var kept []string
	var contents [][]byte
	for i := range 3 {
		s := open(t, dir, Options{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Each file differs, so one overwriting another is seen.
		overwrite(t, path, 0, 4096, uint64(i+10))
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Recover(dir, same)
		if err != nil {
			t.Fatalf("recovery %d: %v", i, err)
		}
		kept = append(kept, got.MovedTo)
		contents = append(contents, before)
	}
	want := []string{path + ".damaged-20261201T194500Z", path + ".damaged-20261201T194500Z-1", path + ".damaged-20261201T194500Z-2"}
	for i := range kept {
		if kept[i] != want[i] {
			t.Fatalf("recovery %d set the file aside as %s, want %s", i, kept[i], want[i])
		}
		got, err := os.ReadFile(kept[i])
		if err != nil || string(got) != string(contents[i]) {
			t.Fatalf("the file set aside by recovery %d is not what was damaged (err %v)", i, err)
		}
	}
}
