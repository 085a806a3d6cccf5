package web_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

// Behind a reverse proxy serving the exporter under a path, the status
// page's links and the look-up's redirect start with that path, and the
// page says where users reach the exporter; without one, links start at
// the root.
func TestLinksFollowTheExternalURL(t *testing.T) {
	t.Parallel()
	tr := tracker.New(tracker.DefaultPolicy)
	tr.Register(now, tracker.Registration{ID: "j1", Source: tracker.SourcePush})
	href := regexp.MustCompile(`(?:href|action)="([^"]*)"`)
	for _, c := range []struct{ external, prefix string }{
		{"", ""},
		{"https://exporter.example.org", ""},
		{"https://ops.example.org/covoiturage", "/covoiturage"},
		{"https://ops.example.org/covoiturage%20prod", "/covoiturage%20prod"},
	} {
		mux := http.NewServeMux()
		web.New(web.Options{ExternalURL: c.external, Registries: func() []web.Registry {
			return []web.Registry{{Name: registryName, Tracker: tr, Journeys: tr.Stats()}}
		}}).Register(mux, nil)
		srv := httptest.NewServer(mux)
		code, _, page := get(t, srv.URL+"/")
		if code != http.StatusOK {
			t.Fatalf("%q: status page %d", c.external, code)
		}
		links := href.FindAllStringSubmatch(page, -1)
		if len(links) < 10 {
			t.Fatalf("%q: %d links on the status page", c.external, len(links))
		}
		for _, l := range links {
			if !strings.HasPrefix(l[1], c.prefix+"/") && l[1] != c.external+"/" {
				t.Errorf("%q: link %q does not start with %q/", c.external, l[1], c.prefix)
			}
		}
		if c.external != "" && !strings.Contains(page, `<a href="`+c.external+`/">`+c.external+`</a>`) {
			t.Errorf("%q: the status page does not say where the exporter is reached", c.external)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(srv.URL + "/journey?registry=" + registryName + "&id=j1")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if want := c.prefix + "/api/v1/journeys/" + registryName + "/j1"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%q: look-up answered %d to %q, want 303 to %q", c.external, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		srv.Close()
	}
}
