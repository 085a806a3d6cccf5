package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// bulkRegistrar is the tracker as a 3.x registry's exporter plans it:
// verdicts read in the lists.
func bulkRegistrar() *trackerRegistrar {
	r := newTrackerRegistrar()
	r.tr.SetPolicy(tracker.DefaultPolicy.WithBulk())
	return r
}

// A cancel relayed through the proxy is seen at once, from the registry's
// 200: the journey is canceled when the operator gets the answer, with a
// transition at that moment, the gauges and seen counter moved, and no
// look planned before its settle look. Ids that need escaping, and a
// journey the proxy never saw submitted, alike.
func TestCancelThroughTheProxyIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := bulkRegistrar()
	f := newFront(t, reg.url, tr, nil)
	start := simNow.Add(-time.Hour)
	// The longest id whose trip id ("trip"+id) the registry still takes.
	ids := []string{"cancel1", "Trip/2026 #é%1", strings.Repeat("x-", 126)}
	n := 0 // the registry's answers so far
	for _, id := range ids {
		if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody(id, start), nil); got.status != http.StatusCreated {
			t.Fatalf("submission of %q: %d %s", id, got.status, got.body)
		}
		n++
	}
	// Submitted before the proxy was in the way: unknown to the tracker.
	if got := do(t, http.MethodPost, reg.url.String()+"/v3.3/journeys", token, simulator.SubmissionBody("direct1", start), nil); got.status != http.StatusCreated {
		t.Fatalf("direct submission: %d %s", got.status, got.body)
	}
	n++
	canceled := tracker.Statuses.Index("canceled")
	for i, id := range append(ids, "direct1") {
		got := do(t, http.MethodPost, f.url+"/v3.3/journeys/"+url.PathEscape(id)+"/cancel", token, []byte(`{"code":"NO_SHOW","message":"passenger no-show"}`), nil)
		n++
		sameAnswer(t, got, reg.rec.answerNumber(t, n))
		if got.status != http.StatusOK || string(got.body) != `{"jsonrpc":"2.0","id":1}` {
			t.Fatalf("cancel of %q: %d %s", id, got.status, got.body)
		}
		// The answer is out: the tracker already holds the cancel.
		j, ok := tr.tr.Lookup(id)
		if !ok || j.Status != "canceled" || j.Source != "proxy" {
			t.Fatalf("%q after its cancel: %+v %v", id, j, ok)
		}
		if last := j.Transitions[len(j.Transitions)-1]; last.Status != "canceled" || !last.At.Equal(simNow) {
			t.Errorf("%q: last transition %+v, want canceled at %v", id, last, simNow)
		}
		if !j.NextCheck.IsZero() && j.NextCheck.Before(simNow.Add(48*time.Hour)) {
			t.Errorf("%q: a look planned at %v, before the settle look", id, j.NextCheck)
		}
		if s := tr.tr.Stats(); s.ByStatus[canceled] != int64(i+1) || s.SeenStatus[canceled] != uint64(i+1) {
			t.Errorf("after %d cancels: canceled gauge %d, seen %d", i+1, s.ByStatus[canceled], s.SeenStatus[canceled])
		}
		if sj, _ := reg.sim.Journey(id); sj.Status != simulator.StatusCanceled {
			t.Errorf("%q at the registry: %s", id, sj.Status)
		}
	}
	if due, _ := tr.tr.DueCount(simNow.Add(24*time.Hour), nil); due != 0 {
		t.Errorf("%d checks due within a day of the cancels", due)
	}
	f.waitMetric(t, 4, "covoiturage_proxy_changes_total", "call", proxy.CallCancel)
	f.waitMetric(t, 4, "covoiturage_proxy_requests_total")
	if n := f.metric(t, "covoiturage_proxy_tracking_failures_total", "reason", "error"); n != 0 {
		t.Errorf("%v tracking failures", n)
	}
}

