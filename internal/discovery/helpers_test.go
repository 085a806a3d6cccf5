package discovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

const token = "discovery-test-token"

var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fixture is a simulated registry on a manual clock, reached over real
// HTTP by a client (through an optional misbehaving wrapper) and, for the
// truth, directly; discovered journeys go to a real tracker.
type fixture struct {
	sim     *simulator.Simulator
	clock   *clock.Accelerated
	client  *registry.Client // through the wrapper
	direct  *registry.Client // straight to the simulator
	tracker *tracker.Tracker

	mu         sync.Mutex
	submitted  []simulator.Submission
	offered    map[string]int // registrations offered, by id
	calls      int            // Registrar calls
	failRegist error          // when set, the Registrar fails
	queries    []url.Values   // list requests from the client
}

type options struct {
	traffic *simulator.Traffic
	// wrap stands between the client and the simulator, to make it
	// misbehave as a registry might.
	wrap func(http.Handler) http.Handler
	// token the client sends; default the simulator's.
	token string
	// speed of the shared clock; 0 is a manual clock.
	speed float64
}

func newFixture(t testing.TB, o options) *fixture {
	t.Helper()
	c := clock.NewAccelerated(epoch, o.speed)
	f := &fixture{clock: c, tracker: tracker.New(tracker.DefaultPolicy), offered: map[string]int{}}
	cfg := simulator.Config{
		Clock:  c,
		Seed:   7,
		Tokens: []simulator.Token{{Value: token, OperatorID: 1}},
		// The tests measure discovery, not the simulator's per-IP limit.
		Limits: simulator.Limits{Status: simulator.Limit{Requests: 10_000_000, Window: time.Minute}},
		// No batch runs: a refused journey stays listable as pending, so
		// the submissions are a truth that needs no list at all.
		Lifecycle: simulator.Lifecycle{CheckFrom: 1000 * time.Hour, CheckTo: 1000 * time.Hour},
	}
	if o.traffic != nil {
		tr := *o.traffic
		tr.OnSubmit = func(s simulator.Submission) {
			f.mu.Lock()
			f.submitted = append(f.submitted, s)
			f.mu.Unlock()
		}
		cfg.Traffic = &tr
	}
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	h := sim.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/journeys") {
			f.mu.Lock()
			f.queries = append(f.queries, r.URL.Query())
			f.mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	direct := httptest.NewServer(sim.Handler())
	t.Cleanup(direct.Close)
	tok := o.token
	if tok == "" {
		tok = token
	}
	f.client = newClient(t, srv.URL, tok)
	f.direct = newClient(t, direct.URL, token)
	return f
}

func newClient(t testing.TB, url, tok string) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.Config{
		BaseURL: url, Auth: registry.Auth{Token: registry.Secret(tok)},
		Rate: 1e6, Burst: 1000, MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// traffic is the simulator's default mix at perHour, with history before
// and beyond the default window, so the window's edges matter.
func traffic(perHour float64) *simulator.Traffic {
	tr := simulator.DefaultTraffic()
	tr.PerHour = perHour
	// The window ends at the Paris midnight before the UTC date, 13 h
	// before epoch, and reaches 50 h further back.
	tr.Backfill = 70 * time.Hour
	return &tr
}

// register is the Registrar: a real tracker, checking what discovery
// hands it.
func (f *fixture) register(_ context.Context, regs []tracker.Registration) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failRegist != nil {
		return 0, f.failRegist
	}
	added := 0
	for _, r := range regs {
		if r.Source != tracker.SourceDiscovery || !r.Start.IsZero() || r.Status != "" {
			return added, fmt.Errorf("registration %+v: want source discovery, no start, no status", r)
		}
		f.offered[r.ID]++
		if f.tracker.Register(f.clock.Now(), r) {
			added++
		}
	}
	return added, nil
}

// reset forgets what earlier discoverers did, so subtests can share a
// simulator whose traffic took a while to generate.
func (f *fixture) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracker = tracker.New(tracker.DefaultPolicy)
	f.offered, f.calls, f.queries, f.failRegist = map[string]int{}, 0, nil, nil
}

func (f *fixture) registered() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for id := range f.offered {
		out[id] = true
	}
	return out
}

