package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
)

const (
	token      = "token-op1"
	otherToken = "token-op2"
	readOnly   = "token-readonly"
	noStatus   = "token-nostatus"
)

var epoch = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

type fixture struct {
	sim   *Simulator
	srv   *httptest.Server
	clock *clock.Accelerated
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	c := clock.NewAccelerated(epoch, 0)
	cfg := Config{
		Clock: c,
		Seed:  42,
		Tokens: []Token{
			{Value: token, OperatorID: 1},
			{Value: otherToken, OperatorID: 2},
			{Value: readOnly, OperatorID: 1, Permissions: []string{PermStatus}},
			{Value: noStatus, OperatorID: 1, Permissions: []string{PermCreate}},
		},
		Keys: []KeyPair{{AccessKey: "ak", SecretKey: "sk", OperatorID: 1}},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{sim: s, srv: srv, clock: c}
}

// legacyVersions serves every version the simulator knows, the retired
// ones included, for tests of clients of older servers.
func legacyVersions(c *Config) { c.Versions = AllVersions }

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (f *fixture) do(t *testing.T, method, path, tok, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// key builds a 64-character identity key from a short name.
func key(name string) string { return fmt.Sprintf("%064s", name) }

type journeyBody struct {
	id, trip          string
	start             time.Time
	dur               time.Duration
	distance          int
	driver, passenger string
	lat, lon          float64
}

func clean(id string, start time.Time) journeyBody {
	return journeyBody{id: id, trip: "t" + id, start: start, dur: 20 * time.Minute, distance: 5000,
		driver: key("d" + id), passenger: key("p" + id), lat: 48.85, lon: 2.35}
}

func (b journeyBody) String() string {
	return fmt.Sprintf(`{"operator_journey_id":%q,"operator_trip_id":%q,"operator_class":"C","incentives":[],
"start":{"datetime":%q,"lat":%v,"lon":%v},"end":{"datetime":%q,"lat":%v,"lon":%v},"distance":%d,
"driver":{"identity":{"identity_key":%q,"operator_user_id":"u1","phone_trunc":"+3361234567"},"revenue":200},
"passenger":{"identity":{"identity_key":%q,"operator_user_id":"u2","phone_trunc":"+3361234568"},"contribution":300,"seats":1}}`,
		b.id, b.trip, b.start.Format(time.RFC3339), b.lat, b.lon, b.start.Add(b.dur).Format(time.RFC3339), b.lat, b.lon,
		b.distance, b.driver, b.passenger)
}

// patch is a PATCH body that stores the journey as b describes it.
func (b journeyBody) patch() string {
	return fmt.Sprintf(`{"operator_class":"C","incentives":[],"start":{"datetime":%q,"lat":%v,"lon":%v},"end":{"datetime":%q,"lat":%v,"lon":%v},"distance":%d}`,
		b.start.Format(time.RFC3339), b.lat, b.lon, b.start.Add(b.dur).Format(time.RFC3339), b.lat, b.lon, b.distance)
}

func (f *fixture) status(t *testing.T, id string) map[string]any {
	t.Helper()
	r := f.do(t, "GET", "/v3.3/journeys/"+id, token, "")
	if r.status != 200 {
		t.Fatalf("GET %s = %d %s", id, r.status, r.body)
	}
	return r.json(t)
}

func (f *fixture) advance(d time.Duration) {
	f.clock.Advance(d)
	f.sim.Tick()
}
