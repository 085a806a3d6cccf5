package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const durableRegistry = "durable"

// busySim is a simulated registry holding ids in every outcome a check
// can have, on a clock that stands still so their statuses do too, with
// limits no test reaches.
func busySim(t *testing.T, token string, ids []string) string {
	t.Helper()
	high := simulator.Limit{Requests: 1_000_000, Window: time.Minute}
	sim, err := simulator.New(simulator.Config{
		Tokens: []simulator.Token{{Value: token, OperatorID: 1}},
		Clock:  clock.NewAccelerated(time.Now(), 0),
		Limits: simulator.Limits{Status: high, Other: high, Submit: high, Token: high},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		j := simulator.Journey{OperatorID: 1, OperatorJourneyID: id}
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			j.Status = simulator.StatusOK
		case 5:
			j.Status = simulator.StatusPending
		case 6:
			j.Status, j.FraudLabels = simulator.StatusFraudError, []string{simulator.FraudOverlap}
		case 7:
			j.Status, j.Anomalies = simulator.StatusAnomalyError, []simulator.Anomaly{{Label: simulator.AnomalyDistanceDuration}}
		case 8:
			j.Status, j.TermsViolations = simulator.StatusTermsViolationError, []string{simulator.TermsExpired}
		case 9:
			continue // unknown to the registry: 404
		}
		sim.Put(j)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// blackHole is a registry that never answers: an exporter started on it
// checks nothing, so its counters show exactly what it restored.
func blackHole(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: lets the handlers return
	return srv.URL
}

// durableConfig writes a configuration of the durable registry at url,
// following the ids of idsFile, and returns its path. Pending journeys are
// checked every 2 s, so polling never ends; the budget lets a burst go
// then paces the rest.
func durableConfig(t *testing.T, dir, url, token, idsFile string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "token"), token+"\n")
	path := filepath.Join(dir, fmt.Sprintf("covoiturage-%d.yml", time.Now().UnixNano()))
	writeFile(t, path, fmt.Sprintf(`registries:
  - name: %s
    base_url: %s
    token_file: token
    budget:
      requests_per_second: 33
      burst: 400
      concurrency: 16
    journeys:
      files: [%s]
    schedule:
      first_check_delay: 1s
      pending_interval: 2s
    health_interval: 1s
    request_timeout: 10m
`, durableRegistry, url, idsFile))
	return path
}

// persisted is what a store holds of the durable registry.
type persisted struct {
	tracker  *tracker.Tracker
	stats    tracker.Stats
	counters scheduler.CounterTotals
}

// readStore opens the store in dir, as a restarted exporter does, and
// reads the durable registry's state.
func readStore(t *testing.T, dir string) persisted {
	t.Helper()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	tr, c := tracker.New(tracker.DefaultPolicy), &scheduler.Counters{}
	if _, err := s.Restore(durableRegistry, tr, c); err != nil {
		t.Fatal(err)
	}
	return persisted{tracker: tr, stats: tr.Stats(), counters: c.Totals()}
}

// totals are the series of every counter a restart must not reset, at
// their persisted values.
func (p persisted) totals() []want {
	r := []string{"registry", durableRegistry}
	var out []want
	add := func(name, label string, names []string, values []uint64) {
		for i, n := range names {
			out = append(out, want{name, append([]string{label, n}, r...), float64(values[i])})
		}
	}
	s := p.stats
	add("covoiturage_journeys_seen_total", "status", tracker.Statuses.Names(), s.SeenStatus)
	add("covoiturage_journeys_fraud_labels_seen_total", "label", tracker.FraudLabels.Names(), s.SeenFraud)
	add("covoiturage_journeys_anomaly_labels_seen_total", "label", tracker.AnomalyLabels.Names(), s.SeenAnomaly)
	add("covoiturage_journeys_terms_violations_seen_total", "reason", tracker.TermsReasons.Names(), s.SeenTerms)
	add("covoiturage_journeys_registered_total", "source", tracker.SourceNames[:], s.Registered[:])
	outcomes := make([]uint64, len(scheduler.OutcomeNames))
	for i, n := range scheduler.OutcomeNames {
		outcomes[i] = p.counters.Outcomes[n]
	}
	add("covoiturage_scheduler_checks_total", "outcome", scheduler.OutcomeNames[:], outcomes)
	return append(out,
		want{"covoiturage_journeys_not_found_total", r, float64(s.NotFound)},
		want{"covoiturage_journeys_forgotten_total", r, float64(s.Forgotten)},
		want{"covoiturage_journey_settle_duration_seconds_count", r, float64(s.Settle.Count)},
	)
}

