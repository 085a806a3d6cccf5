package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// The storage collector shows a real store's flushes, their durations,
// when the last one ended, the file's size, and passes the linter; the
// last flush's time is absent before the first.
func TestStorageMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStorage(s.Stats))
	families := func() map[string]*dto.MetricFamily {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*dto.MetricFamily{}
		for _, mf := range mfs {
			out[mf.GetName()] = mf
		}
		return out
	}
	if f := families(); f["covoiturage_storage_last_flush_timestamp_seconds"] != nil || f["covoiturage_storage_flushes_total"] == nil {
		t.Fatalf("before any flush: %v", f)
	}

	r := storage.Registry{Name: "prod", Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
	if _, err := s.Restore(r.Name, r.Tracker, r.Counters); err != nil {
		t.Fatal(err)
	}
	r.Tracker.Register(time.Now(), tracker.Registration{ID: "j1"})
	before := time.Now()
	if err := s.Flush([]storage.Registry{r}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	f := families()
	for _, m := range f["covoiturage_storage_flushes_total"].GetMetric() {
		want := map[string]float64{"ok": 1, "error": 0}[m.GetLabel()[0].GetValue()]
		if m.GetCounter().GetValue() != want {
			t.Errorf("flushes_total%v = %v, want %v", m.GetLabel(), m.GetCounter().GetValue(), want)
		}
	}
	if h := f["covoiturage_storage_flush_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() <= 0 || h.GetSampleSum() > after.Sub(before).Seconds() {
		t.Errorf("flush duration: count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	last := f["covoiturage_storage_last_flush_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue()
	if last < float64(before.UnixNano())/1e9 || last > float64(after.UnixNano())/1e9 {
		t.Errorf("last flush at %v, not between %v and %v", last, before, after)
	}
	fi, err := os.Stat(filepath.Join(dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if size := f["covoiturage_storage_size_bytes"].GetMetric()[0].GetGauge().GetValue(); size != float64(fi.Size()) {
		t.Errorf("size_bytes %v, file %d", size, fi.Size())
	}
	if c := f["covoiturage_storage_corrupt_records_total"].GetMetric()[0].GetCounter().GetValue(); c != 0 {
		t.Errorf("corrupt_records_total %v", c)
	}
	problems, err := testutil.CollectAndLint(NewStorage(s.Stats))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
