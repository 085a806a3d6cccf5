package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
)

// fakeSecrets are the values of the secret files under testdata, and the
// secrets written into URLs of bad files: no error or printed config may
// contain one.
var fakeSecrets = []string{
	"FAKE-TOKEN-not-a-real-secret-0001",
	"FAKE-SECRET-KEY-not-a-real-secret-0002",
	"FAKE-TOKEN-not-a-real-secret-0003",
	"FAKE-TOKEN-not-a-real-secret-0004",
	"FAKE-SECRET-KEY-not-a-real-secret-0005",
	"FAKE-URL-PASSWORD-0006",
	"FAKE-URL-KEY-0007",
}

// assertNoSecret fails when s holds a fake secret; it never prints s, since
// a real secret in its place would then land in the test log.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for i, secret := range fakeSecrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains fake secret #%d", what, i)
		}
	}
}

func load(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		assertNoSecret(t, "error", err.Error())
		t.Fatalf("Load(%s): %v", path, err)
	}
	assertNoSecret(t, "printed config", fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
	return cfg
}

func dur(d time.Duration) model.Duration { return model.Duration(d) }

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func assertJourneys(t *testing.T, r config.Registry, want []config.Journey) {
	t.Helper()
	got := r.Journeys.Resolved
	if len(got) != len(want) {
		t.Fatalf("%s: %d resolved journeys %v, want %d %v", r.Name, len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || !got[i].Start.Equal(want[i].Start) {
			t.Errorf("%s: Resolved[%d] = %v, want %v", r.Name, i, got[i], want[i])
		}
	}
}

// assertTokenAuth checks that r's credentials are a token file alone,
// resolved to a file that exists: the exporter reads it.
func assertTokenAuth(t *testing.T, r config.Registry) {
	t.Helper()
	if r.TokenFile == "" || r.AccessKey != "" || r.SecretKeyFile != "" {
		t.Errorf("%s: credentials are not a token file alone (token_file %q, access key set: %t, secret_key_file %q)",
			r.Name, r.TokenFile, r.AccessKey != "", r.SecretKeyFile)
	}
	assertFile(t, r.Name+": token_file", r.TokenFile)
}

func assertFile(t *testing.T, what, path string) {
	t.Helper()
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		t.Errorf("%s %q is not a file: %v", what, path, err)
	}
}

func TestLoadGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		check func(t *testing.T, cfg *config.Config)
	}{
		{"minimal.yaml", func(t *testing.T, cfg *config.Config) {
			if len(cfg.Registries) != 1 {
				t.Fatalf("%d registries, want 1", len(cfg.Registries))
			}
			r := cfg.Registries[0]
			if r.Name != "prod" || r.BaseURL != "https://api.covoiturage.beta.gouv.fr" {
				t.Errorf("name, base_url = %q, %q", r.Name, r.BaseURL)
			}
			if r.APIVersion != config.DefaultAPIVersion || r.IsV2() {
				t.Errorf("api_version = %q, want the default %q", r.APIVersion, config.DefaultAPIVersion)
			}
			if r.Budget != config.DefaultBudget {
				t.Errorf("budget = %+v, want the default %+v", r.Budget, config.DefaultBudget)
			}
			if r.Schedule != config.DefaultSchedule {
				t.Errorf("schedule = %+v, want the default %+v", r.Schedule, config.DefaultSchedule)
			}
			if r.HealthInterval != config.DefaultHealthInterval || r.RequestTimeout != config.DefaultRequestTimeout ||
				r.Certificates.Interval != config.DefaultCertificateInterval {
				t.Errorf("health_interval, request_timeout, certificates.interval = %v, %v, %v: want the defaults",
					r.HealthInterval, r.RequestTimeout, r.Certificates.Interval)
			}
			if len(r.Journeys.Resolved) != 0 || len(r.Certificates.UUIDs) != 0 {
				t.Errorf("journeys %v, certificates %v: want none", r.Journeys.Resolved, r.Certificates.UUIDs)
			}
			assertTokenAuth(t, r)
		}},
		{"full.yaml", func(t *testing.T, cfg *config.Config) {
			if len(cfg.Registries) != 2 {
				t.Fatalf("%d registries, want 2", len(cfg.Registries))
			}
			p := cfg.Registries[0]
			if p.Name != "production" || p.APIVersion != "3.2" || p.IsV2() {
				t.Errorf("name, api_version = %q, %q", p.Name, p.APIVersion)
			}
			if p.AccessKey != "FAKE-ACCESS-KEY-0001" || p.SecretKeyFile != filepath.Join("testdata", "good", "secrets", "secret_key") || p.TokenFile != "" {
				t.Errorf("production: credentials are not the key pair, its file resolved (access key set: %t, secret_key_file %q, token_file %q)",
					p.AccessKey != "", p.SecretKeyFile, p.TokenFile)
			}
			if want := (config.Budget{RequestsPerSecond: 20, Burst: 40, Concurrency: 8}); p.Budget != want {
				t.Errorf("budget = %+v, want %+v", p.Budget, want)
			}
			wantDiscovery := config.Discovery{Enabled: true, Interval: model.Duration(5 * time.Minute), Lookback: model.Duration(30 * time.Hour),
				Slice: model.Duration(30 * time.Minute), Statuses: []string{"pending", "canceled"}, PageSize: 1000, MaxPagesPerRound: 200}
			if !reflect.DeepEqual(p.Discovery, wantDiscovery) {
				t.Errorf("discovery = %+v, want %+v", p.Discovery, wantDiscovery)
			}
			if want := (config.Proxy{Enabled: true, TrackTimeout: model.Duration(time.Second)}); p.Proxy != want {
				t.Errorf("proxy = %+v, want %+v", p.Proxy, want)
			}
			if v2 := cfg.Registries[1]; !reflect.DeepEqual(v2.Discovery, config.DefaultDiscovery) || v2.Proxy != config.DefaultProxy {
				t.Errorf("legacy-v2: discovery %+v, proxy %+v: want the defaults, off", v2.Discovery, v2.Proxy)
			}
			want := config.Schedule{
				FirstCheckDelay:   dur(15 * time.Minute),
				PendingInterval:   dur(12 * time.Hour),
				BatchWindowStart:  dur(47 * time.Hour),
				BatchWindowEnd:    dur(55 * time.Hour),
				BatchFrame:        dur(4 * time.Hour),
				BatchCheckDelay:   dur(2 * time.Hour),
				SettleAfter:       dur(80 * time.Hour),
				Retention:         dur(60 * 24 * time.Hour),
				MaxDelay:          dur(30 * time.Minute),
				ErrorBackoff:      dur(10 * time.Minute),
				AuthRetryInterval: dur(time.Minute),
			}
			if p.Schedule != want {
				t.Errorf("schedule = %+v, want %+v", p.Schedule, want)
			}
			if p.HealthInterval != dur(time.Minute) || p.RequestTimeout != dur(20*time.Second) || p.Certificates.Interval != dur(2*time.Hour) {
				t.Errorf("health_interval, request_timeout, certificates.interval = %v, %v, %v",
					p.HealthInterval, p.RequestTimeout, p.Certificates.Interval)
			}
			assertJourneys(t, p, []config.Journey{
				{ID: "abc123"},
				{ID: "def456", Start: mustTime(t, "2026-11-20T08:15:00Z")},
			})

			v2 := cfg.Registries[1]
			if v2.Name != "legacy-v2" || v2.APIVersion != "2" || !v2.IsV2() {
				t.Errorf("name, api_version, IsV2 = %q, %q, %t: want the v prefix trimmed", v2.Name, v2.APIVersion, v2.IsV2())
			}
			if v2.Budget != config.DefaultBudget || v2.Schedule != config.DefaultSchedule {
				t.Errorf("legacy-v2: budget %+v, schedule %+v: want the defaults", v2.Budget, v2.Schedule)
			}
			assertTokenAuth(t, v2)
			if want := filepath.Join("testdata", "good", "secrets", "legacy_token"); v2.TokenFile != want {
				t.Errorf("legacy-v2: token_file %q, want %q", v2.TokenFile, want)
			}
			assertJourneys(t, v2, []config.Journey{
				{ID: "123456"},
				{ID: "789", Start: mustTime(t, "2026-01-02T03:04:05+01:00")},
			})
		}},
		{"id_file.yaml", func(t *testing.T, cfg *config.Config) {
			r := cfg.Registries[0]
			assertTokenAuth(t, r)
			// Inline ids first, then the file's in order; comments and
			// blank lines skipped; a repeated id keeps its first entry.
			assertJourneys(t, r, []config.Journey{
				{ID: "inline1"},
				{ID: "shared1", Start: mustTime(t, "2026-11-20T08:15:00Z")},
				{ID: "aaa111"},
				{ID: "bbb222", Start: mustTime(t, "2026-11-20T08:15:00Z")},
				{ID: "ccc333", Start: mustTime(t, "2026-11-21T17:30:00Z")},
				{ID: "ddd444"},
				// The registry takes any 1 to 256 characters.
				{ID: "3f1b7c2e-8d4a-4e6b-9a0c-2b5d7e9f1a3c", Start: mustTime(t, "2026-11-25T06:00:00Z")},
				{ID: "OPJ-2026-11-25-00042"},
				{ID: "trip.2026/11/25"},
				{ID: "OPJ 42 / 7", Start: mustTime(t, "2026-11-25T08:00:00Z")},
				{ID: "# not a comment"},
			})
		}},
		{"certificates.yaml", func(t *testing.T, cfg *config.Config) {
			r := cfg.Registries[0]
			want := []string{"2d4f8a3c-1b2e-4c5d-9e8f-0a1b2c3d4e5f", "0E9B3A7C-5D2F-4A1B-8C3D-9F8E7D6C5B4A"}
			if strings.Join(r.Certificates.UUIDs, ",") != strings.Join(want, ",") {
				t.Errorf("certificates.uuids = %v, want %v", r.Certificates.UUIDs, want)
			}
			if r.Certificates.Interval != config.DefaultCertificateInterval {
				t.Errorf("certificates.interval = %v, want the default %v", r.Certificates.Interval, config.DefaultCertificateInterval)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			tt.check(t, load(t, filepath.Join("testdata", "good", tt.file)))
		})
	}
}

