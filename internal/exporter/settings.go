package exporter

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/time/rate"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/discovery"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// settings is one registry's configuration turned into what its parts run
// with: the client, the tracker's policy, the discoverer and the proxy.
// This file is the one place where that happens; config only reads and
// checks the file, and knows none of the runtime packages.
type settings struct {
	rc     config.Registry
	client registry.Config // without its Observer, which Apply adds
	policy tracker.Policy
	// discovery lacks what Apply adds: the client, clock, tracker and
	// counters. It is checked even while discovery is off, as the file is.
	discovery discovery.Config
	// target is the proxy's upstream, the registry's base URL.
	target *url.URL
}

// Check turns every registry of cfg into its runtime settings as Apply
// would, credentials read and clients built, without running anything:
// --config.check calls it after config.Load. Errors name the field at
// fault, as config's do.
func Check(cfg *config.Config) error {
	all, err := prepare(cfg)
	if err != nil {
		return err
	}
	for i, s := range all {
		if _, err := registry.New(s.client); err != nil {
			return fmt.Errorf("%s: %w", config.RegistryField(i, s.rc.Name), err)
		}
	}
	return nil
}

// prepare turns every registry of cfg into its settings.
func prepare(cfg *config.Config) ([]settings, error) {
	out := make([]settings, len(cfg.Registries))
	for i, rc := range cfg.Registries {
		s, err := prepareRegistry(rc)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", config.RegistryField(i, rc.Name), err)
		}
		out[i] = s
	}
	return out, nil
}

// prepareRegistry checks what only the runtime knows of a registry's
// configuration (its base URL, API version, credential files, discovery
// limits, certificate and journey ids) and builds its settings. Errors
// start with the field's name.
func prepareRegistry(rc config.Registry) (settings, error) {
	target, err := registry.ParseBaseURL(rc.BaseURL)
	if err != nil {
		return settings{}, fmt.Errorf("base_url: %w", err)
	}
	version := rc.APIVersion
	if rc.IsV2() {
		version = config.DefaultAPIVersion // only the v2 status route is used
	} else if !registry.ValidVersion(rc.APIVersion) {
		return settings{}, fmt.Errorf("api_version: %q: want 2, 3, 3.1, 3.2, 3.3 or 3.4", rc.APIVersion)
	}
	auth, err := credentials(rc)
	if err != nil {
		return settings{}, err
	}
	dc := discovery.Config{
		Name:     rc.Name,
		Interval: time.Duration(rc.Discovery.Interval), Lookback: time.Duration(rc.Discovery.Lookback),
		Slice: time.Duration(rc.Discovery.Slice), Statuses: rc.Discovery.Statuses,
		PageSize: rc.Discovery.PageSize, MaxPagesPerRound: rc.Discovery.MaxPagesPerRound,
	}
	if err := dc.Validate(); err != nil {
		return settings{}, fmt.Errorf("discovery.%w", err)
	}
	for i, u := range rc.Certificates.UUIDs {
		if !registry.ValidCertificateUUID(u) {
			return settings{}, fmt.Errorf("certificates.uuids[%d]: %q is not a UUID", i, truncateID(u))
		}
	}
	for i, j := range rc.Journeys.Resolved {
		id, err := canonicalID(rc.IsV2(), j.ID)
		if err != nil {
			return settings{}, fmt.Errorf("%s: %w", rc.Journeys.Where(j), err)
		}
		rc.Journeys.Resolved[i].ID = id
	}
	return settings{
		rc: rc,
		client: registry.Config{
			BaseURL: rc.BaseURL, Version: version, Auth: auth,
			Rate: rate.Limit(rc.Budget.RequestsPerSecond), Burst: rc.Budget.Burst,
			AuthRetryInterval: time.Duration(rc.Schedule.AuthRetryInterval),
			RequestTimeout:    time.Duration(rc.RequestTimeout),
		},
		policy:    registryPolicy(rc),
		discovery: dc,
		target:    target,
	}, nil
}