// Only the registry's success changes a journey: a cancel or a PATCH it
// refused, of an unknown journey, of a retired or v2 version, or answered
// during maintenance, is relayed unchanged and leaves the journey as it
// was; an unknown id is not registered.
func TestRefusedChangesAreNotApplied(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := bulkRegistrar()
	f := newFront(t, reg.url, tr, nil)
	start := simNow.Add(-time.Hour)
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody("keep1", start), nil); got.status != http.StatusCreated {
		t.Fatalf("submission: %d %s", got.status, got.body)
	}
	before, _ := tr.tr.Lookup("keep1")
	cancel := []byte(`{"code":"X"}`)
	cases := []struct {
		name, method, path, auth string
		body                     []byte
		want                     int
	}{
		{"cancel without code", http.MethodPost, "/v3.3/journeys/keep1/cancel", token, []byte(`{}`), 400},
		{"cancel, body not JSON", http.MethodPost, "/v3.3/journeys/keep1/cancel", token, []byte(`code=X`), 400},
		{"cancel without token", http.MethodPost, "/v3.3/journeys/keep1/cancel", "", cancel, 403},
		{"cancel of an unknown journey", http.MethodPost, "/v3.3/journeys/ghost1/cancel", token, cancel, 404},
		{"cancel through a retired version", http.MethodPost, "/v3.2/journeys/keep1/cancel", token, cancel, 404},
		{"cancel through v2", http.MethodPost, "/v2/journeys/keep1/cancel", token, cancel, 404},
		{"PATCH outside the schema", http.MethodPatch, "/v3.3/journeys/keep1", token, []byte(`{"distance":5000}`), 400},
		{"PATCH of an unknown journey", http.MethodPatch, "/v3.3/journeys/ghost2", token, simulator.PatchBody(start), 404},
		{"PATCH without token", http.MethodPatch, "/v3.3/journeys/keep1", "", simulator.PatchBody(start), 403},
	}
	n := 1
	for _, c := range cases {
		got := do(t, c.method, f.url+c.path, c.auth, c.body, nil)
		n++
		sameAnswer(t, got, reg.rec.answerNumber(t, n))
		if got.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, got.status, got.body, c.want)
		}
	}
	reg.sim.SetFaults(simulator.Faults{Maintenance: true})
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys/keep1/cancel", token, cancel, nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, n+1))
	if got.status != http.StatusServiceUnavailable {
		t.Errorf("cancel during maintenance: %d", got.status)
	}
	if j, _ := tr.tr.Lookup("keep1"); j.Status != "pending" || len(j.Transitions) != len(before.Transitions) || !j.NextCheck.Equal(before.NextCheck) {
		t.Errorf("keep1 changed: %+v, was %+v", j, before)
	}
	for _, id := range []string{"ghost1", "ghost2"} {
		if _, ok := tr.tr.Lookup(id); ok {
			t.Errorf("%s registered from a 404", id)
		}
	}
	if sj, _ := reg.sim.Journey("keep1"); sj.Status != simulator.StatusPending {
		t.Errorf("keep1 at the registry: %s", sj.Status)
	}
	for _, call := range []string{proxy.CallCancel, proxy.CallPatch} {
		if n := f.metric(t, "covoiturage_proxy_changes_total", "call", call); n != 0 {
			t.Errorf("changes_total{call=%q} = %v", call, n)
		}
	}
}