// TestGoodFilesLoad loads every file of testdata/good, listed above or not.
func TestGoodFilesLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, f := range files {
		load(t, f)
	}
}

func TestLoadBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		// want are substrings of the error. Nil: the file loads, and is
		// refused when the exporter turns it into runtime settings, which
		// config knows nothing of (exporter's TestCheckBad).
		want []string
	}{
		{"unknown_top_key.yaml", []string{"line 5: scrape_interval: unknown key; known keys here: registries"}},
		{"unknown_schedule_key.yaml", []string{"line 7: registries[0].schedule.setle_after: unknown key; did you mean settle_after?"}},
		{"unknown_registry_key.yaml", []string{"line 4: registries[0].tokenfile: unknown key; did you mean token_file?"}},
		{"unknown_budget_key.yaml", []string{"line 7: registries[0].budget.requests_per_sec: unknown key; did you mean requests_per_second?"}},
		{"unknown_keys_second_registry.yaml", []string{"line 11: registries[1].discovery.page_sise: unknown key; did you mean page_size?", "(and 1 more unknown key)"}},
		{"unknown_key_through_merge.yaml", []string{"line 8: registries[0].budget.requests_per_sec: unknown key"}},
		{"syntax_misindented_key.yaml", []string{"yaml: line 5: did not find expected '-' indicator"}},
		{"syntax_unclosed_flow.yaml", []string{"yaml: line 7: did not find expected ',' or ']'"}},
		{"syntax_tab_indent.yaml", []string{"yaml: line 6: found character that cannot start any token"}},
		{"syntax_unclosed_quote.yaml", []string{"yaml: line 3:"}},
		{"wrong_type.yaml", []string{"line 6", "lots"}},
		{"duplicate_name.yaml", []string{`registries[1] (prod).name: "prod" is already the name of registries[0]`}},
		{"bad_name.yaml", []string{`registries[0] (prod env).name: "prod env"`}},
		{"missing_base_url.yaml", []string{"registries[0] (prod).base_url: missing"}},
		{"bad_url_scheme.yaml", nil},
		{"url_userinfo.yaml", nil},
		{"url_query.yaml", nil},
		{"bad_api_version.yaml", nil},
		{"token_and_access_key.yaml", []string{"registries[0] (prod).token_file: set either token_file or access_key"}},
		{"access_key_without_secret.yaml", []string{"registries[0] (prod).secret_key_file: missing"}},
		{"secret_without_access_key.yaml", []string{"registries[0] (prod).access_key: missing"}},
		{"no_credentials.yaml", []string{"registries[0] (prod).token_file: missing"}},
		{"missing_token_file.yaml", nil},
		{"empty_token_file.yaml", nil},
		{"negative_duration.yaml", []string{"line 6", "registries[0] (prod).schedule.retention", `"-1h"`}},
		{"bad_duration_string.yaml", []string{"line 6", "registries[0] (prod).schedule.pending_interval", `"5 minutes"`}},
		{"bad_health_interval.yaml", []string{"line 5", "registries[0] (prod).health_interval", `"30 seconds"`}},
		{"window_end_before_start.yaml", []string{"registries[0] (prod).schedule.batch_window_end: 1d16h is before batch_window_start 2d"}},
		{"settle_too_early.yaml", []string{"registries[0] (prod).schedule.settle_after: 2d6h is before the last batch check"}},
		{"settle_overflow.yaml", []string{"registries[0] (prod).schedule.settle_after"}},
		{"retention_before_settle.yaml", []string{"registries[0] (prod).schedule.retention: 3d is shorter than settle_after"}},
		{"rps_too_high.yaml", []string{"registries[0] (prod).budget.requests_per_second: 34", "33.3"}},
		{"discovery_unlistable_status.yaml", nil},
		{"discovery_lookback_too_long.yaml", nil},
		{"discovery_on_v2.yaml", []string{"registries[0] (prod).discovery.enabled", "v2"}},
		{"proxy_on_v2.yaml", []string{"registries[0] (prod).proxy.enabled", "v2"}},
		{"negative_burst.yaml", []string{"registries[0] (prod).budget.burst: -1"}},
		{"concurrency_too_high.yaml", []string{"registries[0] (prod).budget.concurrency: 65"}},
		{"bad_journey_id.yaml", nil}, // the exporter checks ids (internal/exporter)
		{"bad_id_file.yaml", []string{`registries[0] (prod).journeys.files[0]: ids/bad.txt:4:`, "a quoted id must be a JSON string"}},
		{"missing_id_file.yaml", []string{"registries[0] (prod).journeys.files[0]:", "no_such_file.txt"}},
		{"bad_start_time.yaml", []string{`registries[0] (prod).journeys.ids[0]: "abc123": start time "20/11/2026" is not RFC 3339`}},
		{"start_too_old.yaml", []string{`registries[0] (prod).journeys.ids[1]: "abc124": start time "2014-12-31T23:59:59Z" is before 2015`}},
		{"start_too_far_ahead.yaml", []string{`registries[0] (prod).journeys.files[0]: ids/far_ahead.txt:3: "abc124": start time "9999-12-31T23:59:59Z" is more than 24h0m0s in the future`}},
		{"journey_extra_field.yaml", []string{"registries[0] (prod).journeys.ids[0]:", "want an id"}},
		{"v2_non_numeric_id.yaml", nil},
		{"bad_certificate_uuid.yaml", nil},
		{"empty.yaml", []string{"empty configuration"}},
		{"comments_only.yaml", []string{"empty configuration"}},
		{"no_registries.yaml", []string{"registries: want at least one registry"}},
		{"two_documents.yaml", []string{"more than one YAML document"}},
	}
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "bad", tt.file)
			cfg, err := config.Load(path)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load(%s): %v: want it to load, and the exporter to refuse it", path, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load(%s) = %d registries, want an error", path, len(cfg.Registries))
			}
			msg := err.Error()
			assertNoSecret(t, "error", msg)
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no row in the table", f)
		}
	}
}

