package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseExternalURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://exporter.example.org":                "https://exporter.example.org",
		"https://exporter.example.org/":               "https://exporter.example.org",
		"http://10.0.0.5:9896":                        "http://10.0.0.5:9896",
		"https://ops.example.org/covoiturage/":        "https://ops.example.org/covoiturage",
		"https://ops.example.org/covoiturage%20prod/": "https://ops.example.org/covoiturage%20prod",
		"http://[2001:db8::1]:9896":                   "http://[2001:db8::1]:9896",
	} {
		if got, err := parseExternalURL(in); err != nil || got != want {
			t.Errorf("parseExternalURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{
		`"https://exporter.example.org"`, "exporter.example.org:9896", "ftp://exporter.example.org", "https://",
		"/covoiturage", "https://exporter.example.org/?x=1", "https://exporter.example.org/#top", "https://exp orter\x7f",
		"https://admin:s3cr3t-pw@exporter.example.org",
		"https://exporter.example.org//evil.example/", "https://ops.example.org/a/../covoiturage", "https://ops.example.org/./covoiturage",
	} {
		_, err := parseExternalURL(bad)
		if err == nil {
			t.Errorf("parseExternalURL(%q): no error", bad)
		} else if strings.Contains(err.Error(), "s3cr3t-pw") || !strings.Contains(err.Error(), "--web.external-url") {
			t.Errorf("parseExternalURL(%q): %v: want the flag named, no password", bad, err)
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"--web.external-url=https://admin:s3cr3t-pw@exporter.example.org"}, io.Discard, &stderr); code != 2 ||
		strings.Contains(stderr.String(), "s3cr3t-pw") || !strings.Contains(stderr.String(), "credentials") {
		t.Errorf("a URL with credentials: exit %d, %q", code, stderr.String())
	}
}

// Without --web.external-url, the URL is the listener's: its scheme from
// the web configuration's TLS, its host unless it is every interface,
// which the hostname stands for, as in Prometheus.
func TestDeriveExternalURL(t *testing.T) {
	t.Parallel()
	hostname := func() (string, error) { return "exporter-1", nil }
	for _, c := range []struct {
		tls  bool
		addr net.Addr
		want string
	}{
		{false, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9896}, "http://127.0.0.1:9896"},
		{true, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40123}, "https://127.0.0.1:40123"},
		{false, &net.TCPAddr{IP: net.IPv4zero, Port: 9896}, "http://exporter-1:9896"},
		{true, &net.TCPAddr{IP: net.IPv6unspecified, Port: 9896}, "https://exporter-1:9896"},
		{false, &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 9896}, "http://[2001:db8::7]:9896"},
		{false, &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "http://exporter-1"},
	} {
		if got := deriveExternalURL(c.tls, c.addr, hostname, ""); got != c.want {
			t.Errorf("deriveExternalURL(%v, %v) = %q, want %q", c.tls, c.addr, got, c.want)
		}
	}
	// Reached directly, it serves under its route prefix.
	if got := deriveExternalURL(false, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9896}, hostname, "/ops/covoiturage prod"); got != "http://127.0.0.1:9896/ops/covoiturage%20prod" {
		t.Errorf("with a route prefix: %q", got)
	}
	noName := func() (string, error) { return "", errors.New("no hostname") }
	if got := deriveExternalURL(false, &net.TCPAddr{IP: net.IPv4zero, Port: 9896}, noName, ""); got != "http://localhost:9896" {
		t.Errorf("without a hostname: %q", got)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir and
// returns a pool trusting it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "covoiturage_exporter test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// An exporter serving TLS from its web configuration, without
// --web.external-url, exports an https:// external URL that opens, logs
// it at start, and shows it on its status page; the links the alerts
// build on it reach the journeys.
func TestExternalURLDerivedFromTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	writeFile(t, filepath.Join(dir, "web.yml"), "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n")
	writeFile(t, filepath.Join(dir, "ids.txt"), "s1\n")
	cfg := durableConfig(t, dir, blackHole(t), hardeningToken, "ids.txt")
	p := startExporter(t, buildExporter(t), "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.config.file="+filepath.Join(dir, "web.yml"))
	want := "https://" + strings.TrimPrefix(p.base, "http://")
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	fetch := func(url string) (string, error) {
		resp, err := tlsClient.Get(url)
		if err != nil {
			return "", err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %d %.200s", url, resp.StatusCode, b)
		}
		return string(b), err
	}
	series := fmt.Sprintf("covoiturage_exporter_web_info{external_url=%q} 1\n", want)
	eventually(t, 30*time.Second, func() error {
		body, err := fetch(want + "/metrics")
		if err == nil && !strings.Contains(body, series) {
			err = fmt.Errorf("no %s in /metrics", strings.TrimSpace(series))
		}
		return err
	})
	if logs := p.Logs.String(); !strings.Contains(logs, "external_url="+want) {
		t.Errorf("the start log does not give the external URL %s:\n%s", want, logs)
	}
	if page, err := fetch(want + "/"); err != nil || !strings.Contains(page, `<a href="`+want+`/">`) {
		t.Errorf("the status page does not say it is reached at %s: %v", want, err)
	}
	// As the alert rules build their links on the metric.
	eventually(t, 30*time.Second, func() error {
		body, err := fetch(want + "/api/v1/journeys/" + durableRegistry + "?source=config")
		if err == nil && !strings.Contains(body, `"s1"`) {
			err = fmt.Errorf("journey s1 not listed: %.200s", body)
		}
		return err
	})
	// Plain HTTP is not what it serves: the derived scheme is the one
	// that answers.
	if code, _, err := get(p.base + "/metrics"); err == nil && code == http.StatusOK {
		t.Errorf("the TLS listener answered plain HTTP")
	}
}

// --web.external-url, as a reverse proxy serves the exporter, is what the
// metric says, without its final slash; its path is where the exporter
// serves (--web.route-prefix's default).
func TestExternalURLFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ids.txt"), "s1\n")
	cfg := durableConfig(t, dir, blackHole(t), hardeningToken, "ids.txt")
	p := startExporter(t, buildExporter(t), "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.external-url=https://ops.example.org/covoiturage/")
	const series = `covoiturage_exporter_web_info{external_url="https://ops.example.org/covoiturage"} 1` + "\n"
	eventually(t, 30*time.Second, func() error {
		code, body, err := get(p.url("/covoiturage/metrics"))
		if err == nil && (code != http.StatusOK || !strings.Contains(body, series)) {
			err = fmt.Errorf("/covoiturage/metrics %d: no %s", code, strings.TrimSpace(series))
		}
		return err
	})
	if logs := p.Logs.String(); !strings.Contains(logs, "external_url=https://ops.example.org/covoiturage route_prefix=/covoiturage\n") {
		t.Errorf("the start log does not give the external URL:\n%s", logs)
	}
}
