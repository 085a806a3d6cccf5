package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/mdlayher/vsock"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/netutil"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
)

// Limits of the exporter's HTTP servers, documented in docs/security.md.
const (
	// headerTimeout bounds the wait for a request's headers, the first
	// request of a connection included: a connection that sends nothing
	// is closed after it.
	headerTimeout = 10 * time.Second
	// idleTimeout closes a keep-alive connection that sends no new
	// request; above any sane scrape interval is useless, since
	// Prometheus reconnects at no cost.
	idleTimeout = 2 * time.Minute
	// bodyTimeout bounds the arrival of a request's body: the push
	// endpoint's and the proxy's own timeouts, applied to every route so
	// that a body no handler reads is not waited for forever either.
	bodyTimeout = 30 * time.Second
	// writeTimeout bounds a request's handling and answer: a body (30 s),
	// its registration (a flush) or the registry's answer the proxy
	// relays, and a scrape read by a slow client.
	writeTimeout = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers; an operator's JWT is a
	// couple of kilobytes.
	maxHeaderBytes = 64 << 10
)

// newServer returns a server of handler with the exporter's timeouts; its
// connections are bounded by serve.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           deadlines(handler),
		ReadHeaderTimeout: headerTimeout,
		// Bounds the whole request where deadlines does not run: one the
		// web configuration's basic auth refuses, whose body net/http
		// still reads to reuse the connection.
		ReadTimeout:    headerTimeout + bodyTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
	}
}

// deadlines gives every request a deadline to send its body and one to
// be answered. A bodyless request has its read deadline lifted: the
// server's ReadTimeout would otherwise cancel it, through net/http's
// background read, if it ran longer (a proxied call waiting for the
// registry).
func deadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetWriteDeadline(now.Add(writeTimeout))
		if r.ContentLength != 0 {
			_ = rc.SetReadDeadline(now.Add(bodyTimeout))
		} else {
			_ = rc.SetReadDeadline(time.Time{})
		}
		h.ServeHTTP(w, r)
	})
}

// connections bounds a server's open connections. Past shedAt of them,
// idle keep-alive connections are closed and keep-alive is off until
// they are down to resumeAt, so that idle clients, authenticated or not,
// never hold the slots a scrape needs; at max, new connections wait in
// the kernel's queue.
type connections struct {
	srv              *http.Server
	logger           *slog.Logger
	max              int
	shedAt, resumeAt int
	// The listener's series of webMetrics.
	openGauge prometheus.Gauge
	sheds     prometheus.Counter

	mu       sync.Mutex
	open     int
	shedding bool
}

func newConnections(srv *http.Server, limit int, logger *slog.Logger, m *webMetrics, listener string) *connections {
	c := &connections{
		srv: srv, logger: logger, max: limit, shedAt: limit * 3 / 4, resumeAt: limit / 2,
		openGauge: m.open.WithLabelValues(listener), sheds: m.sheds.WithLabelValues(listener),
	}
	prev := srv.ConnState
	srv.ConnState = func(conn net.Conn, st http.ConnState) {
		c.track(st)
		if prev != nil {
			prev(conn, st)
		}
	}
	return c
}

func (c *connections) track(st http.ConnState) {
	c.mu.Lock()
	switch st {
	case http.StateNew:
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
	shed, resume := false, false
	switch {
	case !c.shedding && c.open >= c.shedAt:
		c.shedding, shed = true, true
	case c.shedding && c.open <= c.resumeAt:
		c.shedding, resume = false, true
	}
	open := c.open
	// Under the lock, so that the last count set is the last one made.
	c.openGauge.Set(float64(open))
	if shed {
		c.sheds.Inc()
	}
	c.mu.Unlock()
	// Outside the lock: closing idle connections calls back here.
	switch {
	case shed:
		c.logger.Warn("web: many open connections: closing idle ones, keep-alive off until they are fewer", "open", open, "max", c.max)
		go c.srv.SetKeepAlivesEnabled(false)
	case resume:
		c.logger.Info("web: open connections back to normal: keep-alive on", "open", open, "max", c.max)
		go c.srv.SetKeepAlivesEnabled(true)
	}
}

// webMetrics meter connections: the log's line when shedding starts is
// easily missed. listener is a server's name, "web" or "proxy".
type webMetrics struct {
	open  *prometheus.GaugeVec
	sheds *prometheus.CounterVec
}

func newWebMetrics(reg prometheus.Registerer) *webMetrics {
	m := &webMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "web_connections_open",
			Help: "Open connections of the listener (web, or proxy with --proxy.listen-address), each of its addresses together; --web.max-connections bounds each address.",
		}, []string{"listener"}),
		sheds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "web_connection_shedding_total",
			Help: "Times the listener's open connections reached three quarters of --web.max-connections: its idle keep-alive connections were closed and keep-alive turned off until they were down to half.",
		}, []string{"listener"}),
	}
	reg.MustRegister(m.open, m.sheds)
	return m
}

// listen opens the listeners of a FlagConfig as exporter-toolkit's
// ListenAndServe would, each bounded to max connections.
func listen(flags *web.FlagConfig, limit int) ([]net.Listener, error) {
	var ls []net.Listener
	if flags.WebSystemdSocket != nil && *flags.WebSystemdSocket {
		got, err := activation.Listeners()
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			return nil, errors.New("no socket activation file descriptors found")
		}
		ls = got
	} else {
		for _, address := range *flags.WebListenAddresses {
			var l net.Listener
			var err error
			if strings.HasPrefix(address, "vsock://") {
				var port uint32
				if port, err = vsockPort(address); err == nil {
					l, err = vsock.Listen(port, nil)
				}
			} else {
				l, err = net.Listen("tcp", address)
			}
			if err != nil {
				for _, l := range ls {
					_ = l.Close()
				}
				return nil, err
			}
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil, web.ErrNoListeners
	}
	for i, l := range ls {
		ls[i] = netutil.LimitListener(l, limit)
	}
	return ls, nil
}

