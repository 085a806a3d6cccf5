package web_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

// serve runs the web server over a tracker of n pushed journeys, ids
// "1" to "n", behind a server whose whole-answer write timeout is wt.
func serve(t *testing.T, n int, canonical func(string) (string, error), wt time.Duration) string {
	t.Helper()
	tr := tracker.New(tracker.DefaultPolicy)
	tr.Grow(n)
	for i := 1; i <= n; i++ {
		tr.Register(now, tracker.Registration{ID: strconv.Itoa(i), Source: tracker.SourcePush, Start: now.Add(-time.Hour), Status: "pending"})
	}
	mux := http.NewServeMux()
	web.New(web.Options{Registries: func() []web.Registry {
		return []web.Registry{{Name: registryName, Tracker: tr, Journeys: tr.Stats(), Canonical: canonical}}
	}}).Register(mux, nil)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.WriteTimeout = wt
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/journeys/" + registryName
}

// A v2 registry keeps journey 7 under "7": asking for "007" is the same
// journey, as it is for push and the configuration.
func TestJourneyViewUsesTheCanonicalID(t *testing.T) {
	v2 := func(id string) (string, error) {
		n, err := strconv.ParseUint(id, 10, 63)
		if err != nil {
			return "", fmt.Errorf("%q is not a v2 journey number", id)
		}
		return strconv.FormatUint(n, 10), nil
	}
	base := serve(t, 10, v2, 0)
	if code, _, body := get(t, base+"/007"); code != http.StatusOK || !strings.Contains(body, `"7"`) {
		t.Errorf("GET /007 = %d %s, want journey 7", code, body)
	}
	if code, _, body := get(t, base+"/x7"); code != http.StatusBadRequest || !strings.Contains(body, "not a v2 journey number") {
		t.Errorf("GET /x7 = %d %s, want 400 with the reason", code, body)
	}
}

// q-values count: a client that takes CSV only as a last resort gets JSON.
func TestAcceptQValues(t *testing.T) {
	base := serve(t, 3, nil, 0)
	for accept, csv := range map[string]bool{
		"text/csv":                             true,
		"text/csv;q=0.1, application/json":     false,
		"application/json;q=0.5, text/csv":     true,
		"text/csv;q=0, */*":                    false,
		"application/json, text/csv;q=0.9":     false,
		"text/html, text/csv;q=0.8, */*;q=0.1": true,
	} {
		_, h, _ := get(t, base, "Accept", accept)
		if got := strings.HasPrefix(h.Get("Content-Type"), "text/csv"); got != csv {
			t.Errorf("Accept %q: Content-Type %q, want CSV %v", accept, h.Get("Content-Type"), csv)
		}
	}
}

// A long export to a slow reader is not cut off by the server's write
// timeout, which bounds ordinary answers: each chunk gets its own.
func TestSlowCSVExportIsNotCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("reads slowly for about a second")
	}
	const n = 40_000
	base := serve(t, n, nil, 300*time.Millisecond)
	resp, err := http.Get(base + "?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	rows := 0
	for sc.Scan() {
		rows++
		if rows%2000 == 0 {
			time.Sleep(50 * time.Millisecond) // a slow spreadsheet
		}
	}
	if err := sc.Err(); err != nil || rows != n+1 {
		t.Fatalf("read %d rows of %d (header included), error %v", rows, n+1, err)
	}
}