// A PATCH the registry accepted puts the journey back to pending whatever
// it was, and its looks are planned as if its batch window started again
// at the PATCH, instead of waiting for the 7-day confirmation; the start
// it stored is the journey's.
func TestPatchThroughTheProxyReplans(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := bulkRegistrar()
	f := newFront(t, reg.url, tr, nil)
	start := simNow.Add(-100 * time.Hour)
	for _, id := range []string{"fixed1", "gone1"} {
		reg.sim.Put(simulator.Journey{OperatorID: operatorID, OperatorJourneyID: id, Status: simulator.StatusOK,
			StartAt: start, EndAt: start.Add(40 * time.Minute), DistanceMeters: 8000, CreatedAt: start.Add(time.Hour)})
		tr.tr.Register(start.Add(time.Hour), tracker.Registration{ID: id, Source: tracker.SourceProxy, Start: start, Status: "pending"})
		tr.tr.Listed(id, start.Add(50*time.Hour), "ok")
	}
	settled := start.Add(tracker.DefaultPolicy.SettleAfter)
	for range 2 {
		l, ok := tr.tr.NextLook(settled)
		if !ok || !l.Settling {
			t.Fatalf("settle look: %+v %v", l, ok)
		}
		tr.tr.Unchanged(l.ID, settled)
	}
	was, _ := tr.tr.Lookup("fixed1")
	if want := start.Add(tracker.DefaultConfirmAfter); !was.NextCheck.Equal(want) {
		t.Fatalf("before the PATCH, next look at %v, want the confirmation at %v", was.NextCheck, want)
	}
	// A canceled one comes back too: the servers store the acquisition
	// status "updated".
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys/gone1/cancel", token, []byte(`{"code":"X"}`), nil); got.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	ok := tracker.Statuses.Index("ok")
	for i, id := range []string{"fixed1", "gone1"} {
		got := do(t, http.MethodPatch, f.url+"/v3.3/journeys/"+id, token, simulator.PatchBody(start), nil)
		sameAnswer(t, got, reg.rec.answerNumber(t, i+2))
		if got.status != http.StatusOK || len(got.body) != 0 {
			t.Fatalf("PATCH of %s: %d %q", id, got.status, got.body)
		}
		j, _ := tr.tr.Lookup(id)
		if last := j.Transitions[len(j.Transitions)-1]; j.Status != "pending" || last.Status != "pending" || !last.At.Equal(simNow) {
			t.Errorf("%s after its PATCH: %s, last transition %+v", id, j.Status, last)
		}
		// The early frame's probe (or its looks, once the registry is seen
		// deciding early) from the PATCH: within its first 1.5 h.
		if !j.NextCheck.After(simNow) || j.NextCheck.After(simNow.Add(90*time.Minute)) {
			t.Errorf("%s: next look %v after the PATCH", id, j.NextCheck.Sub(simNow))
		}
		if sj, _ := reg.sim.Journey(id); sj.Status != simulator.StatusPending {
			t.Errorf("%s at the registry: %s", id, sj.Status)
		}
	}
	if s := tr.tr.Stats(); s.ByStatus[ok] != 0 || s.ByStatus[tracker.Statuses.Index("pending")] != 2 || s.PendingOverdue != 0 {
		t.Errorf("gauges: ok %d, pending %d, overdue %d", s.ByStatus[ok], s.ByStatus[tracker.Statuses.Index("pending")], s.PendingOverdue)
	}
	// A PATCH that moves the start: the registry lists and batches the
	// journey by the new one, and so does the tracker.
	moved := start.Add(2 * time.Hour)
	if got := do(t, http.MethodPatch, f.url+"/v3.3/journeys/fixed1", token, simulator.PatchBody(moved), nil); got.status != http.StatusOK {
		t.Fatalf("PATCH moving the start: %d %s", got.status, got.body)
	}
	if j, _ := tr.tr.Lookup("fixed1"); !j.Start.Equal(moved) {
		t.Errorf("start after the PATCH: %v, want %v", j.Start, moved)
	}
	if sj, _ := reg.sim.Journey("fixed1"); !sj.StartAt.Equal(moved) {
		t.Errorf("start at the registry: %v, want %v", sj.StartAt, moved)
	}
	f.waitMetric(t, 3, "covoiturage_proxy_changes_total", "call", proxy.CallPatch)
	f.waitMetric(t, 1, "covoiturage_proxy_changes_total", "call", proxy.CallCancel)
}

