package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What was only a log line is a series too: the credential files others
// can read, by registry, back to 0 once fixed and reloaded; and each time
// a listener sheds its idle connections, with its open connections.
func TestExposedSecretsAndSheddingAreMetrics(t *testing.T) {
	t.Parallel()
	bin := buildExporter(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeFile(t, token, hardeningToken+"\n")
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "covoiturage.yml")
	writeFile(t, cfg, "registries:\n"+registryYAML("r", blackHole(t), "token", "id1"))
	// 8 connections at most: shedding starts at 6.
	p := startExporter(t, bin, "--config.file="+cfg, "--web.max-connections=8")
	want := func(name string, labels []string, ok func(float64) bool, what string) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			m, _, err := p.scrape()
			if err != nil {
				return err
			}
			v, found := m.value(name, labels...)
			if !found || !ok(v) {
				return fmt.Errorf("%s%v = %v (found %v), want %s", name, labels, v, found, what)
			}
			return nil
		})
	}
	is := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	want("covoiturage_exporter_secret_files_exposed", []string{"registry", "r"}, is(1), "1")
	want("covoiturage_exporter_web_connection_shedding_total", []string{"listener", "web"}, is(0), "0")
	want("covoiturage_exporter_web_connections_open", []string{"listener", "web"}, func(v float64) bool { return v >= 1 }, "at least the scrape's")
	_, body, err := p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, token) || strings.Contains(body, hardeningToken) {
		t.Error("the exposition holds the token file's path or its content")
	}

	if err := os.Chmod(token, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body, err := do(http.MethodPost, p.url("/-/reload")); err != nil || code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %v %s", code, err, body)
	}
	want("covoiturage_exporter_secret_files_exposed", []string{"registry", "r"}, is(0), "0 once the file is 0600 and reloaded")

	// Idle keep-alive connections up to the shedding mark: the
	// exporter closes them, and counts it.
	addr := strings.TrimPrefix(p.base, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 7 {
		c, err := idleConnection(addr, "")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	want("covoiturage_exporter_web_connection_shedding_total", []string{"listener", "web"}, func(v float64) bool { return v >= 1 }, "at least 1")
	if !strings.Contains(p.Logs.String(), "closing idle ones") {
		t.Errorf("the shedding is not logged:\n%s", p.Logs.String())
	}
	p.Stop(t)
}
