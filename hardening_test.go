package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

const hardeningToken = "hardening-token-7f3a"

// exporterBasicAuth allows "admin" with password "push-test-password"
// (bcrypt, cost 4).
const exporterBasicAuth = "basic_auth_users:\n  admin: $2a$04$EitqZkGl5vP7vf.ThwbZaeOCCEvx2ynLvfLIXQHlGINaJjsrLxFfK\n"

// authTap is the simulator with the Authorization header of every
// request it got noted.
type authTap struct {
	next http.Handler
	mu   sync.Mutex
	seen []string
}

func (a *authTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *authTap) headers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// tappedSim is a simulated registry knowing journey "known1", behind an
// authTap.
func tappedSim(t *testing.T) (*authTap, string) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Tokens: []simulator.Token{{Value: hardeningToken, OperatorID: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Put(simulator.Journey{OperatorID: 1, OperatorJourneyID: "known1", Status: simulator.StatusOK})
	tap := &authTap{next: sim.Handler()}
	srv := httptest.NewServer(tap)
	t.Cleanup(srv.Close)
	return tap, srv.URL
}

// inProcess is the exporter's mux, served by httptest, over an exporter
// with one registry "p" whose proxy is enabled, not ready until ready is
// set.
type inProcess struct {
	ex    *exporter.Exporter
	ready *atomic.Bool
	url   string
	rc    config.Registry
}

func newInProcess(t *testing.T, upstream string, args ...string) *inProcess {
	t.Helper()
	f, err := parseFlags(append([]string{"--config.file=unused.yml"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ex := exporter.New(exporter.Options{})
	t.Cleanup(ex.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, hardeningToken+"\n")
	rc := config.Registry{Name: "p", BaseURL: upstream, TokenFile: tokenFile}
	rc.Proxy.Enabled = true
	rc.Schedule.FirstCheckDelay = model.Duration(time.Hour)
	rc.ApplyDefaults()
	p := &inProcess{ex: ex, ready: &atomic.Bool{}, rc: rc}
	mux := http.NewServeMux()
	if err := routes(mux, f, prometheus.NewRegistry(), ex, nil, p.ready, make(chan chan error), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *inProcess) apply(t *testing.T) {
	t.Helper()
	if err := p.ex.Apply(&config.Config{Registries: []config.Registry{p.rc}}); err != nil {
		t.Fatal(err)
	}
	p.ready.Store(true)
}

func send(t *testing.T, method, url, contentType, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Until the configuration is applied, the routes that need it answer 503
// with Retry-After, never 404: a client may take a 404 as final.
func TestNotReadyIs503NotNotFound(t *testing.T) {
	t.Parallel()
	_, upstream := tappedSim(t)
	p := newInProcess(t, upstream)
	for _, c := range []struct{ method, path, contentType, body string }{
		{http.MethodPost, "/api/v1/journeys/p", "application/json", `{"operator_journey_id":"early1"}`},
		{http.MethodGet, "/api/v1/journeys/p/early1", "", ""},
		{http.MethodGet, "/api/v1/journeys/p?status=pending", "", ""},
		{http.MethodGet, "/api/v1/journeys/p?format=csv", "", ""},
		{http.MethodGet, "/journey?registry=p&id=early1", "", ""},
		{http.MethodPost, "/proxy/p/v3.3/journeys", "application/json", `{"operator_journey_id":"early2"}`},
		{http.MethodGet, "/proxy/p/v3.3/journeys/known1", "", ""},
	} {
		resp, body := send(t, c.method, p.url+c.path, c.contentType, c.body, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s before the configuration: %d (Retry-After %q) %s, want 503 with Retry-After",
				c.method, c.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	p.apply(t)
	if resp, body := send(t, http.MethodPost, p.url+"/api/v1/journeys/p", "application/json", `{"operator_journey_id":"late1"}`, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("push once ready: %d %s", resp.StatusCode, body)
	}
}

// Behind the exporter's basic auth, the proxy does not pass the
// exporter's credentials on to the registry.
func TestProxyDropsTheExportersCredentials(t *testing.T) {
	t.Parallel()
	tap, upstream := tappedSim(t)
	web := filepath.Join(t.TempDir(), "web.yml")
	writeFile(t, web, exporterBasicAuth)
	p := newInProcess(t, upstream, "--web.config.file="+web)
	p.apply(t)
	h := http.Header{}
	h.Set("Authorization", "Basic YWRtaW46cHVzaC10ZXN0LXBhc3N3b3Jk")
	send(t, http.MethodGet, p.url+"/proxy/p/v3.3/journeys/known1", "", "", h)
	seen := tap.headers()
	if len(seen) == 0 {
		t.Fatal("the proxy sent nothing to the registry")
	}
	for _, a := range seen {
		if strings.HasPrefix(a, "Basic") {
			t.Errorf("the registry got the exporter's own credentials: %q", a)
		}
	}
}

// A journey whose times cannot be encoded is a 500, never an empty 200;
// the push endpoint does not take such a start in the first place.
func TestJourneyThatCannotBeEncodedIs500(t *testing.T) {
	t.Parallel()
	_, upstream := tappedSim(t)
	p := newInProcess(t, upstream)
	p.apply(t)
	resp, body := send(t, http.MethodPost, p.url+"/api/v1/journeys/p", "application/json", `{"operator_journey_id":"far1","start":"9999-12-31T23:59:59Z"}`, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"rejected_count":1`) || !strings.Contains(body, "future") {
		t.Errorf("push of a start in year 9999: %d %s, want it rejected as in the future", resp.StatusCode, body)
	}
	// Another way in (an older store, a configuration's start) still
	// must not make an empty answer.
	p.ex.Registry("p").Tracker().Register(time.Now(), tracker.Registration{ID: "far2", Source: tracker.SourceConfig,
		Start: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)})
	resp, body = send(t, http.MethodGet, p.url+"/api/v1/journeys/p/far2", "", "", nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("journey API on a journey it cannot encode: %d %q, want 500", resp.StatusCode, body)
	}
}

// --config.check refuses a token that cannot go in an HTTP header, naming
// the file, and warns about a secret file others can read.
func TestConfigCheckRefusesUnusableTokens(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, token string }{
		{"control character", "abc\x01def"},
		{"NUL", "abc\x00def"},
		{"space", "abc def"},
		{"not ASCII", "abcdéf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "token"), c.token+"\n")
			cfg := filepath.Join(dir, "covoiturage.yml")
			writeFile(t, cfg, "registries:\n"+registryYAML("r", "https://registry.example", "token", "id1"))
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config.check", "--config.file=" + cfg}, &stdout, &stderr); code != 1 {
				t.Errorf("exit code %d, want 1\n%s%s", code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), filepath.Join(dir, "token")) || !strings.Contains(stderr.String(), "HTTP header") {
				t.Errorf("the error names neither the file nor the header: %s", stderr.String())
			}
			if strings.Contains(stderr.String(), c.token) {
				t.Errorf("the error shows the token: %s", stderr.String())
			}
		})
	}
	t.Run("readable by others", func(t *testing.T) {
		dir := t.TempDir()
		token := filepath.Join(dir, "token")
		writeFile(t, token, hardeningToken+"\n")
		if err := os.Chmod(token, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "covoiturage.yml")
		writeFile(t, cfg, "registries:\n"+registryYAML("r", "https://registry.example", "token", "id1"))
		var stdout, stderr bytes.Buffer
		if code := run([]string{"--config.check", "--config.file=" + cfg}, &stdout, &stderr); code != 0 {
			t.Errorf("exit code %d, want 0: a warning, not an error\n%s", code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "warning") || !strings.Contains(stderr.String(), token) || !strings.Contains(stderr.String(), "0644") {
			t.Errorf("no warning naming %s and its mode: %q", token, stderr.String())
		}
	})
}

// idleConnection sends one request on a new connection, reads its answer
// and keeps the connection open, sending nothing more.
func idleConnection(addr, auth string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /-/healthy HTTP/1.1\r\nHost: " + addr + "\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		_ = conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// closedByServer tells whether the server closed conn within d.
func closedByServer(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && (!errorsAs(err, &ne) || !ne.Timeout())
}

// Idle keep-alive connections, authenticated or refused, do not pile up:
// past three quarters of --web.max-connections (2048 by default) they are
// closed, and scrapes go on.
func TestIdleConnectionsAreShed(t *testing.T) {
	t.Parallel()
	const below, past = 1500, 100 // the shedding mark is 1536
	raiseFileLimit(t, 2*(below+past))
	bin := buildExporter(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web.yml"), exporterBasicAuth)
	writeFile(t, filepath.Join(dir, "ids.txt"), "s1\n")
	cfg := durableConfig(t, dir, blackHole(t), hardeningToken, "ids.txt")
	p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.config.file="+filepath.Join(dir, "web.yml"))
	addr := strings.TrimPrefix(p.base, "http://")
	admin := "Basic YWRtaW46cHVzaC10ZXN0LXBhc3N3b3Jk"
	eventually(t, 30*time.Second, func() error {
		c, err := idleConnection(addr, admin)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	// open opens n idle connections, half of them refused with 401 (kept
	// alive all the same), from a few goroutines.
	open := func(n int) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 16 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					auth := admin
					if i%2 == 0 {
						auth = ""
					}
					c, err := idleConnection(addr, auth)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	open(below)
	if t.Failed() {
		t.FailNow()
	}
	if closedByServer(conns[0], 200*time.Millisecond) {
		t.Fatal("an idle connection was closed below the shedding mark")
	}
	open(past)
	// The first is closed within a few seconds, then the rest are looked
	// at quickly: a test that fails does not wait on each.
	closed := 0
	if closedByServer(conns[0], 5*time.Second) {
		closed++
	}
	for _, c := range conns[1:below] {
		if closedByServer(c, 5*time.Millisecond) {
			closed++
		}
	}
	if closed < below/2 {
		t.Errorf("%d of %d idle connections closed past the shedding mark, want most", closed, below)
	}
	req, _ := http.NewRequest(http.MethodGet, p.url("/metrics"), nil)
	req.Header.Set("Authorization", admin)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape with the idle connections open: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("scrape: %d", resp.StatusCode)
	}
	if !strings.Contains(p.Logs.String(), "closing idle ones") {
		t.Errorf("the shedding is not logged:\n%s", p.Logs.String())
	}
	p.Stop(t)
}

// The proxy on its own listener: basic auth protects the exporter while
// the operator's registry token goes through the proxy untouched.
func TestProxyListenerOfItsOwn(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	dir := t.TempDir()
	tap, upstream := tappedSim(t)
	writeFile(t, filepath.Join(dir, "web.yml"), exporterBasicAuth)
	writeFile(t, filepath.Join(dir, "token"), hardeningToken+"\n")
	cfg := filepath.Join(dir, "covoiturage.yml")
	writeFile(t, cfg, "registries:\n"+registryYAML("p", upstream, "token", "known1")+"    proxy:\n      enabled: true\n")
	proxyAddr := testkit.FreeAddress(t)
	p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.config.file="+filepath.Join(dir, "web.yml"), "--proxy.listen-address="+proxyAddr,
		// The web listener's route prefix is not the proxy listener's:
		// its routes stay at its root.
		"--web.route-prefix=/covoiturage")
	eventually(t, 30*time.Second, func() error {
		code, _, err := get("http://" + proxyAddr + "/-/healthy")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("proxy listener: %d", code)
		}
		return err
	})
	// Basic auth on the proxy's own listener is refused at start.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "refused"), "--web.listen-address=127.0.0.1:0",
		"--proxy.listen-address=127.0.0.1:0", "--proxy.web.config.file=" + filepath.Join(dir, "web.yml")}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "basic auth") {
		t.Errorf("basic auth on the proxy's listener: exit %d, want 1 saying why\n%s", code, stderr.String())
	}
	if code, _, err := get(p.url("/metrics")); err != nil || code != http.StatusUnauthorized {
		t.Errorf("the exporter without credentials: %d %v, want 401", code, err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+hardeningToken)
	var resp *http.Response
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body = send(t, http.MethodGet, "http://"+proxyAddr+"/proxy/p/v3.3/journeys/known1", "", "", h)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the configuration is being applied; the deadline bounds the wait
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a status check through the proxy listener: %d %s", resp.StatusCode, body)
	}
	seen := tap.headers()
	if len(seen) == 0 || seen[len(seen)-1] != "Bearer "+hardeningToken {
		t.Errorf("the registry got %q, want the operator's token", seen)
	}
	p.Stop(t)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// eventually polls f until it succeeds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling; the deadline bounds the wait
	}
}