// gauges are the series a restored tracker rebuilds from the journeys.
func (p persisted) gauges() []want {
	r := []string{"registry", durableRegistry}
	var out []want
	add := func(name, label string, names []string, values []int64) {
		for i, n := range names {
			out = append(out, want{name, append([]string{label, n}, r...), float64(values[i])})
		}
	}
	s := p.stats
	add("covoiturage_journeys", "status", tracker.Statuses.Names(), s.ByStatus)
	add("covoiturage_journeys_fraud_labels", "label", tracker.FraudLabels.Names(), s.ByFraud)
	add("covoiturage_journeys_anomaly_labels", "label", tracker.AnomalyLabels.Names(), s.ByAnomaly)
	add("covoiturage_journeys_terms_violations", "reason", tracker.TermsReasons.Names(), s.ByTerms)
	add("covoiturage_journeys_tracked", "source", tracker.SourceNames[:], s.BySource[:])
	return append(out, want{"covoiturage_journeys_pending_overdue", r, float64(s.PendingOverdue)})
}

// recorder keeps every scrape of a process until stopped.
type recorder struct {
	mu      sync.Mutex
	scrapes []metrics
	stop    chan struct{}
	done    chan struct{}
}

func record(p *process, every time.Duration) *recorder {
	r := &recorder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if m, _, err := p.scrape(); err == nil {
				r.mu.Lock()
				r.scrapes = append(r.scrapes, m)
				r.mu.Unlock()
			}
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *recorder) halt() []metrics {
	close(r.stop)
	<-r.done
	return r.scrapes
}

// pusher sends journeys to the push endpoint from several goroutines,
// in batches and one by one, and remembers every id acknowledged with a
// 200, until a request fails (the exporter is gone).
type pusher struct {
	mu    sync.Mutex
	acked []string
	wg    sync.WaitGroup
}

func startPushing(t *testing.T, p *process, goroutines int) *pusher {
	t.Helper()
	return startPushingAs(t, p, goroutines, "push")
}

// startPushingAs is startPushing with ids that begin with prefix.
func startPushingAs(t *testing.T, p *process, goroutines int, prefix string) *pusher {
	t.Helper()
	ps := &pusher{}
	url := p.url("/api/v1/journeys/" + durableRegistry)
	hc := &http.Client{Timeout: 30 * time.Second}
	for g := range goroutines {
		ps.wg.Go(func() {
			for k := 0; ; k++ {
				size := 1
				if k%2 == 0 {
					size = 50
				}
				ids := make([]string, size)
				var body bytes.Buffer
				body.WriteString("[")
				for i := range ids {
					ids[i] = fmt.Sprintf("%s%02d%06d%02d", prefix, g, k, i)
					if i > 0 {
						body.WriteString(",")
					}
					fmt.Fprintf(&body, `{"operator_journey_id":%q}`, ids[i])
				}
				body.WriteString("]")
				resp, err := hc.Post(url, "application/json", &body)
				if err != nil {
					return // killed
				}
				var answer struct {
					Accepted int `json:"accepted"`
				}
				err = json.NewDecoder(resp.Body).Decode(&answer)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil || answer.Accepted != size {
					continue // not acknowledged: nothing to expect
				}
				ps.mu.Lock()
				ps.acked = append(ps.acked, ids...)
				ps.mu.Unlock()
			}
		})
	}
	return ps
}

func (ps *pusher) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.acked)
}

func flushesOK(m metrics) float64 {
	v, _ := m.value("covoiturage_storage_flushes_total", "result", "ok")
	return v
}

