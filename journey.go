package main

import (
	"log/slog"
	"strconv"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/demo"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/web"
)

// webwiring gives the journey API and the status page what they read of
// the running registries: figures, the applied configuration's public
// part, and the trackers.
func webwiring(ex *exporter.Exporter, f *flags, logger *slog.Logger) web.Options {
	// The paths the page names are the ones its reader sends requests to:
	// under the external URL's path; the proxy's own listener has none.
	pushPath := externalPath(f.externalURL)
	proxyPath := pushPath
	if f.proxyListen != "" {
		proxyPath = ""
	}
	return web.Options{
		Demo: f.demo, MetricsPath: f.telemetryPath, ExternalURL: f.externalURL, Logger: logger,
		Registries: func() []web.Registry {
			snaps := ex.Snapshots() // in configuration order
			out := make([]web.Registry, 0, len(snaps))
			for _, s := range snaps {
				h := ex.Registry(s.Registry)
				if h == nil {
					continue // removed by a reload meanwhile
				}
				info := h.Info()
				var sources []string
				if info.ConfiguredIDs > 0 {
					sources = append(sources, tracker.SourceConfig.String()+" ("+strconv.Itoa(info.ConfiguredIDs)+" ids)")
				}
				if f.demo && s.Registry == demo.Name {
					sources = append(sources, tracker.SourceDemo.String()+" (the simulated operator)")
				}
				sources = append(sources, tracker.SourcePush.String()+" (POST "+pushPath+"/api/v1/journeys/"+s.Registry+")")
				if info.Discovery {
					sources = append(sources, tracker.SourceDiscovery.String()+" (the registry's list endpoint)")
				}
				if info.Proxy {
					sources = append(sources, tracker.SourceProxy.String()+" ("+proxyPath+"/proxy/"+s.Registry+"/)")
				}
				out = append(out, web.Registry{
					Name: s.Registry, APIVersion: info.APIVersion,
					RequestsPerSecond: info.RequestsPerSecond, Concurrency: info.Concurrency,
					Sources: sources, Journeys: s.Journeys, Latest: s.Latest, Scheduler: s.Scheduler, Tracker: h.Tracker(), Canonical: h.CanonicalID,
				})
			}
			return out
		},
		Lookup: func(name string) (web.Registry, bool) {
			h := ex.Registry(name)
			if h == nil {
				return web.Registry{}, false
			}
			return web.Registry{Name: name, Tracker: h.Tracker(), Canonical: h.CanonicalID}, true
		},
	}
}
