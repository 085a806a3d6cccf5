package exporter_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/proxy"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// configTestdata holds config's good and bad files: what config accepts
// and only the runtime settings refuse is tested here, on the same files.
const configTestdata = "../config/testdata"

// Every good file becomes runtime settings.
func TestCheckGood(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(configTestdata, "good", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, f := range files {
		cfg, err := config.Load(f)
		if err != nil {
			t.Fatalf("Load(%s): %v", f, err)
		}
		if err := exporter.Check(cfg); err != nil {
			t.Errorf("Check(%s): %v", f, err)
		}
	}
}

// What config cannot know (the registry's URL, version, id and
// certificate rules, the discoverer's limits, the credential files'
// content) is refused when the configuration becomes runtime settings,
// with an error that names the field as config's do. Every bad file that
// loads has a row here.
func TestCheckBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string // substrings of the error
	}{
		{"bad_url_scheme.yaml", []string{"registries[0] (prod).base_url:", "ftp://", "http(s)"}},
		{"url_userinfo.yaml", []string{"registries[0] (prod).base_url: credentials in the URL"}},
		{"url_query.yaml", []string{"registries[0] (prod).base_url: want no query"}},
		{"bad_api_version.yaml", []string{`registries[0] (prod).api_version: "4.0"`}},
		{"missing_token_file.yaml", []string{"registries[0] (prod).token_file:", "no_such_token"}},
		{"empty_token_file.yaml", []string{"registries[0] (prod).token_file:", "empty_token", "is empty"}},
		{"discovery_unlistable_status.yaml", []string{`registries[0] (prod).discovery.statuses[1]: "terms_violation_error" cannot be listed`, "pending"}},
		{"discovery_lookback_too_long.yaml", []string{"registries[0] (prod).discovery.lookback: 2400h0m0s", "90 days"}},
		{"bad_journey_id.yaml", []string{`registries[0] (prod).journeys.ids[1]: "xxxxxxxx`, "1 to 256 characters; this one has 257"}},
		{"v2_non_numeric_id.yaml", []string{`registries[0] (legacy).journeys.ids[1]: "abc123"`, "numeric"}},
		{"bad_certificate_uuid.yaml", []string{`registries[0] (prod).certificates.uuids[1]: "not-a-uuid" is not a UUID`}},
	}
	secrets := testkit.ConfigSecrets(t, configTestdata)
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(configTestdata, "bad", tt.file)
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load(%s): %v: want config to accept it", path, err)
			}
			err = exporter.Check(cfg)
			if err == nil {
				t.Fatalf("Check(%s) = nil, want an error", path)
			}
			// Apply refuses it the same way, before anything runs.
			ex := exporter.New(exporter.Options{})
			defer ex.Close()
			if applyErr := ex.Apply(cfg); applyErr == nil || applyErr.Error() != err.Error() {
				t.Errorf("Apply: %v, want Check's error %v", applyErr, err)
			}
			msg := err.Error()
			for i, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("error contains secret #%d", i)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join(configTestdata, "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := config.Load(f); err == nil && !listed[filepath.Base(f)] {
			t.Errorf("%s loads but has no row in the table", f)
		}
	}
}

// config repeats the runtime packages' defaults, to stay a leaf: they must
// agree.
func TestConfigDefaultsAreTheRuntimes(t *testing.T) {
	t.Parallel()
	if got := exporter.Policy(config.DefaultSchedule); got != tracker.DefaultPolicy {
		t.Errorf("config's default schedule is the policy %+v, the tracker's default is %+v", got, tracker.DefaultPolicy)
	}
	if config.DefaultAPIVersion != registry.DefaultVersion {
		t.Errorf("api_version default %q, the client's %q", config.DefaultAPIVersion, registry.DefaultVersion)
	}
	if b := config.DefaultBudget; b.RequestsPerSecond != float64(registry.DefaultRate) || b.Burst != registry.DefaultBurst {
		t.Errorf("budget default %+v, the client's rate %v and burst %d", b, registry.DefaultRate, registry.DefaultBurst)
	}
	if time.Duration(config.DefaultRequestTimeout) != registry.DefaultRequestTimeout {
		t.Errorf("request_timeout default %v, the client's %v", config.DefaultRequestTimeout, registry.DefaultRequestTimeout)
	}
	d := config.DefaultDiscovery
	got := []any{time.Duration(d.Interval), time.Duration(d.Lookback), time.Duration(d.Slice), d.Statuses, d.PageSize, d.MaxPagesPerRound}
	want := []any{discovery.DefaultInterval, discovery.DefaultLookback, discovery.DefaultSlice, discovery.DefaultStatuses,
		discovery.DefaultPageSize, discovery.DefaultMaxPagesPerRound}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("discovery defaults %v, the discoverer's %v", got, want)
	}
	if time.Duration(config.DefaultRequestTimeout) != proxy.DefaultResponseTimeout {
		t.Errorf("request_timeout default %v, the proxy's response timeout %v", config.DefaultRequestTimeout, proxy.DefaultResponseTimeout)
	}
	if time.Duration(config.DefaultProxy.TrackTimeout) != proxy.DefaultTrackTimeout {
		t.Errorf("proxy.track_timeout default %v, the proxy's %v", config.DefaultProxy.TrackTimeout, proxy.DefaultTrackTimeout)
	}
}
