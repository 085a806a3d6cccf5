package registry_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// listWindowEdges are instants where the list's window is easy to get
// wrong. The wanted times were worked out with Python's zoneinfo, not with
// this package: end and start are the servers' limits (in UTC), safeStart
// and safeEnd the window asked with the margins, written as a list query
// must send them (RFC 3339, Paris offset).
var listWindowEdges = []struct {
	name               string
	now                time.Time
	end, start         string
	safeStart, safeEnd string
}{
	// Paris goes to summer time at 01:00 UTC on the last Sunday of March
	// (2026-03-29): that day's midnight is still +01:00, the next one +02:00.
	{"spring DST day", utc("2026-03-29T12:00:00Z"),
		"2026-03-28T23:00:00Z", "2025-12-28T23:00:00Z", "2025-12-29T00:00:01+01:00", "2026-03-29T00:00:00+01:00"},
	{"day after spring DST", utc("2026-03-30T12:00:00Z"),
		"2026-03-29T22:00:00Z", "2025-12-29T23:00:00Z", "2025-12-30T00:00:01+01:00", "2026-03-30T00:00:00+02:00"},
	// And back at 01:00 UTC on the last Sunday of October (2026-10-25).
	{"autumn DST day", utc("2026-10-25T12:00:00Z"),
		"2026-10-24T22:00:00Z", "2026-07-26T22:00:00Z", "2026-07-27T00:00:01+02:00", "2026-10-25T00:00:00+02:00"},
	{"day after autumn DST", utc("2026-10-26T12:00:00Z"),
		"2026-10-25T23:00:00Z", "2026-07-27T22:00:00Z", "2026-07-28T00:00:01+02:00", "2026-10-26T00:00:00+01:00"},
	// 90 Paris days that hold the spring change last 90 days less an hour.
	{"start across spring DST", utc("2026-06-27T12:00:00Z"),
		"2026-06-26T22:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T00:00:01+01:00", "2026-06-27T00:00:00+02:00"},
	// Paris is past midnight, UTC is not: the servers' "today" is the
	// UTC date.
	{"Paris past midnight, UTC not", utc("2026-06-14T22:30:00Z"),
		"2026-06-13T22:00:00Z", "2026-03-15T23:00:00Z", "2026-03-16T00:00:01+01:00", "2026-06-14T00:00:00+02:00"},
	// Within the age margin of UTC midnight the start is already the
	// next day's.
	{"UTC half an hour before midnight", utc("2026-06-14T23:30:00Z"),
		"2026-06-13T22:00:00Z", "2026-03-15T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-14T00:00:00+02:00"},
	{"UTC a second before midnight", utc("2026-06-14T23:59:59Z"),
		"2026-06-13T22:00:00Z", "2026-03-15T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-14T00:00:00+02:00"},
	// Within the end margin after UTC midnight the end is still the
	// day before's.
	{"UTC 30 s after midnight", utc("2026-06-15T00:00:30Z"),
		"2026-06-14T22:00:00Z", "2026-03-16T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-14T00:00:00+02:00"},
	{"UTC a minute after midnight", utc("2026-06-15T00:01:00Z"),
		"2026-06-14T22:00:00Z", "2026-03-16T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-15T00:00:00+02:00"},
	{"winter, UTC 30 s after midnight", utc("2026-01-15T00:00:30Z"),
		"2026-01-14T23:00:00Z", "2025-10-16T22:00:00Z", "2025-10-17T00:00:01+02:00", "2026-01-14T00:00:00+01:00"},
	// A clock in another zone: only the instant counts, not its local date.
	{"Tokyo clock, a date ahead", in("Asia/Tokyo", "2026-06-15T08:00:00+09:00"),
		"2026-06-13T22:00:00Z", "2026-03-15T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-14T00:00:00+02:00"},
	{"New York clock, a date behind", in("America/New_York", "2026-06-14T21:00:00-04:00"),
		"2026-06-14T22:00:00Z", "2026-03-16T23:00:00Z", "2026-03-17T00:00:01+01:00", "2026-06-15T00:00:00+02:00"},
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func in(zone, s string) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	return utc(s).In(loc)
}

