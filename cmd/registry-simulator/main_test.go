package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want simulator.Limit
		err  bool
	}{
		{"2000/1m", simulator.Limit{Requests: 2000, Window: time.Minute}, false},
		{"5/30s", simulator.Limit{Requests: 5, Window: 30 * time.Second}, false},
		{"2000", simulator.Limit{}, true},
		{"0/1m", simulator.Limit{}, true},
		{"x/1m", simulator.Limit{}, true},
		{"5/-1m", simulator.Limit{}, true},
	} {
		got, err := parseLimit(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseLimit(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	keys, err := parseKeys([]byte("# comment\nak1:sk1\n\n ak2:sk:2 \n"), 7)
	if err != nil || len(keys) != 2 || keys[1].SecretKey != "sk:2" || keys[0].OperatorID != 7 {
		t.Fatalf("parseKeys = %+v, %v", keys, err)
	}
	for _, bad := range []string{"", "nocolon", ":sk", "ak:"} {
		if _, err := parseKeys([]byte(bad), 1); err == nil {
			t.Errorf("parseKeys(%q) succeeded", bad)
		}
	}
}

func TestBuildConfigReadsTokenFileAndNeverLogsIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("  s3cret-token \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	o := options{tokenFile: path, versions: "3.3, 3.4", operatorID: 3, speed: 0, limits: [5]string{"1/1s", "2/1s", "3/1s", "4/1s", "5/1s"}}
	cfg, err := buildConfig(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tokens) != 1 || cfg.Tokens[0].Value != "s3cret-token" || cfg.Tokens[0].OperatorID != 3 {
		t.Fatalf("tokens = %+v", cfg.Tokens)
	}
	if len(cfg.Versions) != 2 || cfg.Limits.Other.Requests != 4 || cfg.Traffic != nil {
		t.Fatalf("config = %+v", cfg)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatal("token was logged")
	}
}

func TestBuildConfigGeneratesTokenFile(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	o := options{versions: "3.3", limits: [5]string{"1/1s", "2/1s", "3/1s", "4/1s", "5/1s"}, perHour: 10, backfill: time.Hour}
	cfg, err := buildConfig(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tokens) != 1 || cfg.Traffic == nil || cfg.Traffic.PerHour != 10 {
		t.Fatalf("config = %+v", cfg)
	}
	token := cfg.Tokens[0].Value
	if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "token_file=") {
		t.Fatalf("logs = %s", logs.String())
	}
	_, path, _ := strings.Cut(logs.String(), "token_file=")
	path = strings.TrimSpace(path)
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != token {
		t.Fatalf("token file %q: %q, %v", path, b, err)
	}
	_ = os.Remove(path)
}

func TestBuildConfigErrors(t *testing.T) {
	t.Parallel()
	ok := [5]string{"1/1s", "2/1s", "3/1s", "4/1s", "5/1s"}
	for name, o := range map[string]options{
		"bad start":       {versions: "3.3", start: "yesterday", limits: ok},
		"bad speed":       {versions: "3.3", speed: -1, limits: ok},
		"bad limit":       {versions: "3.3", limits: [5]string{"x", "2/1s", "3/1s", "4/1s", "5/1s"}},
		"no token":        {versions: "3.3", tokenFile: "/nonexistent/token", limits: ok},
		"no keys":         {versions: "3.3", keysFile: "/nonexistent/keys", limits: ok},
		"unknown version": {versions: "3.3,3.0", limits: ok},
		"no version":      {versions: " , ", limits: ok},
	} {
		if _, err := buildConfig(o, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: buildConfig succeeded", name)
		}
	}
}

// By default the simulator serves what the real servers serve; the retired
// versions are there when asked for.
func TestVersionsFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"3.3", "3.4"}},
		{[]string{"--api.versions=all"}, []string{"2", "3.1", "3.2", "3.3", "3.4"}},
		{[]string{"--api.versions=v2, 3.1,3.3,3.1"}, []string{"2", "3.1", "3.3"}},
	} {
		o, _, _, err := parseArgs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		o.speed, o.perHour, o.tokenFile = 0, 0, writeToken(t)
		cfg, err := buildConfig(o, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !slices.Equal(cfg.Versions, tc.want) {
			t.Errorf("%v: versions %v, want %v", tc.args, cfg.Versions, tc.want)
		}
		if _, err := simulator.New(cfg); err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}

func writeToken(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	if code := run([]string{"--clock.speed=fast"}); code != 2 {
		t.Fatalf("run = %d, want 2", code)
	}
}
