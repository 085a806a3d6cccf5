// Package web serves what an on-call reads in a browser or a script: the
// journey list of a registry, filtered and paged (JSON or CSV), one
// journey with its story, and the status page at /. It reads the
// trackers a chunk at a time and never holds a lock while it writes:
// scrapes, checks and pushes go on while a list is served.
package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/prometheus/common/version"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/scheduler"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Registry is what the pages show of one running registry. Nothing in it
// is secret: no URL, no credential.
type Registry struct {
	Name       string
	APIVersion string
	// Budget is the configured request rate and concurrency.
	RequestsPerSecond float64
	Concurrency       int
	// Sources are the ways journeys reach the tracker for this registry.
	Sources   []string
	Journeys  tracker.Stats
	Latest    tracker.Latest // the latest journeys counted: an example id to show
	Scheduler scheduler.Stats
	Tracker   *tracker.Tracker
	// Canonical checks an id as the registry would and gives the form the
	// tracker keeps it under (on v2, "007" is journey 7); nil keeps ids as
	// they come.
	Canonical func(id string) (string, error)
}

// Options are the server's collaborators.
type Options struct {
	// Registries lists the running registries, in configuration order.
	Registries func() []Registry
	// Lookup, when set, finds one running registry by name with only
	// what the journey routes read (Name, Tracker, Canonical), so an API
	// request does not gather every registry's figures; nil scans
	// Registries.
	Lookup func(name string) (Registry, bool)
	// Demo says the exporter runs --demo, shown on the status page.
	Demo bool
	// Version is shown on the status page; empty takes BuildVersion().
	Version string
	// MetricsPath is linked from the status page.
	MetricsPath string
	// ExternalURL is where users reach the exporter (--web.external-url),
	// shown on the status page. Its path, if any, is the one browsers
	// send (the route prefix, or a reverse proxy's that strips it): the
	// pages' links and redirects start with it, while the routes are
	// registered from the root, the route prefix being stripped before.
	// Empty: links from the root.
	ExternalURL string
	Logger      *slog.Logger
}

// Server serves the journey API and the status page.
type Server struct {
	opts Options
	// prefix is ExternalURL's path, escaped, without its final slash.
	prefix string
}

// New returns a server reading opts.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = BuildVersion()
	}
	if opts.MetricsPath == "" {
		opts.MetricsPath = "/metrics"
	}
	s := &Server{opts: opts}
	if u, err := url.Parse(opts.ExternalURL); err == nil {
		// Escaped: a Location header is sent as written.
		s.prefix = strings.TrimRight(u.EscapedPath(), "/")
	}
	return s
}

// Register adds the server's routes to mux. guard, when not nil, wraps
// the journey routes (the exporter answers them 503 until its
// configuration is applied); the status page says itself what runs. The
// status page is left out when the metrics are served at / themselves.
func (s *Server) Register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /api/v1/journeys/{registry}", guard(http.HandlerFunc(s.list)))
	// {id...}: an operator_journey_id may hold a slash, escaped or not.
	mux.Handle("GET /api/v1/journeys/{registry}/{id...}", guard(http.HandlerFunc(s.journey)))
	mux.Handle("GET /journey", guard(http.HandlerFunc(s.lookup)))
	if s.opts.MetricsPath != "/" {
		mux.HandleFunc("GET /{$}", s.status)
	}
}

// registry finds a running registry by name; when none runs under it,
// it answers 404 on w and says false.
func (s *Server) registry(w http.ResponseWriter, name string) (Registry, bool) {
	if s.opts.Lookup != nil {
		if r, ok := s.opts.Lookup(name); ok {
			return r, true
		}
	} else {
		for _, r := range s.opts.Registries() {
			if r.Name == name {
				return r, true
			}
		}
	}
	writeError(w, http.StatusNotFound, &QueryError{Parameter: "registry", Message: "no registry of that name runs"})
	return Registry{}, false
}

// BuildVersion is the exporter's version, never empty: the one make
// build stamps or the main package derives from the build information,
// its revision when known and not already in it, and the Go release.
func BuildVersion() string {
	v := version.Version
	if v == "" {
		v = "unknown"
	}
	if rev := version.GetRevision(); rev != "" && rev != "unknown" && !strings.Contains(v, rev[:min(7, len(rev))]) {
		v += " (revision " + rev[:min(12, len(rev))] + ")"
	}
	return v + ", " + runtime.Version()
}
