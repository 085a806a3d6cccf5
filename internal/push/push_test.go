package push_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const (
	token = "push-test-token"
	route = "POST /api/v1/journeys/{registry}"
	// prod follows operator_journey_id (3.3), legacy the v2 journey_id.
	prod, legacy = "prod", "legacy"
)

var now = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// newExporter runs an exporter on the simulated registry, with two
// registries: prod (3.3) and legacy (v2). Its clock stands still, so
// nothing is checked and the trackers hold what was registered.
func newExporter(t testing.TB) *exporter.Exporter {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewAccelerated(now, 0)
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: token, OperatorID: 1}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	ex := exporter.New(exporter.Options{Clock: clk})
	t.Cleanup(ex.Close)
	var regs []config.Registry
	for _, r := range []struct{ name, version string }{{prod, "3.3"}, {legacy, "2"}} {
		rc := config.Registry{Name: r.name, BaseURL: srv.URL, APIVersion: r.version, TokenFile: tokenFile}
		rc.ApplyDefaults()
		regs = append(regs, rc)
	}
	if err := ex.Apply(&config.Config{Registries: regs}); err != nil {
		t.Fatal(err)
	}
	return ex
}

// lookupIn finds registries in ex, as main does.
func lookupIn(ex *exporter.Exporter) push.Lookup {
	return func(name string) (push.Registry, bool) {
		if h := ex.Registry(name); h != nil {
			return h, true
		}
		return nil, false
	}
}

// serve mounts the endpoint as main does, on a real HTTP server.
func serve(t testing.TB, lookup push.Lookup, opts push.Options) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(route, push.NewHandler(lookup, opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// answer is either form of the endpoint's answer.
type answer struct {
	code int
	push.Response
	Error  string `json:"error"`
	Line   int    `json:"line"`
	Offset *int64 `json:"offset"`
}

func post(t testing.TB, base, name, contentType, body string) answer {
	t.Helper()
	return postFrom(t, base, name, contentType, strings.NewReader(body))
}

// postFrom sends body as it comes: a reader of unknown length is sent
// chunked, without Content-Length.
func postFrom(t testing.TB, base, name, contentType string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/journeys/"+name, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("answer %d has Content-Type %q", resp.StatusCode, ct)
	}
	a := answer{code: resp.StatusCode}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields() // the answer is exactly what is documented
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("answer %d: %v", resp.StatusCode, err)
	}
	return a
}

