package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildExporter builds the real binary, as a user would run it.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "covoiturage_exporter")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// The README's run command: the binary with --demo serves metrics about
// its embedded registry, a landing page and a health endpoint, and stops
// cleanly on SIGTERM.
func TestDemoEndToEnd(t *testing.T) {
	bin := buildExporter(t)
	addr := freeAddress(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--demo", "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	var metrics string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := get("http://" + addr + "/metrics")
		if err == nil && code == 200 && strings.Contains(body, `covoiturage_registry_up{registry="demo"} 1`) {
			metrics = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy demo registry in /metrics after 30s (last error %v)\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{
		`covoiturage_exporter_build_info{`,
		`covoiturage_registry_requests_total{code="200",endpoint="health",registry="demo"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body, err := get("http://" + addr + "/"); err != nil || code != 200 || !strings.Contains(body, "/metrics") {
		t.Errorf("landing page: %d %v", code, err)
	}
	if code, _, err := get("http://" + addr + "/-/healthy"); err != nil || code != 200 {
		t.Errorf("/-/healthy: %d %v", code, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM")
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("logs mention a panic:\n%s", logs.String())
	}
}

// Without --demo, a missing configuration file is a clear error, and so is
// an unknown flag.
func TestStartupErrorsAreClear(t *testing.T) {
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "covoiturage.yml")
	if code := run([]string{"--web.listen-address=127.0.0.1:0", "--config.file=" + missing}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), missing) {
		t.Errorf("missing configuration file not named: %s", stderr.String())
	}
	if code := run([]string{"--no-such-flag"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code for an unknown flag %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "no-such-flag") {
		t.Errorf("unknown flag not named: %s", stderr.String())
	}
}