// TestRelativePaths: token and id files are found next to the config file,
// wherever the process runs; absolute paths are kept as they are.
func TestRelativePaths(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "exporter")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	absToken, err := filepath.Abs(filepath.Join("testdata", "good", "secrets", "token"))
	if err != nil {
		t.Fatal(err)
	}
	write("secrets/token", "FAKE-TOKEN-not-a-real-secret-0001\n")
	write("lists/ids.txt", "rel1\n")
	write("exporter.yaml", `registries:
  - name: relative
    base_url: https://api.covoiturage.beta.gouv.fr
    token_file: secrets/token
    journeys:
      files: [lists/ids.txt]
  - name: absolute
    base_url: https://api.covoiturage.beta.gouv.fr
    token_file: `+absToken+`
`)
	// The test's working directory is the package's, not dir: only
	// resolution against the file's directory finds secrets/token.
	cfg := load(t, filepath.Join(dir, "exporter.yaml"))
	assertTokenAuth(t, cfg.Registries[0])
	if want := filepath.Join(dir, "secrets", "token"); cfg.Registries[0].TokenFile != want {
		t.Errorf("token_file resolved to %q, want %q", cfg.Registries[0].TokenFile, want)
	}
	assertJourneys(t, cfg.Registries[0], []config.Journey{{ID: "rel1"}})
	assertTokenAuth(t, cfg.Registries[1])

	// A relative config path works as well: testdata/good/minimal.yaml
	// names secrets/token, which is testdata/good/secrets/token.
	assertTokenAuth(t, load(t, filepath.Join("testdata", "good", "minimal.yaml")).Registries[0])

	// Parse resolves against the dir it is given.
	data, err := os.ReadFile(filepath.Join(dir, "exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(data, dir); err != nil {
		t.Errorf("Parse(data, dir): %v", err)
	}
	if _, err := config.Parse(data, root); err == nil || !strings.Contains(err.Error(), "registries[0] (relative).journeys.files[0]") {
		t.Errorf("Parse(data, wrong dir) = %v, want a journeys.files error", err)
	}
}