// Every format an operator may send registers its journeys, with the
// start time when given, as pushed journeys.
func TestPushFormats(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	start := time.Date(2026, 11, 20, 8, 15, 0, 0, time.UTC)
	type want struct {
		id    string
		start time.Time // zero: unknown
	}
	for _, tc := range []struct {
		name, registry, contentType, body string
		want                              []want
	}{
		{"one object", prod, "application/json",
			`{"operator_journey_id": "one1", "start": "2026-11-20T08:15:00Z"}`,
			[]want{{"one1", start}}},
		{"one object without start", prod, "application/json; charset=utf-8",
			` {"operator_journey_id": "one2"} `,
			[]want{{"one2", time.Time{}}}},
		{"array", prod, "application/json",
			`[{"operator_journey_id": "arr1", "start": "2026-11-20T09:15:00+01:00"}, {"operator_journey_id": "arr2", "start": null}]`,
			[]want{{"arr1", start}, {"arr2", time.Time{}}}},
		{"empty array", prod, "application/json", `[]`, nil},
		{"ndjson", prod, "application/x-ndjson",
			"{\"operator_journey_id\": \"nd1\", \"start\": \"2026-11-20T08:15:00.250Z\"}\n\n  \r\n{\"operator_journey_id\": \"nd2\"}\r\n{\"operator_journey_id\": \"nd3\"}",
			[]want{{"nd1", start}, {"nd2", time.Time{}}, {"nd3", time.Time{}}}},
		{"jsonl", prod, "application/jsonl", "{\"operator_journey_id\": \"jl1\"}\n", []want{{"jl1", time.Time{}}}},
		{"empty ndjson", prod, "application/x-ndjson", "", nil},
		{"brackets and escapes in strings", prod, "application/json",
			`[{"operator_journey_id": "esc1", "note": "] } [ { \" \\"}, {"operator_journey_id": "esc2", "n": [1, {"x": "]"}], "b": true, "z": -1.5e3}]`,
			[]want{{"esc1", time.Time{}}, {"esc2", time.Time{}}}},
		{"escaped start", prod, "application/json",
			`{"operator_journey_id": "esc3", "start": "2026-11-20T08:15:00\u005a"}`,
			[]want{{"esc3", start}}},
		{"byte order mark", prod, "application/json", "\ufeff[{\"operator_journey_id\": \"bom1\"}]", []want{{"bom1", time.Time{}}}},
		// The records an operator submitted to the registry (v3 POST
		// /journeys): the fields the endpoint does not use are ignored,
		// and the start's datetime is the start.
		{"submission records", prod, "application/x-ndjson",
			`{"operator_journey_id": "sub1", "operator_trip_id": "trip-1", "operator_class": "C", "incentives": [], "start": {"datetime": "2026-11-20T08:15:00Z", "lat": 48.85, "lon": 2.35}, "end": {"datetime": "2026-11-20T08:45:00Z", "lat": 48.9, "lon": 2.4}, "distance": 12000, "driver": {"revenue": 300}}` + "\n" +
				`{"operator_journey_id": "sub2", "journey_id": "sub2", "start": {"datetime": null, "lat": 1, "lon": 2}}`,
			[]want{{"sub1", start}, {"sub2", time.Time{}}}},
		{"v2 journey_id as number and string", legacy, "application/json",
			`[{"journey_id": 4242, "start": "2026-11-20T08:15:00Z"}, {"journey_id": "4243"}, {"operator_journey_id": "4244", "journey_id": 4244}, {"journey_id": "42\u00345"}]`,
			[]want{{"4242", start}, {"4243", time.Time{}}, {"4244", time.Time{}}, {"4245", time.Time{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := ex.Registry(tc.registry).Tracker()
			before := tr.Len()
			a := post(t, base, tc.registry, tc.contentType, tc.body)
			if a.code != http.StatusOK {
				t.Fatalf("answer %d: %s", a.code, a.Error)
			}
			if a.Accepted != len(tc.want) || a.New != len(tc.want) || a.AlreadyTracked != 0 || a.RejectedCount != 0 || len(a.Rejected) != 0 {
				t.Fatalf("answer %+v, want %d accepted, all new", a.Response, len(tc.want))
			}
			if a.Rejected == nil {
				t.Error("rejected is null, want []")
			}
			if got := tr.Len() - before; got != len(tc.want) {
				t.Errorf("%d journeys registered, want %d", got, len(tc.want))
			}
			for _, w := range tc.want {
				j, ok := tr.Lookup(w.id)
				if !ok {
					t.Errorf("%s is not tracked", w.id)
					continue
				}
				if j.Source != "push" || !j.Start.Equal(w.start) {
					t.Errorf("%s: source %s, start %v; want push, %v", w.id, j.Source, j.Start, w.start)
				}
			}
		})
	}
}

// Pushing the same batch again registers nothing new and says so; a start
// the first push lacked is filled in.
func TestPushIsIdempotent(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	tr := ex.Registry(prod).Tracker()
	var ids []string
	var body strings.Builder
	for i := range 50 {
		ids = append(ids, fmt.Sprintf("idem%03d", i))
		fmt.Fprintf(&body, "{\"operator_journey_id\": %q}\n", ids[i])
	}
	first := post(t, base, prod, "application/x-ndjson", body.String())
	if first.code != http.StatusOK || first.Accepted != len(ids) || first.New != len(ids) {
		t.Fatalf("first push: %d %+v", first.code, first.Response)
	}
	again := post(t, base, prod, "application/x-ndjson", body.String())
	if again.code != http.StatusOK || again.Accepted != len(ids) || again.New != 0 || again.AlreadyTracked != len(ids) {
		t.Fatalf("second push: %d %+v, want all %d already tracked", again.code, again.Response, len(ids))
	}
	if tr.Len() != len(ids) {
		t.Fatalf("tracker holds %d journeys, want %d", tr.Len(), len(ids))
	}
	withStart := post(t, base, prod, "application/json", fmt.Sprintf(`{"operator_journey_id": %q, "start": "2026-11-20T08:15:00Z"}`, ids[0]))
	if withStart.New != 0 || withStart.AlreadyTracked != 1 {
		t.Fatalf("push with start: %+v", withStart.Response)
	}
	if j, _ := tr.Lookup(ids[0]); j.Start.IsZero() {
		t.Error("a start pushed for a tracked journey without one was dropped")
	}
	// Twice in one batch: one registration, the other already tracked.
	dup := post(t, base, prod, "application/json", `[{"operator_journey_id": "twice1"}, {"operator_journey_id": "twice1"}]`)
	if dup.Accepted != 2 || dup.New != 1 || dup.AlreadyTracked != 1 {
		t.Fatalf("an id twice in a batch: %+v", dup.Response)
	}
}

// Invalid items are rejected one by one, with their index, id and reason;
// the valid items of the same request are registered.
func TestPushRejectsInvalidItems(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	long := strings.Repeat("a", 257)
	for i, tc := range []struct {
		registry string
		item     string
		valid    bool
		echo     string // the id the rejection repeats
		reason   string // in the rejection's error
	}{
		{prod, `{"operator_journey_id": "ok1"}`, true, "", ""},
		// The registry takes any 1 to 256 characters (docs/registry.md).
		{prod, `{"operator_journey_id": "Upper1"}`, true, "", ""},
		{prod, `{"operator_journey_id": "3f1b7c2e-8d4a-4e6b-9a0c-2b5d7e9f1a3c"}`, true, "", ""},
		{prod, `{"operator_journey_id": "OPJ 2026/11.25 #1?x=%20"}`, true, "", ""},
		{prod, `{"operator_journey_id": "a\u0000b"}`, false, "a\x00b", "NUL"},
		{prod, fmt.Sprintf(`{"operator_journey_id": %q}`, long), false, long[:64] + "…", "1 to 256"},
		{prod, `{"operator_journey_id": ""}`, false, "", "1 to 256"},
		{prod, `{"start": "2026-11-20T08:15:00Z"}`, false, "", "missing operator_journey_id"},
		{prod, `{}`, false, "", "missing operator_journey_id"},
		{prod, `null`, false, "", "missing operator_journey_id"},
		{prod, `"ok2"`, false, "", "want an object"},
		{prod, `["ok3"]`, false, "", "want an object"},
		{prod, `{"operator_journey_id": 12345}`, false, "", "operator_journey_id: want a string"},
		{prod, `{"operator_journey_id": "ok4", "journey_id": "ok5"}`, false, "ok4", "differ"},
		{prod, `{"operator_journey_id": "ok6", "start": "20/11/2026 08:15"}`, false, "ok6", "not an RFC 3339 time"},
		{prod, `{"operator_journey_id": "ok7", "start": ""}`, false, "ok7", "not an RFC 3339 time"},
		{prod, `{"operator_journey_id": "ok8", "start": 1763626500}`, false, "ok8", "want an RFC 3339 time"},
		{prod, `{"operator_journey_id": "ok9", "start": {"lat": 1}}`, false, "ok9", "without datetime"},
		{prod, `{"operator_journey_id": "ok10", "start": {"datetime": 5}}`, false, "ok10", "start.datetime"},
		{prod, `{"operator_journey_id": "ok11", "start": "1970-01-01T00:00:00Z"}`, false, "ok11", "before 2015"},
		{prod, `{"operator_journey_id": "ok12", "start": "2014-12-31T23:59:59Z"}`, false, "ok12", "before 2015"},
		{prod, `{"operator_journey_id": "ok13", "start": "9999-12-31T23:59:59Z"}`, false, "ok13", "more than 24h0m0s in the future"},
		{prod, `{"operator_journey_id": "ok14", "start": {"datetime": "2200-01-01T00:00:00Z"}}`, false, "ok14", "more than 24h0m0s in the future"},
		{prod, `{"journey_id": 1e3}`, false, "", "digits only"},
		{prod, `{"journey_id": true}`, false, "", "journey_id"},
		{legacy, `{"journey_id": 77}`, true, "", ""},
		{legacy, `{"journey_id": "abc"}`, false, "", "numeric journey_id"},
		{legacy, `{"journey_id": -5}`, false, "", "digits only"},
		{legacy, `{"journey_id": 123456789012345678901}`, false, "", "below 2^63"},
		{legacy, `{"operator_journey_id": "opj1"}`, false, "opj1", "numeric journey_id"},
	} {
		t.Run(tc.registry+"/"+truncateName(tc.item), func(t *testing.T) {
			tr := ex.Registry(tc.registry).Tracker()
			before := tr.Len()
			// The item sits between two valid ones, to show they go on.
			pad := func(i int) string {
				if tc.registry == legacy {
					return fmt.Sprintf(`{"journey_id": %d}`, 9000+i)
				}
				return fmt.Sprintf(`{"operator_journey_id": "pad%d"}`, i)
			}
			body := "[" + pad(2*i) + "," + tc.item + "," + pad(2*i+1) + "]"
			a := post(t, base, tc.registry, "application/json", body)
			if a.code != http.StatusOK {
				t.Fatalf("answer %d: %s", a.code, a.Error)
			}
			wantAccepted := 2
			if tc.valid {
				wantAccepted = 3
			}
			if a.Accepted != wantAccepted || a.New != wantAccepted || tr.Len()-before != wantAccepted {
				t.Fatalf("answer %+v and %d registered, want %d accepted", a.Response, tr.Len()-before, wantAccepted)
			}
			if tc.valid {
				if a.RejectedCount != 0 {
					t.Fatalf("rejected: %+v", a.Rejected)
				}
				return
			}
			if a.RejectedCount != 1 || len(a.Rejected) != 1 {
				t.Fatalf("rejected %d: %+v", a.RejectedCount, a.Rejected)
			}
			r := a.Rejected[0]
			if r.Index != 1 || r.OperatorJourneyID != tc.echo || !strings.Contains(r.Error, tc.reason) {
				t.Errorf("rejection %+v, want index 1, operator_journey_id %q, error about %q", r, tc.echo, tc.reason)
			}
		})
	}
}

func truncateName(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// A batch of garbage gets a bounded answer: the first 100 rejections and
// the count of all of them; NDJSON rejections give their line.
func TestPushCapsTheRejectedList(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	const bad = 250
	var body strings.Builder
	body.WriteString("{\"operator_journey_id\": \"fine1\"}\n\n")
	for i := range bad {
		fmt.Fprintf(&body, "{\"operator_journey_id\": \"BAD%d%s\"}\n", i, strings.Repeat("x", 257))
	}
	a := post(t, base, prod, "application/x-ndjson", body.String())
	if a.code != http.StatusOK || a.Accepted != 1 || a.RejectedCount != bad {
		t.Fatalf("answer %d %+v, want 1 accepted, %d rejected", a.code, a.Response, bad)
	}
	if len(a.Rejected) != 100 {
		t.Fatalf("%d rejections listed, want the first 100", len(a.Rejected))
	}
	for i, r := range a.Rejected {
		// Item 0 is line 1; line 2 is blank.
		if r.Index != i+1 || r.Line != i+3 || !strings.HasPrefix(r.OperatorJourneyID, fmt.Sprintf("BAD%dx", i)) {
			t.Fatalf("rejection %d: %+v", i, r)
		}
	}
}

// A body the endpoint cannot process whole gets a 4xx that says why, and
// registers nothing, not even the valid items before the fault.
func TestPushRefusesBadBodies(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	const maxBody, maxBatch = 4096, 5
	base := serve(t, lookupIn(ex), push.Options{MaxBodyBytes: maxBody, MaxBatch: maxBatch})
	valid := `{"operator_journey_id": "valid1"}`
	items := func(n int, sep string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(`{"operator_journey_id": "many%d"}`, i)
		}
		return strings.Join(s, sep)
	}
	for _, tc := range []struct {
		name, registry, contentType, body string
		chunked                           bool // no Content-Length
		code                              int
		msg                               string
		line                              int
		offset                            int64 // -1: none
	}{
		{"malformed array", prod, "application/json", "[" + valid + ", {\"operator_journey_id\": }]", false,
			http.StatusBadRequest, "malformed JSON at byte", 0, int64(len("["+valid+", {\"operator_journey_id\": ")) + 1},
		{"missing comma", prod, "application/json", "[" + valid + " " + valid + "]", false,
			http.StatusBadRequest, "malformed JSON at byte", 0, int64(len("["+valid)) + 2},
		{"truncated array", prod, "application/json", "[" + valid + ", {\"operator_journey_id\": \"x", false,
			http.StatusBadRequest, "ends in the middle of a JSON value", 0, int64(len("[" + valid + ", {\"operator_journey_id\": \"x"))},
		{"unclosed array", prod, "application/json", "[" + valid, false,
			http.StatusBadRequest, "ends in the middle of a JSON value", 0, int64(len("[" + valid))},
		{"trailing comma", prod, "application/json", "[" + valid + ",]", false,
			http.StatusBadRequest, "want an item after the comma", 0, int64(len("[" + valid + ",]"))},
		{"empty item", prod, "application/json", "[" + valid + ",," + valid + "]", false,
			http.StatusBadRequest, "malformed JSON at byte", 0, int64(len("[" + valid + ",,"))},
		{"unbalanced item", prod, "application/json", "[" + valid + `, {"a": [}, ` + valid + "]", false,
			http.StatusBadRequest, "malformed JSON at byte", 0, int64(len("[" + valid + `, {"a": [}`))},
		{"not JSON", prod, "application/json", "operator_journey_id=valid1", false,
			http.StatusBadRequest, "want a JSON object or an array of objects", 0, 1},
		{"a string", prod, "application/json", `"valid1"`, false,
			http.StatusBadRequest, "want a JSON object or an array of objects", 0, 1},
		{"empty body", prod, "application/json", "  \n", false,
			http.StatusBadRequest, "empty body", 0, -1},
		{"ndjson sent as json", prod, "application/json", valid + "\n" + valid, false,
			http.StatusBadRequest, "application/x-ndjson", 0, int64(len(valid)) + 2},
		{"garbage after array", prod, "application/json", "[" + valid + "] x", false,
			http.StatusBadRequest, "after the JSON value", 0, int64(len("[" + valid + "] x"))},
		{"malformed ndjson line", prod, "application/x-ndjson", valid + "\n\n{\"operator_journey_id\": \"v2\",}\n", false,
			http.StatusBadRequest, "line 3", 3, int64(len(valid + "\n\n{\"operator_journey_id\": \"v2\",}"))},
		{"two objects on an ndjson line", prod, "application/x-ndjson", valid + " " + valid + "\n", false,
			http.StatusBadRequest, "line 1", 1, int64(len(valid)) + 2},
		{"truncated ndjson", prod, "application/x-ndjson", valid + "\n{\"operator_journey_id\": \"v", false,
			http.StatusBadRequest, "line 2", 2, int64(len(valid + "\n{\"operator_journey_id\": \"v"))},
		{"oversized json", prod, "application/json", "[" + valid + strings.Repeat(" ", maxBody) + "]", false,
			http.StatusRequestEntityTooLarge, "body over 4096 bytes", 0, -1},
		{"oversized chunked json", prod, "application/json", "[" + valid + strings.Repeat(" ", maxBody) + "]", true,
			http.StatusRequestEntityTooLarge, "body over 4096 bytes", 0, -1},
		{"oversized chunked ndjson", prod, "application/x-ndjson", valid + "\n" + strings.Repeat("\n", maxBody), true,
			http.StatusRequestEntityTooLarge, "body over 4096 bytes", 0, -1},
		{"oversized chunked ndjson line", prod, "application/x-ndjson", valid + "\n" + strings.Repeat("a", maxBody), true,
			http.StatusRequestEntityTooLarge, "body over 4096 bytes", 0, -1},
		{"too many in an array", prod, "application/json", "[" + items(maxBatch+1, ",") + "]", false,
			http.StatusRequestEntityTooLarge, "more than 5 journeys", 0, -1},
		{"too many ndjson lines", prod, "application/x-ndjson", items(maxBatch+1, "\n"), false,
			http.StatusRequestEntityTooLarge, "more than 5 journeys", 0, -1},
		{"no content type", prod, "", valid, false, http.StatusUnsupportedMediaType, "want application/json", 0, -1},
		{"form", prod, "application/x-www-form-urlencoded", valid, false, http.StatusUnsupportedMediaType, "want application/json", 0, -1},
		{"latin-1", prod, "application/json; charset=iso-8859-1", valid, false, http.StatusUnsupportedMediaType, "want application/json", 0, -1},
		{"unknown registry", "nosuch", "application/json", valid, false, http.StatusNotFound, `no registry named "nosuch"`, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ex.Registry(prod).Tracker().Len()
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			a := postFrom(t, base, tc.registry, tc.contentType, body)
			if a.code != tc.code || !strings.Contains(a.Error, tc.msg) {
				t.Fatalf("answer %d %q, want %d about %q", a.code, a.Error, tc.code, tc.msg)
			}
			if a.Line != tc.line {
				t.Errorf("line %d, want %d", a.Line, tc.line)
			}
			switch {
			case tc.offset == -1 && a.Offset != nil:
				t.Errorf("offset %d, want none", *a.Offset)
			case tc.offset >= 0 && a.Offset == nil:
				t.Errorf("no offset, want %d", tc.offset)
			case tc.offset >= 0 && *a.Offset != tc.offset:
				t.Errorf("offset %d, want %d", *a.Offset, tc.offset)
			}
			if a.Accepted != 0 {
				t.Errorf("a refused request says %d accepted", a.Accepted)
			}
			if n := ex.Registry(prod).Tracker().Len(); n != before {
				t.Errorf("a refused request registered %d journeys", n-before)
			}
		})
	}
}

// The JSON offsets are what the client can use to find the fault: byte
// offset n in the body is where the decoder gave up.
func TestPushOffsetPointsAtTheFault(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	body := "\ufeff  \n[{\"operator_journey_id\": \"a1\"},\n {\"operator_journey_id\": \"a2\"} x]"
	a := post(t, base, prod, "application/json", body)
	if a.code != http.StatusBadRequest || a.Offset == nil {
		t.Fatalf("answer %d offset %v: %s", a.code, a.Offset, a.Error)
	}
	if got := body[*a.Offset-1]; got != 'x' {
		t.Errorf("offset %d points after %q, want after the stray x", *a.Offset, got)
	}
}

// A client that sends part of its body and stalls is cut off with a 408
// once ReadTimeout has passed, and nothing of it is registered.
func TestPushSlowClient(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{ReadTimeout: 200 * time.Millisecond})
	body := `[{"operator_journey_id": "slow1"}, {"operator_journey_id": "slow2"}]`
	a := stall(t, strings.TrimPrefix(base, "http://"), prod, "", body)
	if a.code != http.StatusRequestTimeout || !strings.Contains(a.Error, "did not arrive in time") {
		t.Fatalf("answer %d %q, want 408", a.code, a.Error)
	}
	if n := ex.Registry(prod).Tracker().Len(); n != 0 {
		t.Fatalf("a body cut off registered %d journeys", n)
	}
}

