package web_test

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

// Paging while journeys are registered and change status: no journey is
// listed twice, and none that matched all along is missed, whether the
// list is read a page at a time or streamed as one CSV.
func TestPagingUnderConcurrentChanges(t *testing.T) {
	t.Parallel()
	const initial = 6000 // more than a chunk: pages and streams cross chunk boundaries
	tr := tracker.New(tracker.DefaultPolicy)
	at := now
	stable := map[string]bool{} // pending all along
	var flipping []string       // pending and ok by turns
	for i := range initial {
		id := fmt.Sprintf("j%05d", i)
		tr.Register(at, tracker.Registration{ID: id, Source: tracker.SourcePush, Status: "pending"})
		if i%3 == 0 {
			stable[id] = true
		} else {
			flipping = append(flipping, id)
		}
	}
	mux := http.NewServeMux()
	web.New(web.Options{Registries: func() []web.Registry {
		return []web.Registry{{Name: registryName, Tracker: tr, Journeys: tr.Stats()}}
	}}).Register(mux, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + "/api/v1/journeys/" + registryName

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	changes := 0
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for n := 0; ; n++ {
			select {
			case <-stop:
				changes = n
				return
			default:
			}
			if n < 5000 {
				tr.Register(at, tracker.Registration{ID: fmt.Sprintf("new%06d", n), Source: tracker.SourcePush, Status: "pending"})
			}
			status := "ok"
			if n%2 == 0 {
				status = "pending"
			}
			tr.Checked(flipping[rng.IntN(len(flipping))], at, tracker.Result{Status: status})
			if n%16 == 0 {
				time.Sleep(time.Millisecond) // let the pages interleave with many changes, not all at once
			}
		}
	}()

	check := func(how string, listed []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, id := range listed {
			if seen[id] {
				t.Errorf("%s: %s listed twice", how, id)
			}
			seen[id] = true
		}
		for id := range stable {
			if !seen[id] {
				t.Errorf("%s: %s, pending all along, was missed", how, id)
			}
		}
	}
	for _, limit := range []int{37, 500} {
		check(fmt.Sprintf("pages of %d", limit), ids(listAll(t, base, url.Values{"status": {"pending"}}, limit)))
		all := ids(listAll(t, base, nil, limit))
		check(fmt.Sprintf("pages of %d, no filter", limit), all)
		for i := range initial {
			if all[i] != fmt.Sprintf("j%05d", i) {
				t.Fatalf("no filter: the first journeys are not in registration order at %d: %s", i, all[i])
			}
		}
	}
	_, _, body := get(t, base+"?status=pending&format=csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var streamed []string
	for _, row := range rows[1:] {
		streamed = append(streamed, row[0])
	}
	check("CSV", streamed)
	close(stop)
	wg.Wait()
	if changes < 1000 {
		t.Errorf("only %d changes while listing: the test proves little", changes)
	}
	t.Logf("%d registrations and status changes while listing", changes)
}