// TestMissingConfigFile: the error names the file.
func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) = %v, want an error naming %s", err, path)
	}
}

// TestApplyDefaultsKeepsSetValues: ApplyDefaults, which the demo calls on a
// Registry it builds, only fills zero fields.
func TestApplyDefaultsKeepsSetValues(t *testing.T) {
	t.Parallel()
	r := config.Registry{APIVersion: "v3.1", Budget: config.Budget{Burst: 3}}
	r.Schedule.Retention = dur(90 * 24 * time.Hour)
	r.ApplyDefaults()
	if r.APIVersion != "3.1" {
		t.Errorf("api_version = %q, want 3.1", r.APIVersion)
	}
	if r.Budget.Burst != 3 || r.Budget.RequestsPerSecond != config.DefaultBudget.RequestsPerSecond || r.Budget.Concurrency != config.DefaultBudget.Concurrency {
		t.Errorf("budget = %+v", r.Budget)
	}
	want := config.DefaultSchedule
	want.Retention = dur(90 * 24 * time.Hour)
	if r.Schedule != want {
		t.Errorf("schedule = %+v, want %+v", r.Schedule, want)
	}
}

// A configuration path that is not a configuration, /dev/zero say, is a
// clear error, not the process's memory.
func TestLoadRefusesHugeFiles(t *testing.T) {
	t.Parallel()
	_, err := config.Load("/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}