// vsockPort reads the port of a vsock://host:port listen address as
// exporter-toolkit does: a port that is not a whole number that fits in
// 32 bits is an error, never read in part or wrapped around.
func vsockPort(address string) (uint32, error) {
	u, err := url.Parse(address)
	if err != nil {
		return 0, err
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: %w", address, err)
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: port %q is not a vsock port (0 to 4294967295)", address, port)
	}
	return uint32(p), nil
}

// hasBasicAuth tells whether a web configuration file asks for basic
// authentication.
func hasBasicAuth(path string) (bool, error) {
	c, err := readWebConfig(path)
	return c.basicAuth, err
}

// webConfigSummary is what the exporter itself needs to know of a web
// configuration file; exporter-toolkit reads and enforces the rest.
type webConfigSummary struct {
	basicAuth bool
	// tls: the listener serves HTTPS.
	tls bool
}

// readWebConfig reads a web configuration file's basic_auth_users and
// whether its tls_server_config enables TLS, by exporter-toolkit's own
// rule.
func readWebConfig(path string) (webConfigSummary, error) {
	if path == "" {
		return webConfigSummary{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return webConfigSummary{}, err
	}
	defer func() { _ = f.Close() }()
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
		TLS   struct {
			Cert         string `yaml:"cert"`
			Key          string `yaml:"key"`
			CertFile     string `yaml:"cert_file"`
			KeyFile      string `yaml:"key_file"`
			ClientCA     string `yaml:"client_ca"`
			ClientCAFile string `yaml:"client_ca_file"`
			ClientAuth   string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if err := yaml.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		// A type error quotes the offending value, which here can be a
		// password hash or a private key: name the file and the keys,
		// never the value.
		if _, ok := errors.AsType[*yaml.TypeError](err); ok {
			return webConfigSummary{}, fmt.Errorf("%s: basic_auth_users must map user names to bcrypt hashes, and the keys of tls_server_config hold strings", path)
		}
		return webConfigSummary{}, fmt.Errorf("%s: %w", path, err)
	}
	t := web.TLSConfig{
		TLSCert: c.TLS.Cert, TLSKey: config.Secret(c.TLS.Key), TLSCertPath: c.TLS.CertFile, TLSKeyPath: c.TLS.KeyFile,
		ClientCAsText: c.TLS.ClientCA, ClientCAs: c.TLS.ClientCAFile, ClientAuth: c.TLS.ClientAuth,
	}
	return webConfigSummary{basicAuth: len(c.Users) > 0, tls: t.IsEnabled()}, nil
}

// served is one of the exporter's HTTP servers.
type served struct {
	name           string
	handler        http.Handler
	flags          *web.FlagConfig
	listeners      []net.Listener
	maxConnections int
	srv            *http.Server
	done           chan struct{}
}

// listen opens the server's listeners, bounded to maxConnections each;
// serve then serves on them.
func (s *served) listen(maxConnections int) error {
	if maxConnections < 1 {
		return fmt.Errorf("--web.max-connections must be at least 1, got %d", maxConnections)
	}
	ls, err := listen(s.flags, maxConnections)
	if err != nil {
		return err
	}
	s.listeners = ls
	s.maxConnections = maxConnections
	return nil
}

// serve serves on the listeners in the background; a serving error goes
// to errs.
func (s *served) serve(logger *slog.Logger, m *webMetrics, errs chan<- error) {
	s.srv = newServer(s.handler)
	newConnections(s.srv, s.maxConnections, logger, m, s.name)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		errs <- web.ServeMultiple(s.listeners, s.srv, s.flags, logger)
	}()
}

// close stops serving, or closes the listeners of a server that never
// served.
func (s *served) close() {
	if s.srv == nil {
		for _, l := range s.listeners {
			_ = l.Close()
		}
		return
	}
	_ = s.srv.Close()
	<-s.done
}

// retryAfter is what a client told 503 during start-up waits.
const retryAfter = "5"

// whenReady answers with notReady until the configuration is applied: a
// registry not yet known then is not a registry that does not exist.
func whenReady(ready *atomic.Bool, h http.Handler, notReady func(http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.Header().Set("Retry-After", retryAfter)
			notReady(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func pushNotReady(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"error":"the exporter is starting: its configuration is not applied yet; retry after the Retry-After seconds"}`+"\n")
}

func proxyNotReady(w http.ResponseWriter) {
	proxy.WriteError(w, http.StatusServiceUnavailable, "Service Unavailable: the exporter is starting, its proxy is not ready yet")
}

// proxyHandler routes /proxy/{registry}/ to the registry's proxy. Behind
// the exporter's basic auth, the Authorization header holds the
// exporter's own credentials: it is not the registry's business, and is
// removed.
func proxyHandler(ex *exporter.Exporter, stripAuthorization bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("registry")
		var p http.Handler
		if h := ex.Registry(name); h != nil {
			p = h.Proxy()
		}
		if p == nil {
			proxy.WriteError(w, http.StatusNotFound, "Not found: no registry of that name has proxy.enabled in the exporter's configuration")
			return
		}
		if stripAuthorization {
			r.Header.Del("Authorization")
		}
		http.StripPrefix("/proxy/"+name, p).ServeHTTP(w, r)
	})
}