// stall sends a request's headers and the first half of its body, never
// the rest, and reads the answer. The connection's own deadline only
// bounds a broken test.
func stall(t *testing.T, addr, name, authorization, body string) answer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST /api/v1/journeys/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", name, addr, len(body))
	if authorization != "" {
		head += "Authorization: " + authorization + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"+body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

// registrar wraps the exporter's handles to fail or hold Register.
type registrar struct {
	*exporter.Exporter
	fail    atomic.Bool
	entered chan struct{}   // receives when Register is called, if set
	release <-chan struct{} // Register waits for it, if set
	calls   atomic.Int32
}

func (r *registrar) lookup(name string) (push.Registry, bool) {
	h := r.Registry(name)
	if h == nil {
		return nil, false
	}
	return &wrapped{Registry: h, r: r}, true
}

// wrapped is a handle whose Register the registrar fails or holds.
type wrapped struct {
	*exporter.Registry
	r *registrar
}

func (w *wrapped) Register(ctx context.Context, regs []tracker.Registration) (int, error) {
	r := w.r
	r.calls.Add(1)
	if r.fail.Load() {
		return 0, errors.New("storage: write /var/lib/covoiturage/state.db: no space left on device")
	}
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.release != nil {
		select {
		case <-r.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return w.Registry.Register(ctx, regs)
}

// When storage fails, the answer is a 503 that claims nothing, and the
// same request sent again succeeds.
func TestPushRegisterFailure(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	reg := &registrar{Exporter: ex}
	reg.fail.Store(true)
	base := serve(t, reg.lookup, push.Options{})
	body := `[{"operator_journey_id": "retry1"}, {"operator_journey_id": "retry2"}, {"operator_journey_id": ""}]`
	a := post(t, base, prod, "application/json", body)
	if a.code != http.StatusServiceUnavailable || !strings.Contains(a.Error, "none of this request is acknowledged") {
		t.Fatalf("answer %d %q, want 503 saying nothing was registered", a.code, a.Error)
	}
	if strings.Contains(a.Error, "/var/lib") {
		t.Errorf("the answer repeats the storage error: %q", a.Error)
	}
	if a.Accepted != 0 || a.New != 0 || ex.Registry(prod).Tracker().Len() != 0 {
		t.Fatalf("a failed request claims %d accepted, %d tracked", a.Accepted, ex.Registry(prod).Tracker().Len())
	}
	reg.fail.Store(false)
	a = post(t, base, prod, "application/json", body)
	if a.code != http.StatusOK || a.New != 2 || a.RejectedCount != 1 {
		t.Fatalf("retry: %d %+v", a.code, a.Response)
	}
	// A request with nothing valid in it does not touch storage.
	calls := reg.calls.Load()
	if a := post(t, base, prod, "application/json", `[{"operator_journey_id": ""}]`); a.code != http.StatusOK || a.RejectedCount != 1 {
		t.Fatalf("all rejected: %d %+v", a.code, a.Response)
	}
	if reg.calls.Load() != calls {
		t.Error("Register was called for a request without a valid journey")
	}
}

// The answer is sent only once Register has returned, and a Register that
// takes longer than ReadTimeout is not cut short: the deadline is for the
// body only.
func TestPushAnswersAfterRegisterReturns(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	release := make(chan struct{})
	reg := &registrar{Exporter: ex, entered: make(chan struct{}, 1), release: release}
	const readTimeout = 50 * time.Millisecond
	base := serve(t, reg.lookup, push.Options{ReadTimeout: readTimeout})
	answers := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/journeys/"+prod, strings.NewReader(`{"operator_journey_id": "held1"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answers <- answer{code: -1, Error: err.Error()}
			return
		}
		defer resp.Body.Close()
		a := answer{code: resp.StatusCode}
		_ = json.NewDecoder(resp.Body).Decode(&a)
		answers <- a
	}()
	<-reg.entered
	// Register holds past the read deadline; no answer may come meanwhile.
	select {
	case a := <-answers:
		t.Fatalf("answered %d (%s) before Register returned", a.code, a.Error)
	case <-time.After(4 * readTimeout):
	}
	close(release)
	a := <-answers
	if a.code != http.StatusOK || a.New != 1 {
		t.Fatalf("answer %d %+v (%s), want 200 with the journey new", a.code, a.Response, a.Error)
	}
	if _, ok := ex.Registry(prod).Tracker().Lookup("held1"); !ok {
		t.Fatal("held1 is not tracked")
	}
}

// webConfig allows one user, "operator", whose password is operatorPassword.
const (
	operatorPassword = "push-test-password"
	// bcrypt (cost 4, the least: the check runs on every new credential)
	// of operatorPassword.
	webConfig = "basic_auth_users:\n  operator: $2a$04$EitqZkGl5vP7vf.ThwbZaeOCCEvx2ynLvfLIXQHlGINaJjsrLxFfK\n"
)

// On the exporter's mux, the endpoint sits behind the exporter-toolkit web
// configuration: no credentials, no registration.
func TestPushBehindBasicAuth(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	mux := http.NewServeMux()
	mux.Handle(route, push.NewHandler(lookupIn(ex), push.Options{ReadTimeout: 200 * time.Millisecond}))
	path := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(path, []byte(webConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &path}
	served := make(chan error, 1)
	// web.Serve is what web.ListenAndServe runs on each listener; a
	// listener of our own gives the test its port.
	go func() { served <- web.Serve(ln, srv, flags, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})

	body := `{"operator_journey_id": "auth1"}`
	for _, tc := range []struct {
		name, user, password string
		code                 int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "operator", "guess", http.StatusUnauthorized},
		{"unknown user", "intruder", operatorPassword, http.StatusUnauthorized},
		{"operator", "operator", operatorPassword, http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/journeys/"+prod, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Fatalf("%s: answer %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
		_, tracked := ex.Registry(prod).Tracker().Lookup("auth1")
		if tracked != (tc.code == http.StatusOK) {
			t.Fatalf("%s: auth1 tracked: %v", tc.name, tracked)
		}
	}

	// The read deadline works through the toolkit's handler too.
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.SetBasicAuth("operator", operatorPassword)
	a := stall(t, addr, prod, req.Header.Get("Authorization"), `[{"operator_journey_id": "auth2"}, {"operator_journey_id": "auth3"}]`)
	if a.code != http.StatusRequestTimeout {
		t.Fatalf("a stalled body behind basic auth: answer %d %q, want 408", a.code, a.Error)
	}
}

// The metrics count requests by code and journeys by result; names from
// the URL that are no registry do not make series of their own.
func TestPushMetrics(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	reg := prometheus.NewPedanticRegistry()
	metrics := collector.NewPushMetrics(reg)
	base := serve(t, lookupIn(ex), push.Options{Observer: metrics})
	post(t, base, prod, "application/json", `[{"operator_journey_id": "m1"}, {"operator_journey_id": "m2"}, {"operator_journey_id": ""}]`)
	post(t, base, prod, "application/json", `[{"operator_journey_id": "m1"}]`)
	post(t, base, prod, "text/plain", `m1`)
	post(t, base, prod, "application/json", `[`)
	for i := range 20 {
		post(t, base, fmt.Sprintf("made-up-%d", i), "application/json", `{"operator_journey_id": "m1"}`)
	}
	want := `
# HELP covoiturage_push_journeys_total Journeys in the push requests that were processed (answered 200), by result: new (now followed), already_tracked, rejected (invalid, the answer says why).
# TYPE covoiturage_push_journeys_total counter
covoiturage_push_journeys_total{registry="prod",result="already_tracked"} 1
covoiturage_push_journeys_total{registry="prod",result="new"} 2
covoiturage_push_journeys_total{registry="prod",result="rejected"} 1
# HELP covoiturage_push_requests_total Requests to the push endpoint, by HTTP status code answered. The registry label is empty for a registry the configuration does not name.
# TYPE covoiturage_push_requests_total counter
covoiturage_push_requests_total{code="200",registry="prod"} 2
covoiturage_push_requests_total{code="400",registry="prod"} 1
covoiturage_push_requests_total{code="404",registry=""} 20
covoiturage_push_requests_total{code="415",registry="prod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// On a v2 registry a journey is its number: "007", "7" and 7 are one
// journey, followed as "7".
func TestPushV2IDsAreNumbers(t *testing.T) {
	t.Parallel()
	ex := newExporter(t)
	base := serve(t, lookupIn(ex), push.Options{})
	a := post(t, base, legacy, "application/json", `[{"journey_id": "007"}, {"journey_id": "7"}, {"journey_id": 7}]`)
	if a.code != http.StatusOK || a.Accepted != 3 || a.New != 1 || a.AlreadyTracked != 2 {
		t.Fatalf("answer %d %+v, want 3 accepted, 1 new", a.code, a.Response)
	}
	tr := ex.Registry(legacy).Tracker()
	if _, ok := tr.Lookup("7"); !ok || tr.Len() != 1 {
		t.Errorf("tracked %d journeys, want only \"7\"", tr.Len())
	}
}