func (f *fixture) config(mod func(*Config)) Config {
	cfg := Config{
		Name: "test", Lister: f.client, Register: f.register, Clock: f.clock,
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// truth lists each status over [start, end] in a single page, with the
// faults off and straight to the simulator: the registry's own answer.
func (f *fixture) truth(t testing.TB, start, end time.Time, statuses []string) map[string]bool {
	t.Helper()
	saved := f.sim.Faults()
	f.sim.SetFaults(simulator.Faults{})
	defer f.sim.SetFaults(saved)
	out := map[string]bool{}
	for _, st := range statuses {
		ids, err := f.direct.ListJourneys(context.Background(),
			registry.ListQuery{Status: st, Start: start, End: end, Limit: 10_000_000})
		if err != nil {
			t.Fatalf("truth %s: %v", st, err)
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	return out
}

// storedIn lists the generated submissions the registry stored (201, or
// 422 terms violations, which it keeps) whose start is in [start, end):
// a truth that does not go through the list endpoint at all.
func (f *fixture) storedIn(start, end time.Time) map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, s := range f.submitted {
		at := s.StartAt.Truncate(time.Second) // bodies carry whole seconds
		if (s.HTTPStatus == http.StatusCreated || s.HTTPStatus == http.StatusUnprocessableEntity) &&
			!at.Before(start) && at.Before(end) {
			out[s.OperatorJourneyID] = true
		}
	}
	return out
}

// putAt stores n pending journeys that all started at the same second.
func (f *fixture) putAt(prefix string, n int, start time.Time) map[string]bool {
	out := map[string]bool{}
	for i := range n {
		id := prefix + strconv.Itoa(i)
		f.sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: id, Status: simulator.StatusPending,
			StartAt: start, CreatedAt: start.Add(time.Hour)})
		out[id] = true
	}
	return out
}

// submit sends a clean journey through the simulator's submission checks.
func (f *fixture) submit(t testing.TB, id string, start time.Time) int {
	t.Helper()
	key := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	body := fmt.Sprintf(`{"operator_journey_id":%q,"operator_trip_id":%q,"operator_class":"C","incentives":[],
"start":{"datetime":%q,"lat":48.85,"lon":2.35},"end":{"datetime":%q,"lat":48.88,"lon":2.38},"distance":5000,
"driver":{"identity":{"identity_key":%q,"operator_user_id":"u1","phone_trunc":"+3361234567"},"revenue":200},
"passenger":{"identity":{"identity_key":%q,"operator_user_id":"u2","phone_trunc":"+3361234568"},"contribution":300,"seats":1}}`,
		id, "t"+id, start.Format(time.RFC3339), start.Add(20*time.Minute).Format(time.RFC3339), key("d"+id), key("p"+id))
	code, answer := f.sim.Submit(1, []byte(body))
	if code != http.StatusCreated && code != http.StatusUnprocessableEntity {
		t.Fatalf("submit %s: %d %s", id, code, answer)
	}
	return code
}

// sameSet reports the differences between two id sets, a few of each.
func sameSet(got, want map[string]bool) error {
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return fmt.Errorf("%d ids missing %v, %d extra %v (want %d)",
		len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))], len(want))
}

func subset(got, of map[string]bool) error {
	for id := range got {
		if !of[id] {
			return fmt.Errorf("%s was registered but is not in the window", id)
		}
	}
	return nil
}

// lists returns the list requests the discoverer's client sent.
func (f *fixture) lists() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// records keeps log records, so tests can count what was logged.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) logger() *slog.Logger { return slog.New(recordHandler{r}) }

// count returns how many records at level or above have msg containing s.
func (r *records) count(s string) int { return r.countAt(slog.LevelDebug, s) }

func (r *records) countAt(level slog.Level, s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level >= level && strings.Contains(rec.Message, s) {
			n++
		}
	}
	return n
}

type recordHandler struct{ r *records }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.recs = append(h.r.recs, rec.Clone())
	h.r.mu.Unlock()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func (f *fixture) registrarCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// end is the list's end limit now: journeys that started after it cannot
// be listed yet.
func (f *fixture) end() time.Time { return registry.ListEndLimit(f.clock.Now()) }