func TestListWindowAtTheEdges(t *testing.T) {
	t.Parallel()
	for _, c := range listWindowEdges {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := registry.ListEndLimit(c.now); !got.Equal(utc(c.end)) || got.Location() != registry.Paris() {
				t.Errorf("ListEndLimit(%s) = %s, want %s in Paris", c.now, got, c.end)
			}
			if got := registry.ListStartLimit(c.now); !got.Equal(utc(c.start)) {
				t.Errorf("ListStartLimit(%s) = %s, want %s", c.now, got.UTC(), c.start)
			}
			w := registry.SafeListWindow(c.now)
			if !w.Start.Equal(utc(c.safeStart)) || !w.End.Equal(utc(c.safeEnd)) {
				t.Errorf("SafeListWindow(%s) = [%s, %s), want [%s, %s)", c.now, w.Start, w.End, c.safeStart, c.safeEnd)
			}
		})
	}
}

func TestListWindowHolds(t *testing.T) {
	t.Parallel()
	w := registry.SafeListWindow(utc("2026-06-14T12:00:00Z"))
	day := 24 * time.Hour
	for _, c := range []struct {
		name   string
		lo, hi time.Time
		want   bool
	}{
		{"the whole window", w.Start, w.End, true},
		{"a second inside", w.Start.Add(time.Second), w.End.Add(-time.Second), true},
		{"the last day", w.End.Add(-day), w.End, true},
		{"past the end", w.End.Add(-day), w.End.Add(time.Nanosecond), false},
		{"before the start", w.Start.Add(-time.Second), w.Start.Add(day), false},
		{"after the end", w.End.Add(time.Hour), w.End.Add(2 * time.Hour), false},
	} {
		if got := w.Holds(c.lo, c.hi); got != c.want {
			t.Errorf("%s: Holds(%s, %s) = %v in [%s, %s)", c.name, c.lo, c.hi, got, w.Start, w.End)
		}
	}
}

// The window asked at the edges is accepted by the simulated servers,
// whose clock may be behind ours by less than ListEndMargin or ahead by
// less than ListAgeMargin, and it is sent with the Paris offset; a second
// past the servers' own limits is refused, so the test could fail.
func TestListWindowAcceptedByTheServers(t *testing.T) {
	t.Parallel()
	for _, c := range listWindowEdges {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, skew := range []time.Duration{-registry.ListEndMargin + time.Second, 0, registry.ListAgeMargin - time.Second} {
				server := c.now.Add(skew)
				sim, err := simulator.New(simulator.Config{
					Tokens: []simulator.Token{{Value: staticToken, OperatorID: operatorID}},
					Clock:  clock.NewAccelerated(server, 0),
					Seed:   1,
				})
				if err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var queries []url.Values
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					queries = append(queries, r.URL.Query())
					mu.Unlock()
					sim.Handler().ServeHTTP(w, r)
				}))
				f := &fixture{sim: sim, srv: srv}
				cl, _ := f.client(t, staticAuth(t), nil)

				w := registry.SafeListWindow(c.now)
				if _, err := cl.ListJourneys(ctxT(t), registry.ListQuery{Status: "ok", Start: w.Start, End: w.End}); err != nil {
					t.Errorf("servers %s off: the safe window [%s, %s) refused: %v", skew, w.Start, w.End, err)
				}
				mu.Lock()
				if n := len(queries); n != 1 || queries[0].Get("start") != c.safeStart || queries[0].Get("end") != c.safeEnd {
					t.Errorf("servers %s off: sent %v, want start=%s end=%s", skew, queries, c.safeStart, c.safeEnd)
				}
				mu.Unlock()

				end, start := registry.ListEndLimit(server), registry.ListStartLimit(server)
				for _, q := range []struct {
					what        string
					start, end  time.Time
					wantRefused bool
				}{
					{"the servers' own limits", start, end, false},
					{"a second past their end", end.Add(-time.Hour), end.Add(time.Second), true},
					{"a second before their start", start.Add(-time.Second), end, true},
				} {
					_, err := cl.ListJourneys(ctxT(t), registry.ListQuery{Status: "ok", Start: q.start, End: q.end})
					if refused := errors.Is(err, registry.ErrBadRequest); refused != q.wantRefused || (err != nil && !refused) {
						t.Errorf("servers at %s, %s [%s, %s): %v", server, q.what, q.start, q.end, err)
					}
				}
				srv.Close()
			}
		})
	}
}
