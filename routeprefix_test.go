package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

func TestParseRoutePrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "/": "", "//": "", "covoiturage": "/covoiturage", "/covoiturage/": "/covoiturage",
		"/ops/covoiturage": "/ops/covoiturage", "/covoiturage prod": "/covoiturage prod",
	} {
		if got, err := parseRoutePrefix(in); err != nil || got != want {
			t.Errorf("parseRoutePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/a/../b", "/a//b", "/./a", "/a?x=1", "/a#top", "/a\x00b", `/a\b`} {
		if _, err := parseRoutePrefix(bad); err == nil || !strings.Contains(err.Error(), "--web.route-prefix") {
			t.Errorf("parseRoutePrefix(%q): %v, want an error naming the flag", bad, err)
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"--web.route-prefix=/a/../b"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--web.route-prefix") {
		t.Errorf("a bad prefix: exit %d, %q", code, stderr.String())
	}
}

// anyButNotFound, as an expected status, takes any but 404.
const anyButNotFound = -1

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// The prefix handler over real HTTP: what it passes on, what it
// redirects and what it refuses, escaped prefixes and ids included.
func TestWithRoutePrefix(t *testing.T) {
	t.Parallel()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s %s", r.URL.Path, r.URL.RawPath, r.URL.RawQuery)
	})
	for _, c := range []struct {
		prefix, method, path string
		code                 int
		want                 string // the body, or the Location of a redirect
	}{
		{"/covoiturage", "GET", "/covoiturage/metrics", 200, "/metrics  "},
		{"/covoiturage", "GET", "/covoiturage/", 200, "/  "},
		{"/covoiturage", "GET", "/covoiturage/api/v1/journeys/p/a%2Fb?x=1", 200, "/api/v1/journeys/p/a/b /api/v1/journeys/p/a%2Fb x=1"},
		{"/covoiturage", "GET", "/covoiturage", 301, "/covoiturage/"},
		{"/covoiturage", "GET", "/covoiturage?x=1", 301, "/covoiturage/?x=1"},
		{"/covoiturage", "POST", "/covoiturage", 308, "/covoiturage/"},
		{"/covoiturage", "GET", "/", 302, "/covoiturage/"},
		{"/covoiturage", "HEAD", "/", 302, "/covoiturage/"},
		{"/covoiturage", "POST", "/", 404, ""},
		{"/covoiturage", "GET", "/metrics", 404, ""},
		{"/covoiturage", "GET", "/covoiturages/metrics", 404, ""},
		{"/covoiturage", "POST", "/-/reload", 404, ""},
		{"/ops/covoiturage", "GET", "/ops/metrics", 404, ""},
		{"/ops/covoiturage", "GET", "/ops/covoiturage/-/healthy", 200, "/-/healthy  "},
		{"/covoiturage prod", "GET", "/covoiturage%20prod/metrics", 200, "/metrics  "},
		{"/covoiturage prod", "GET", "/covoiturage%20prod/api/v1/journeys/p/a%2Fb", 200, "/api/v1/journeys/p/a/b /api/v1/journeys/p/a%2Fb "},
		{"/covoiturage prod", "GET", "/", 302, "/covoiturage%20prod/"},
		{"", "GET", "/metrics", 200, "/metrics  "},
	} {
		srv := httptest.NewServer(withRoutePrefix(c.prefix, echo))
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		srv.Close()
		got := string(body)
		if resp.StatusCode/100 == 3 {
			got = resp.Header.Get("Location")
		} else if resp.StatusCode == 404 {
			got = ""
		}
		if resp.StatusCode != c.code || (c.method != "HEAD" && got != c.want) {
			t.Errorf("prefix %q, %s %s: %d %q, want %d %q", c.prefix, c.method, c.path, resp.StatusCode, got, c.code, c.want)
		}
	}
}