// credentials reads the registry's credential files; config checked that
// exactly one kind is set and resolved the paths.
func credentials(rc config.Registry) (registry.Auth, error) {
	switch {
	case rc.TokenFile != "":
		auth, err := registry.StaticTokenFile(rc.TokenFile)
		if err != nil {
			return registry.Auth{}, fmt.Errorf("token_file: %w", err)
		}
		return auth, nil
	case rc.AccessKey != "":
		auth, err := registry.KeyPairFile(rc.AccessKey, rc.SecretKeyFile)
		if err != nil {
			return registry.Auth{}, fmt.Errorf("secret_key_file: %w", err)
		}
		return auth, nil
	}
	return registry.Auth{}, errors.New("token_file: missing: set token_file, or access_key with secret_key_file")
}

// Policy turns a configured schedule into the tracker's policy.
func Policy(s config.Schedule) tracker.Policy {
	p := tracker.DefaultPolicy
	p.FirstCheckDelay = time.Duration(s.FirstCheckDelay)
	p.PendingInterval = time.Duration(s.PendingInterval)
	p.BatchWindowStart = time.Duration(s.BatchWindowStart)
	p.BatchWindowEnd = time.Duration(s.BatchWindowEnd)
	p.BatchFrame = time.Duration(s.BatchFrame)
	p.BatchCheckDelay = time.Duration(s.BatchCheckDelay)
	p.SettleAfter = time.Duration(s.SettleAfter)
	p.Retention = time.Duration(s.Retention)
	p.RetryAfterSkip = time.Duration(s.MaxDelay)
	return p
}

// registryPolicy is a registry's policy: planned for verdicts read in
// the lists (scheduler.Config.Lister) where the registry serves them, on
// 3.x.
func registryPolicy(rc config.Registry) tracker.Policy {
	p := Policy(rc.Schedule)
	if !rc.IsV2() {
		p = p.WithBulk()
	}
	return p
}

// canonicalID checks a journey id as the registry would, refusing only
// what it refuses, with the reason: the numeric journey_id for v2, given
// back in decimal ("007" and "7" are one journey); the operator_journey_id
// for 3.x, any string of 1 to 256 characters (docs/registry.md).
func canonicalID(v2 bool, id string) (string, error) {
	if v2 {
		return registry.CanonicalV2JourneyID(id)
	}
	if err := registry.CheckOperatorJourneyID(id); err != nil {
		return "", fmt.Errorf("%q: %w", truncateID(id), err)
	}
	return id, nil
}

// truncateID keeps an error about a huge id readable.
func truncateID(id string) string {
	const n = 64
	if len(id) <= n {
		return id
	}
	return id[:n] + "…"
}

// Exposure is what deserves an operator's attention in a configuration
// but stops nothing: credential files on which group or others have a
// permission.
type Exposure struct {
	// Warnings say which file of which registry, and why.
	Warnings []string
	// ByRegistry counts them by registry name; every registry of the
	// configuration is there, at 0 when none is exposed.
	ByRegistry map[string]int
}

// ExposedSecrets looks at cfg's credential files once, for both the
// warnings (the log, --config.check) and the counts (the gauge).
func ExposedSecrets(cfg *config.Config) Exposure {
	e := Exposure{ByRegistry: make(map[string]int, len(cfg.Registries))}
	for _, rc := range cfg.Registries {
		e.ByRegistry[rc.Name] = 0
	}
	exposedSecretFiles(cfg, func(i int, key, warning string) {
		e.Warnings = append(e.Warnings, fmt.Sprintf("%s.%s: %s", config.RegistryField(i, cfg.Registries[i].Name), key, warning))
		e.ByRegistry[cfg.Registries[i].Name]++
	})
	return e
}

// exposedSecretFiles calls found with each credential file of cfg that
// group or others can read: its registry's index, its key and why.
func exposedSecretFiles(cfg *config.Config, found func(i int, key, warning string)) {
	for i, rc := range cfg.Registries {
		for _, f := range []struct{ key, path string }{{"token_file", rc.TokenFile}, {"secret_key_file", rc.SecretKeyFile}} {
			if f.path == "" {
				continue
			}
			if w := registry.ExposedSecretFile(f.path); w != "" {
				found(i, f.key, w)
			}
		}
	}
}