// The exporter is killed with SIGKILL in the middle of a polling cycle
// and of a push burst: every id the push endpoint acknowledged is on
// disk, every counter total the store holds is at least what a scrape
// showed before the last flushes that completed before the kill, and the
// restarted exporter shows exactly what the store holds, every journey
// included.
func TestDurableStateSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const n = 3000
	ids := writeIDFile(t, filepath.Join(dir, "ids.txt"), "cfg%07d", n)
	const token = "durable-token-5c1e9a"
	cfg := durableConfig(t, dir, busySim(t, token, ids), token, "ids.txt")

	p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data, "--storage.flush-interval=200ms")
	rec := record(p, 50*time.Millisecond)
	p.waitFor(t, 30*time.Second, func(m metrics) []string {
		if code, _, err := get(p.url("/-/ready")); err != nil || code != http.StatusOK {
			return []string{"ready"}
		}
		return nil
	})
	p.waitFor(t, 60*time.Second, func(m metrics) []string {
		var missing []string
		if v, _ := m.value("covoiturage_scheduler_checks_total", "registry", durableRegistry, "outcome", "checked"); v < 400 {
			missing = append(missing, fmt.Sprintf("400 checks (%v)", v))
		}
		if v := flushesOK(m); v < 5 {
			missing = append(missing, fmt.Sprintf("5 flushes (%v)", v))
		}
		return missing
	})
	// Polling is under way; now the push burst, killed once it is well
	// started.
	pushers := startPushing(t, p, 8)
	testkit.Poll(t, 60*time.Second, 10*time.Millisecond, func() (string, bool) {
		n := pushers.count()
		return fmt.Sprintf("%d pushed ids acknowledged, want 2000\n%s", n, p.Logs.String()), n >= 2000
	})
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-p.Exited; err == nil {
		t.Fatal("the exporter exited cleanly after SIGKILL")
	}
	scrapes := rec.halt()
	pushers.wg.Wait()
	acked := pushers.acked

	// The kill came in the middle of the cycle: journeys were still to
	// be checked for the first time.
	last := scrapes[len(scrapes)-1]
	unchecked, _ := last.value("covoiturage_journeys", "registry", durableRegistry, "status", "unchecked")
	checked, _ := last.value("covoiturage_scheduler_checks_total", "registry", durableRegistry, "outcome", "checked")
	if unchecked == 0 {
		t.Fatalf("every journey was checked before the kill: the test no longer kills mid-cycle")
	}
	t.Logf("killed with %v journeys still unchecked, %v checks done, %d pushed ids acknowledged, %v flushes", unchecked, checked, len(acked), flushesOK(last))

	// A scrape showing k flushes came before flush k+1 ended, so before
	// flush k+2 began and took its totals: with f flushes done before the
	// kill, the scrapes showing f-3 or fewer are covered, one flush of
	// margin for a scrape that read its families over a few milliseconds.
	covered := flushesOK(last) - 3
	var baseline metrics
	for _, m := range scrapes {
		if flushesOK(m) <= covered {
			baseline = m
		}
	}
	if baseline == nil {
		t.Fatal("no scrape is covered by a flush that completed before the kill")
	}

	disk := readStore(t, data)
	for _, w := range disk.totals() {
		before, _ := baseline.value(w.name, w.labels...)
		if w.value < before {
			t.Errorf("%s%v: %v on disk after SIGKILL, but a scrape before the last flushes showed %v", w.name, w.labels, w.value, before)
		}
	}
	if before, _ := baseline.value("covoiturage_scheduler_checks_total", "registry", durableRegistry, "outcome", "checked"); before < 100 {
		t.Errorf("the baseline scrape shows %v checks: the comparison proves little", before)
	}
	if configured := disk.stats.BySource[tracker.SourceConfig]; configured != n {
		t.Errorf("%d configured journeys on disk, want %d", configured, n)
	}
	lost := 0
	for _, id := range acked {
		if j, ok := disk.tracker.Lookup(id); !ok || j.Source != "push" {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of the %d acknowledged pushed ids are not on disk", lost, len(acked))
	}
	if reg := disk.stats.Registered[tracker.SourcePush]; reg < uint64(len(acked)) {
		t.Errorf("registered_total{source=push} %d on disk, below the %d ids acknowledged", reg, len(acked))
	}

	// Restarted on a registry that never answers, the exporter shows what
	// the store held, to the unit.
	cfg = durableConfig(t, dir, blackHole(t), token, "ids.txt")
	p = startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data)
	wants := append(disk.totals(), disk.gauges()...)
	p.waitFor(t, 30*time.Second, func(m metrics) []string { return unmetWants(m, wants) })
	if !strings.Contains(p.Logs.String(), fmt.Sprintf("journeys=%d", disk.stats.Tracked)) {
		t.Errorf("the start-up does not log the %d journeys restored:\n%s", disk.stats.Tracked, p.Logs.String())
	}
	for _, id := range append([]string{ids[0], ids[6], ids[n-1]}, acked...) {
		code, body, err := get(p.url("/api/v1/journeys/" + durableRegistry + "/" + id))
		want, _ := disk.tracker.Lookup(id)
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"status":"`+want.Status+`"`) ||
			!strings.Contains(body, `"source":"`+want.Source+`"`) {
			t.Fatalf("%s after the restart: %d %v %s, want status %s and source %s", id, code, err, body, want.Status, want.Source)
		}
	}
	p.Stop(t)
}

// The store refuses what it cannot use safely, before anything runs: a
// path another process holds, a file of a future format; and it loads
// the good records of a store with a corrupt one.
func TestDurableStoreRefusals(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ids.txt"), "cfg1\ncfg2\n")
	cfg := durableConfig(t, dir, blackHole(t), "refusals-token-0b7d", "ids.txt")
	refused := func(t *testing.T, data string, wants ...string) {
		t.Helper()
		cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+data, "--web.listen-address="+testkit.FreeAddress(t))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		began := time.Now()
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit code %d (%v), want 1\n%s", code, err, out.String())
		}
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("refused after %v", took)
		}
		for _, w := range wants {
			if !strings.Contains(out.String(), w) {
				t.Errorf("the error does not say %q:\n%s", w, out.String())
			}
		}
	}

	t.Run("locked", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		first := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data)
		first.waitFor(t, 30*time.Second, func(m metrics) []string {
			if code, _, err := get(first.url("/-/ready")); err != nil || code != http.StatusOK {
				return []string{"the first exporter ready"}
			}
			return nil
		})
		refused(t, data, "locked by another covoiturage_exporter")
		first.Stop(t)
	})

	t.Run("future format", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		s, err := storage.Open(data, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		future := uint32(storage.FormatVersion + 1)
		setFormat(t, filepath.Join(data, storage.FileName), future)
		refused(t, data, fmt.Sprintf("format version %d,", future), fmt.Sprintf("format versions %d to %d", storage.OldestFormatVersion, storage.FormatVersion))
		// The file is left as it was, for the release that reads it.
		setFormat(t, filepath.Join(data, storage.FileName), storage.FormatVersion)
		if s, err = storage.Open(data, storage.Options{}); err != nil {
			t.Fatalf("the refused file no longer opens: %v", err)
		}
		_ = s.Close()
	})

	t.Run("corrupt record", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		s, err := storage.Open(data, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := storage.Registry{Name: durableRegistry, Tracker: tracker.New(tracker.DefaultPolicy), Counters: &scheduler.Counters{}}
		if _, err := s.Restore(r.Name, r.Tracker, r.Counters); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			r.Tracker.Register(time.Now(), tracker.Registration{ID: fmt.Sprintf("push%d", i), Source: tracker.SourcePush})
		}
		if err := s.Flush([]storage.Registry{r}); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		db, err := bolt.Open(filepath.Join(data, storage.FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("registries")).Bucket([]byte(durableRegistry)).Bucket([]byte("journeys")).Put([]byte("push3"), []byte("garbage"))
		})
		_ = db.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data)
		p.waitFor(t, 30*time.Second, func(m metrics) []string {
			return unmetWants(m, []want{
				{"covoiturage_storage_corrupt_records_total", nil, 1},
				{"covoiturage_journeys_tracked", []string{"registry", durableRegistry, "source", "push"}, 4},
				{"covoiturage_journeys_tracked", []string{"registry", durableRegistry, "source", "config"}, 2},
			})
		})
		if !strings.Contains(p.Logs.String(), "skipped unreadable records") {
			t.Errorf("the corrupt record is not logged:\n%s", p.Logs.String())
		}
		p.Stop(t)
	})
}

// A damaged state file stops the exporter with the file and the damage
// named, never with a panic or an empty start; --storage.recover moves it
// aside and starts from what can be read.
func TestDamagedStoreIsRefusedThenRecovered(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	dir := t.TempDir()
	writeIDFile(t, filepath.Join(dir, "ids.txt"), "dmg%05d", 2000)
	cfg := durableConfig(t, dir, blackHole(t), "damage-token-4e1f", "ids.txt")
	// A store holding the 2000 journeys, copied for each damage.
	sound := filepath.Join(dir, "sound")
	p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+sound)
	p.waitFor(t, 30*time.Second, func(m metrics) []string {
		return unmetWants(m, []want{{"covoiturage_journeys_tracked", []string{"registry", durableRegistry, "source", "config"}, 2000}})
	})
	p.Stop(t)
	original, err := os.ReadFile(filepath.Join(sound, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
		says   string
	}{
		{"truncated to nothing", func([]byte) []byte { return nil }, "0 bytes"},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
		{"meta pages overwritten", func(b []byte) []byte {
			b = bytes.Clone(b)
			copy(b, bytes.Repeat([]byte{0x5a}, 2*os.Getpagesize()))
			return b
		}, "meta pages is valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(data, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(data, storage.FileName)
			if err := os.WriteFile(path, c.damage(original), 0o600); err != nil {
				t.Fatal(err)
			}
			// Bounded: an exporter that starts on the damaged file does
			// not exit by itself.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+data, "--web.listen-address="+testkit.FreeAddress(t))
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Contains(string(out), "panic") {
				t.Fatalf("exit code %d, want 1 and no panic\n%s", code, out)
			}
			for _, w := range []string{path, c.says, "--storage.recover"} {
				if !strings.Contains(string(out), w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data, "--storage.recover")
			p.waitFor(t, 30*time.Second, func(m metrics) []string {
				if code, _, err := get(p.url("/-/ready")); err != nil || code != http.StatusOK {
					return []string{"ready"}
				}
				return nil
			})
			if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 1 {
				t.Errorf("the damaged file is not kept aside: %v", aside)
			}
			if !strings.Contains(p.Logs.String(), "storage recovered") {
				t.Errorf("the recovery is not logged:\n%s", p.Logs.String())
			}
			p.Stop(t)
		})
	}
}

// setFormat overwrites a store's format version, as a future release
// would have written it.
func setFormat(t *testing.T, path string, v uint32) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, v))
	}); err != nil {
		t.Fatal(err)
	}
}

// The exporter is killed with SIGKILL twenty times in a row, each time in
// the middle of a push burst and of polling, and restarted on the same
// store: no acknowledged id is lost, and no counter a restart must keep
// starts below what a scrape covered by a completed flush showed.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("20 kills and restarts: skipped with -short")
	}
	t.Parallel()
	const kills = 20
	bin := buildExporter(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ids := writeIDFile(t, filepath.Join(dir, "ids.txt"), "kill%05d", 1000)
	const token = "kill-loop-token-2d8b"
	cfg := durableConfig(t, dir, busySim(t, token, ids), token, "ids.txt")

	type restart struct{ covered, last, first metrics }
	var restarts []restart
	var acked []string
	var covered, last metrics
	for k := range kills {
		p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+data, "--storage.flush-interval=200ms")
		p.waitFor(t, 30*time.Second, func(m metrics) []string {
			if code, _, err := get(p.url("/-/ready")); err != nil || code != http.StatusOK {
				return []string{"ready"}
			}
			return nil
		})
		// Taken once ready: a scrape from before shows nothing restored.
		first, _, err := p.scrape()
		if err != nil {
			t.Fatal(err)
		}
		if k > 0 {
			restarts = append(restarts, restart{covered, last, first})
		}
		rec := record(p, 50*time.Millisecond)
		// Ids of their own each run: one lost at a kill and pushed again
		// after the restart would be found on disk.
		pushers := startPushingAs(t, p, 4, fmt.Sprintf("run%02d", k))
		// Killed between 0.3 and 1.1 s into the burst: at a different
		// point of a flush each time.
		time.Sleep(300*time.Millisecond + time.Duration(k%5)*200*time.Millisecond)
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := <-p.Exited; err == nil {
			t.Fatal("the exporter exited cleanly after SIGKILL")
		}
		scrapes := rec.halt()
		pushers.wg.Wait()
		acked = append(acked, pushers.acked...)
		if len(scrapes) > 0 {
			last = scrapes[len(scrapes)-1]
			// As in TestDurableStateSurvivesSIGKILL: the scrapes showing
			// three flushes fewer than the last are covered.
			for _, m := range scrapes {
				if flushesOK(m) <= flushesOK(last)-3 {
					covered = m
				}
			}
		}
	}

	disk := readStore(t, data)
	lost, unique := 0, map[string]bool{}
	for _, id := range acked {
		unique[id] = true
		if _, ok := disk.tracker.Lookup(id); !ok {
			lost++
		}
	}
	backwards, belowLast, compared := 0, 0, 0
	for _, r := range restarts {
		for _, w := range disk.totals() {
			after, _ := r.first.value(w.name, w.labels...)
			if r.covered != nil {
				before, _ := r.covered.value(w.name, w.labels...)
				compared++
				if after < before {
					backwards++
					t.Errorf("%s%v: %v after a restart, below the %v a scrape covered by a flush showed", w.name, w.labels, after, before)
				}
			}
			if r.last != nil {
				if before, _ := r.last.value(w.name, w.labels...); after < before {
					belowLast++
				}
			}
		}
	}
	t.Logf("%d kills: %d acknowledgements of %d distinct pushed ids, %d not on disk; %d counter series compared across restarts, %d went backwards; %d were below the very last scrape before the kill (changes of the last flush interval, not yet written)",
		kills, len(acked), len(unique), lost, compared, backwards, belowLast)
	if lost > 0 {
		t.Errorf("%d of the %d acknowledged ids are not on disk", lost, len(acked))
	}
	if len(acked) < kills {
		t.Errorf("only %d ids acknowledged in %d runs: the kills did not come during pushes", len(acked), kills)
	}
	if compared == 0 {
		t.Error("no restart had a covered scrape to compare with")
	}
}