// statusLinks fetches the status page at page and returns the absolute
// URLs of its links, and of its look-up form filled with a registry and
// an id.
func statusLinks(t *testing.T, page, registry, id string) []string {
	t.Helper()
	code, body, err := get(page)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", page, code, err)
	}
	base, _ := url.Parse(page)
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	resolve := func(ref string) string {
		u, err := base.Parse(ref)
		if err != nil {
			t.Errorf("link %q: %v", ref, err)
			return ""
		}
		return u.String()
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch {
				case n.Data == "a" && a.Key == "href":
					links = append(links, resolve(a.Val))
				case n.Data == "form" && a.Key == "action":
					links = append(links, resolve(a.Val)+"?"+url.Values{"registry": {registry}, "id": {id}}.Encode())
				case a.Key == "src" || (n.Data == "link" && a.Key == "href"):
					links = append(links, resolve(a.Val)) // assets, should the page ever have some
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return links
}

// followAll opens every link: each must stay under within and answer
// 2xx, redirects followed (the look-up's included). It returns the
// journeys' look-up answer.
func followAll(t *testing.T, links []string, within string) (lookup string) {
	t.Helper()
	for _, link := range links {
		if !strings.HasPrefix(link, within) {
			t.Errorf("link %s is not under %s", link, within)
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, link, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("link %s: %v", link, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 || !strings.HasPrefix(resp.Request.URL.String(), within) {
			t.Errorf("link %s: %d at %s: %.200s", link, resp.StatusCode, resp.Request.URL, body)
		}
		if strings.Contains(link, "/journey?") {
			lookup = string(body)
		}
	}
	return lookup
}

// exampleID waits for the demo's status page at page to show an example
// journey, and returns its id.
func exampleID(t *testing.T, page string) string {
	t.Helper()
	var id string
	eventually(t, 60*time.Second, func() error {
		_, body, err := get(page)
		if err != nil {
			return err
		}
		_, rest, found := strings.Cut(body, "; for example <a href=")
		if !found {
			return errors.New("no example journey on the status page yet")
		}
		_, rest, _ = strings.Cut(rest, ">")
		id, _, _ = strings.Cut(rest, "<")
		return nil
	})
	return html.UnescapeString(id)
}

// Behind a reverse proxy that passes the path on: --web.external-url
// with a path, and the route prefix that defaults to it. Every route is
// under it, / redirects to it, nothing else answers outside it, and
// every link of the status page, the look-up's redirect included, opens.
func TestRoutePrefixFromExternalURL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about 5 s")
	}
	t.Parallel()
	addr := testkit.FreeAddress(t)
	base := "http://" + addr
	external := base + "/ops/covoiturage"
	p := testkit.Start(t, buildExporter(t), "--demo", "--web.listen-address="+addr, "--web.external-url="+external+"/")
	eventually(t, 30*time.Second, func() error {
		code, _, err := get(external + "/-/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/-/ready under the prefix: %d", code)
		}
		return err
	})
	if !strings.Contains(p.Logs.String(), "route_prefix=/ops/covoiturage") {
		t.Errorf("the start log does not give the route prefix:\n%s", p.Logs)
	}
	for _, c := range []struct {
		method, url string
		code        int
		location    string
	}{
		{"GET", base + "/", http.StatusFound, "/ops/covoiturage/"},
		{"GET", external, http.StatusMovedPermanently, "/ops/covoiturage/"},
		{"GET", base + "/metrics", http.StatusNotFound, ""},
		{"GET", base + "/-/healthy", http.StatusNotFound, ""},
		{"GET", base + "/-/ready", http.StatusNotFound, ""},
		{"POST", base + "/-/reload", http.StatusNotFound, ""},
		{"GET", base + "/api/v1/journeys/demo", http.StatusNotFound, ""},
		{"GET", base + "/journey?registry=demo&id=x", http.StatusNotFound, ""},
		{"GET", base + "/proxy/demo/v3.3/journeys/x", http.StatusNotFound, ""},
		{"GET", base + "/ops/metrics", http.StatusNotFound, ""},
		{"GET", external + "/-/healthy", http.StatusOK, ""},
		{"POST", external + "/-/reload", http.StatusOK, ""},
		{"GET", external + "/api/v1/journeys/demo?limit=1", http.StatusOK, ""},
		// Reached the proxy, which relays it (no token: the registry's 403),
		// or answers itself: anything but the 404 of a route not served.
		{"GET", external + "/proxy/demo/v3.3/journeys/x", anyButNotFound, ""},
		{"GET", external + "/proxy/nowhere/v3.3/journeys/x", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		codeOK := resp.StatusCode == c.code || (c.code == anyButNotFound && resp.StatusCode != http.StatusNotFound)
		if !codeOK || resp.Header.Get("Location") != c.location {
			t.Errorf("%s %s: %d %q, want %d %q: %.200s", c.method, c.url, resp.StatusCode, resp.Header.Get("Location"), c.code, c.location, body)
		}
	}
	resp, err := client.Post(external+"/api/v1/journeys/demo", "application/json", strings.NewReader(`[{"operator_journey_id":"pushed-under-prefix"}]`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if code, body, err := get(external + "/api/v1/journeys/demo/pushed-under-prefix"); resp.StatusCode != http.StatusOK || err != nil || code != http.StatusOK {
		t.Errorf("a journey pushed under the prefix: push %d, then %d %v %.200s", resp.StatusCode, code, err, body)
	}
	_, exposition, _ := get(external + "/metrics")
	if want := fmt.Sprintf("covoiturage_exporter_web_info{external_url=%q} 1", external); !strings.Contains(exposition, want) {
		t.Errorf("no %s in the metrics", want)
	}

	page := external + "/"
	id := exampleID(t, page)
	links := statusLinks(t, page, "demo", id)
	if len(links) < 30 {
		t.Fatalf("%d links on the status page: %q", len(links), links)
	}
	if found := followAll(t, links, external+"/"); !strings.Contains(found, `"id":"`+id+`"`) {
		t.Errorf("the look-up of %s: %.300s", id, found)
	}
	if _, body, _ := get(page); !strings.Contains(body, "push (POST /ops/covoiturage/api/v1/journeys/demo)") || !strings.Contains(body, "proxy (/ops/covoiturage/proxy/demo/)") {
		t.Errorf("the status page does not name the push and proxy paths under the prefix")
	}
}

// Behind a reverse proxy that strips the path: --web.external-url with a
// path and --web.route-prefix=/. The exporter serves from its root and
// every link, built on the external URL, opens through the proxy.
func TestRoutePrefixRootBehindAStrippingProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about 5 s")
	}
	t.Parallel()
	const path = "/ops/covoiturage"
	addr := testkit.FreeAddress(t)
	target, _ := url.Parse("http://" + addr)
	// Its log would only say the exporter is not listening yet.
	rp := &httputil.ReverseProxy{ErrorLog: log.New(io.Discard, "", 0), Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, path)
		r.Out.URL.RawPath = ""
		if raw := r.In.URL.RawPath; raw != "" {
			r.Out.URL.RawPath = strings.TrimPrefix(raw, path)
		}
	}}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, path+"/") {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	external := front.URL + path
	testkit.Start(t, buildExporter(t), "--demo", "--web.listen-address="+addr, "--web.external-url="+external, "--web.route-prefix=/")
	eventually(t, 30*time.Second, func() error {
		code, _, err := get(external + "/-/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/-/ready through the proxy: %d", code)
		}
		return err
	})
	if code, _, err := get(target.String() + "/metrics"); err != nil || code != http.StatusOK {
		t.Errorf("the exporter's own /metrics with --web.route-prefix=/: %d %v", code, err)
	}
	page := external + "/"
	id := exampleID(t, page)
	links := statusLinks(t, page, "demo", id)
	if len(links) < 30 {
		t.Fatalf("%d links on the status page: %q", len(links), links)
	}
	if found := followAll(t, links, external+"/"); !strings.Contains(found, `"id":"`+id+`"`) {
		t.Errorf("the look-up of %s through the proxy: %.300s", id, found)
	}
}

// --web.route-prefix without --web.external-url: the exporter is reached
// directly, and the derived external URL ends with the prefix.
func TestRoutePrefixFlagDerivesTheExternalURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ids.txt"), "s1\n")
	cfg := durableConfig(t, dir, blackHole(t), hardeningToken, "ids.txt")
	p := startExporter(t, buildExporter(t), "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), "--web.route-prefix=covoiturage/")
	series := fmt.Sprintf("covoiturage_exporter_web_info{external_url=%q} 1\n", p.base+"/covoiturage")
	eventually(t, 30*time.Second, func() error {
		code, body, err := get(p.url("/covoiturage/metrics"))
		if err == nil && (code != http.StatusOK || !strings.Contains(body, series)) {
			err = fmt.Errorf("/covoiturage/metrics %d: no %s", code, strings.TrimSpace(series))
		}
		return err
	})
	if code, _, err := get(p.url("/metrics")); err != nil || code != http.StatusNotFound {
		t.Errorf("/metrics outside the prefix: %d %v, want 404", code, err)
	}
}
