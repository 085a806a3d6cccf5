package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// parseExternalURL checks --web.external-url and returns it without a
// final slash, as the alerts' and dashboards' links append their paths
// to it. Like Prometheus, it refuses quotes around it; unlike it, it
// wants a scheme and a host, and refuses credentials, a query and a
// fragment: the URL is a label of a metric, and links are built on it.
func parseExternalURL(s string) (string, error) {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'") || strings.HasSuffix(s, `"`) || strings.HasSuffix(s, "'") {
		return "", errors.New("--web.external-url must not begin or end with quotes")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		// url's errors quote the whole URL, credentials included.
		return "", errors.New("--web.external-url is not a URL")
	case u.User != nil:
		return "", errors.New("--web.external-url must not hold credentials: it is shown in a metric and in the alerts")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("--web.external-url %q: want an http:// or https:// URL", s)
	case u.Host == "":
		return "", fmt.Errorf("--web.external-url %q: no host", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("--web.external-url %q: links are built by appending paths to it, it cannot have a query or a fragment", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	// The status page's links and the look-up's redirect start with the
	// path: "//host" there would send browsers to another site.
	if u.Path != "" && path.Clean(u.Path) != u.Path {
		return "", fmt.Errorf("--web.external-url %q: its path must not hold \"//\", \".\" or \"..\": the status page's links and redirects start with it", s)
	}
	u.RawPath = ""
	return u.String(), nil
}

// deriveExternalURL is the external URL when --web.external-url is not
// given: https when the web configuration enables TLS, else http, and the
// address the exporter listens on. An address on every interface (:9896,
// 0.0.0.0, [::]) is replaced by the machine's hostname, as Prometheus
// does; a specific one, 127.0.0.1 included, is kept, since it is the only
// one the exporter answers on. A listener that is not TCP (vsock) has no
// address a browser reaches: the hostname stands in for it, and the start
// log says to set the flag. Its path is the route prefix, which the
// exporter, reached directly, serves under.
func deriveExternalURL(tls bool, addr net.Addr, hostname func() (string, error), routePrefix string) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port := "", ""
	if a, ok := addr.(*net.TCPAddr); ok {
		if !a.IP.IsUnspecified() {
			host = a.IP.String()
		}
		port = fmt.Sprint(a.Port)
	}
	if host == "" {
		name, err := hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		host = name
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	}
	return (&url.URL{Scheme: scheme, Host: host, Path: routePrefix}).String()
}

// newWebInfo registers covoiturage_exporter_web_info, whose one series
// carries the external URL: the alert rules read it to build their links
// to the exporter, a Prometheus rule template having no other way to
// know it.
func newWebInfo(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "covoiturage", Subsystem: "exporter", Name: "web_info",
		Help: "Always 1: external_url is where users reach the exporter (--web.external-url, or the one derived from the listen address and the web configuration's TLS). The alert rules build their links to the journeys on it.",
	}, []string{"external_url"})
	reg.MustRegister(g)
	return g
}
