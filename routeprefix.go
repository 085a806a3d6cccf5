package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// parseRoutePrefix checks --web.route-prefix, or the external URL's path
// it defaults to, and returns it as the web listener's routes start with
// it: "" for the root, else "/a/b" without a final slash. Like
// Prometheus, slashes at either end are optional; a prefix that does not
// name one clean path ("..", "//", a query) is refused, since the
// redirect from / is built on it.
func parseRoutePrefix(s string) (string, error) {
	p := "/" + strings.Trim(s, "/")
	if p == "/" {
		return "", nil
	}
	if path.Clean(p) != p || strings.ContainsAny(p, "?#\\") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("--web.route-prefix %q: want a path such as /covoiturage, without \"..\", \"//\", a query or control characters", s)
	}
	return p, nil
}

// externalPath is the path of a checked external URL, decoded: the
// default route prefix, as in Prometheus.
func externalPath(externalURL string) string {
	u, err := url.Parse(externalURL)
	if err != nil {
		return ""
	}
	return u.Path
}

// withRoutePrefix serves h under prefix (from parseRoutePrefix), h's
// routes being written from the root, as Prometheus serves its own under
// --web.route-prefix: GET / redirects to the prefix, the prefix without
// its final slash to the prefix with it, and anything else outside the
// prefix is 404, so that a reverse proxy that forgot the path is seen at
// once, not half served.
func withRoutePrefix(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	escaped := (&url.URL{Path: prefix}).EscapedPath()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, inside := strings.CutPrefix(r.URL.Path, prefix)
		switch {
		case inside && rest == "":
			// As httprouter's trailing slash redirect in Prometheus: a
			// method other than GET keeps its body with 308.
			code := http.StatusPermanentRedirect
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				code = http.StatusMovedPermanently
			}
			redirect(w, r, escaped+"/", code)
		case inside && strings.HasPrefix(rest, "/"):
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = new(url.URL)
			*r2.URL = *r.URL
			r2.URL.Path = rest
			// A raw path, set when the request escaped what needs no
			// escaping (an id's %2F), keeps its form when the prefix is
			// written the usual way; else the decoded path serves.
			r2.URL.RawPath = ""
			if rawRest, ok := strings.CutPrefix(r.URL.RawPath, escaped); ok && strings.HasPrefix(rawRest, "/") {
				r2.URL.RawPath = rawRest
			}
			h.ServeHTTP(w, r2)
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			redirect(w, r, escaped+"/", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})
}

// redirect sends r to location, its query kept.
func redirect(w http.ResponseWriter, r *http.Request, location string, code int) {
	if r.URL.RawQuery != "" {
		location += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, location, code)
}