// When the change cannot be recorded (the registrar fails or is too
// slow), the operator still gets the registry's answer unchanged, and the
// failure is counted with the submissions'.
func TestChangeTrackingFailures(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	tr := bulkRegistrar()
	// The failing registrar answers at once, well within the default
	// timeout whatever the machine's load; the stuck one only ends with
	// its context, on a front with a short timeout.
	f := newFront(t, reg.url, tr, nil)
	short := newFront(t, reg.url, tr, func(cfg *proxy.Config) { cfg.TrackTimeout = 50 * time.Millisecond })
	start := simNow.Add(-time.Hour)
	for _, id := range []string{"fail1", "slow1"} {
		if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody(id, start), nil); got.status != http.StatusCreated {
			t.Fatalf("submission: %d %s", got.status, got.body)
		}
	}
	tr.hook = func(context.Context) error { return errors.New("disk full") }
	got := do(t, http.MethodPost, f.url+"/v3.3/journeys/fail1/cancel", token, []byte(`{"code":"X"}`), nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 3))
	f.waitMetric(t, 1, "covoiturage_proxy_tracking_failures_total", "reason", "error")
	tr.hook = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	got = do(t, http.MethodPatch, short.url+"/v3.3/journeys/slow1", token, simulator.PatchBody(start), nil)
	sameAnswer(t, got, reg.rec.answerNumber(t, 4))
	if got.status != http.StatusOK {
		t.Errorf("PATCH: %d %s", got.status, got.body)
	}
	short.waitMetric(t, 1, "covoiturage_proxy_tracking_failures_total", "reason", "timeout")
	if j, _ := tr.tr.Lookup("fail1"); j.Status != "pending" {
		t.Errorf("fail1: %s", j.Status)
	}
	for _, fr := range []*front{f, short} {
		for _, call := range []string{proxy.CallCancel, proxy.CallPatch} {
			if n := fr.metric(t, "covoiturage_proxy_changes_total", "call", call); n != 0 {
				t.Errorf("changes_total{call=%q} = %v", call, n)
			}
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"proxy: tracking failed; the answer is relayed unchanged" registry=prod call=cancel journey=fail1 err="disk full"`) {
		t.Errorf("logs:\n%s", logs)
	}
	if logs := short.logs.String(); !strings.Contains(logs, `"proxy: tracking timed out; the answer is relayed unchanged" registry=prod call=patch journey=slow1`) {
		t.Errorf("logs:\n%s", logs)
	}
}

// A cancel and a PATCH through the proxy of an exporter on a store are on
// disk when the operator gets the answer: an exporter started again on
// the same state file holds them, transitions and planned looks included.
func TestChangesSurviveARestart(t *testing.T) {
	t.Parallel()
	reg := newSimRegistry(t)
	dir := t.TempDir()
	ex, stop := exporterOnDir(t, dir, reg.url)
	f := newFront(t, reg.url, ex.Registry(regName), nil)
	start := simNow.Add(-time.Hour)
	for _, id := range []string{"stay/canceled", "stay-patched"} {
		if got := do(t, http.MethodPost, f.url+"/v3.3/journeys", token, simulator.SubmissionBody(id, start), nil); got.status != http.StatusCreated {
			t.Fatalf("submission: %d %s", got.status, got.body)
		}
	}
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys/"+url.PathEscape("stay/canceled")+"/cancel", token, []byte(`{"code":"X"}`), nil); got.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	// Canceled, then PATCHed: pending again, planned from the PATCH.
	if got := do(t, http.MethodPost, f.url+"/v3.3/journeys/stay-patched/cancel", token, []byte(`{"code":"X"}`), nil); got.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	if got := do(t, http.MethodPatch, f.url+"/v3.3/journeys/stay-patched", token, simulator.PatchBody(start), nil); got.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", got.status, got.body)
	}
	want := map[string]tracker.Journey{}
	for id, status := range map[string]string{"stay/canceled": "canceled", "stay-patched": "pending"} {
		j, _ := ex.Registry(regName).Tracker().Lookup(id)
		if j.Status != status {
			t.Fatalf("%s before the restart: %+v", id, j)
		}
		want[id] = j
	}
	wantStats := ex.Registry(regName).Tracker().Stats()
	stop()

	ex2, _ := exporterOnDir(t, dir, reg.url)
	for id, w := range want {
		j, ok := ex2.Registry(regName).Tracker().Lookup(id)
		if !ok || j.Status != w.Status || !j.NextCheck.Equal(w.NextCheck) || len(j.Transitions) != len(w.Transitions) ||
			!j.Transitions[len(j.Transitions)-1].At.Equal(simNow) {
			t.Errorf("%s after the restart:\n got %+v\nwant %+v", id, j, w)
		}
	}
	canceled := tracker.Statuses.Index("canceled")
	if got := ex2.Registry(regName).Tracker().Stats(); got.Tracked != wantStats.Tracked || got.SeenStatus[canceled] != 2 ||
		got.ByStatus[canceled] != wantStats.ByStatus[canceled] || got.ByStatus[canceled] != 1 {
		t.Errorf("stats after the restart: %+v, want %+v", got, wantStats)
	}
}

// exporterOnDir runs an exporter following the registry at target as
// regName on the store in dir; its clock stands still at simNow. stop
// closes the exporter, which writes its last changes, then the store.
func exporterOnDir(t *testing.T, dir string, target *url.URL) (ex *exporter.Exporter, stop func()) {
	t.Helper()
	store, err := storage.Open(dir, storage.Options{FlushInterval: storage.DefaultFlushInterval})
	if err != nil {
		t.Fatal(err)
	}
	ex = exporter.New(exporter.Options{Clock: clock.NewAccelerated(simNow, 0), Store: store})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ex.Close()
			if err := store.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := config.Registry{Name: regName, BaseURL: target.String(), APIVersion: "3.3", TokenFile: tokenFile}
	rc.ApplyDefaults()
	if err := ex.Apply(&config.Config{Registries: []config.Registry{rc}}); err != nil {
		t.Fatal(err)
	}
	return ex, stop
}
