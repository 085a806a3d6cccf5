// Package config reads the exporter's YAML configuration: the registries to
// watch, their credentials and budgets, the journeys and certificates to
// follow and the scheduling policy. Loading is strict, so a typo in a key is
// an error that names it, not a setting silently ignored.
//
// The file format is a leaf: this package imports none of the exporter's
// runtime packages (only internal/starts, a leaf that bounds a journey's
// start as push does). What only the runtime knows (the registry's URL,
// version, id and certificate rules, the discoverer's limits, reading the
// credential files) is checked where the configuration becomes runtime
// settings, in the exporter package, which --config.check runs as well.
package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/starts"
)

// Config is a whole configuration file.
type Config struct {
	Registries []Registry `yaml:"registries"`
}

// Registry is one registry account to watch.
type Registry struct {
	// Name is the value of the registry label on every metric.
	Name    string `yaml:"name"`
	BaseURL string `yaml:"base_url"`
	// APIVersion is "2" (JSON-RPC, journeys followed by the registry's own
	// journey_id) or a 3.x version (journeys followed by
	// operator_journey_id).
	APIVersion string `yaml:"api_version"`

	// TokenFile, or AccessKey with SecretKeyFile, are the credentials.
	// Load resolves the files against the configuration's directory; the
	// exporter reads them when it applies the configuration.
	TokenFile     string `yaml:"token_file"`
	AccessKey     string `yaml:"access_key"`
	SecretKeyFile string `yaml:"secret_key_file"`

	Budget       Budget       `yaml:"budget"`
	Journeys     Journeys     `yaml:"journeys"`
	Certificates Certificates `yaml:"certificates"`
	Schedule     Schedule     `yaml:"schedule"`

	Discovery Discovery `yaml:"discovery"`
	Proxy     Proxy     `yaml:"proxy"`

	HealthInterval model.Duration `yaml:"health_interval"`
	RequestTimeout model.Duration `yaml:"request_timeout"`
}

// Budget is the registry's request budget this exporter may spend. The
// registry counts 2000 status requests a minute per IP, shared with the
// operator's own calls from the same address.
type Budget struct {
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	// Concurrency is how many status checks may be in flight at once.
	Concurrency int `yaml:"concurrency"`
}

// Journeys are the journeys to follow. Each entry, inline or a line of a
// file, is an id optionally followed by the journey's start time (RFC
// 3339), which anchors the schedule on the registry's fraud batches.
type Journeys struct {
	IDs   []string `yaml:"ids"`
	Files []string `yaml:"files"`

	// Resolved is every entry of IDs and Files, parsed and de-duplicated.
	// The ids are not checked against the registry's pattern here: the
	// exporter does, and names the entry with Where.
	Resolved []Journey `yaml:"-"`
}

// Journey is one configured journey.
type Journey struct {
	ID    string
	Start time.Time // zero when not given
	// File is the index in Files of the file that lists the journey, -1
	// for IDs; Line is its line in that file, or its index in IDs.
	File, Line int32
}

// Where names the entry a resolved journey came from, as errors do:
// journeys.ids[1], or journeys.files[0]: ids.txt:4.
func (js *Journeys) Where(j Journey) string {
	if j.File < 0 || int(j.File) >= len(js.Files) {
		return fmt.Sprintf("journeys.ids[%d]", j.Line)
	}
	return fmt.Sprintf("journeys.files[%d]: %s:%d", j.File, js.Files[j.File], j.Line)
}

// Discovery follows the journeys the registry's list endpoint shows, so
// an operator needs no integration at all. Its list requests are spent
// from the registry's budget, like status checks.
type Discovery struct {
	Enabled bool `yaml:"enabled"`
	// Interval separates two rounds; Lookback is how far back, in start
	// time, a round lists; Slice the widest start-time window of one
	// request.
	Interval model.Duration `yaml:"interval"`
	Lookback model.Duration `yaml:"lookback"`
	Slice    model.Duration `yaml:"slice"`
	// Statuses are listed in turn; ids are de-duplicated across them.
	Statuses []string `yaml:"statuses"`
	PageSize int      `yaml:"page_size"`
	// MaxPagesPerRound bounds a round's requests, so the list cannot take
	// the budget from status checks.
	MaxPagesPerRound int `yaml:"max_pages_per_round"`
}

// Proxy serves the submission proxy at /proxy/<name>/: the operator's
// submissions go through the exporter, which tracks each from the
// registry's answer.
type Proxy struct {
	Enabled bool `yaml:"enabled"`
	// TrackTimeout bounds how long an answer waits for its journey to be
	// stored; past it, the answer is relayed anyway.
	TrackTimeout model.Duration `yaml:"track_timeout"`
}

// Certificates are the certificate uuids to check, and how often.
type Certificates struct {
	UUIDs    []string       `yaml:"uuids"`
	Interval model.Duration `yaml:"interval"`
}

// Schedule is the policy that decides when a journey is checked. Times
// marked "from the journey's start" count from its start when known, else
// from its created_at at the registry, else from its registration.
type Schedule struct {
	// FirstCheckDelay: first check after registration, once the
	// registry's normalisation has run.
	FirstCheckDelay model.Duration `yaml:"first_check_delay"`
	// PendingInterval: re-check period of a pending journey before the
	// fraud and anomaly batches (cancellations, acquisition errors).
	PendingInterval model.Duration `yaml:"pending_interval"`
	// BatchWindowStart and BatchWindowEnd, from the journey's start,
	// bound where the registry's fraud and anomaly batches may run (24 h
	// to 54 h: the servers' example settings and the older notes);
	// BatchFrame is one batch's frame, one at each end of the window.
	BatchWindowStart model.Duration `yaml:"batch_window_start"`
	BatchWindowEnd   model.Duration `yaml:"batch_window_end"`
	BatchFrame       model.Duration `yaml:"batch_frame"`
	// BatchCheckDelay: how long after each edge of a frame a journey is
	// checked, to let an hourly batch run.
	BatchCheckDelay model.Duration `yaml:"batch_check_delay"`
	// SettleAfter, from the journey's start: the last check, after which
	// the status is final and the journey is no longer polled.
	SettleAfter model.Duration `yaml:"settle_after"`
	// Retention, from the journey's start: how long a settled journey
	// stays in the gauges.
	Retention model.Duration `yaml:"retention"`
	// MaxDelay is how late a check may run before the scheduler samples
	// the journeys it follows to fit the budget.
	MaxDelay model.Duration `yaml:"max_delay"`
	// ErrorBackoff: how long a journey waits after a failed check.
	ErrorBackoff model.Duration `yaml:"error_backoff"`
	// AuthRetryInterval: while authentication fails the registry is not
	// polled; one check is tried this often to notice a fixed credential.
	AuthRetryInterval model.Duration `yaml:"auth_retry_interval"`
}

// Defaults, in one place. The budget, API version and request timeout are
// the registry client's, the schedule the tracker's policy (docs/registry.md's
// lifecycle), discovery the discoverer's and the tracking timeout the
// proxy's: they are repeated here so that the file format stays a leaf, and
// the exporter's tests fail if they drift. Only the scheduler's reactions
// to errors and the probe intervals are set here.
var (
	DefaultAPIVersion = "3.3"
	DefaultBudget     = Budget{RequestsPerSecond: 5, Burst: 10, Concurrency: 4}
	DefaultSchedule   = Schedule{
		FirstCheckDelay:   model.Duration(10 * time.Minute),
		PendingInterval:   model.Duration(24 * time.Hour),
		BatchWindowStart:  model.Duration(24 * time.Hour),
		BatchWindowEnd:    model.Duration(54 * time.Hour),
		BatchFrame:        model.Duration(6 * time.Hour),
		BatchCheckDelay:   model.Duration(time.Hour),
		SettleAfter:       model.Duration(72 * time.Hour),
		Retention:         model.Duration(30 * 24 * time.Hour),
		MaxDelay:          model.Duration(time.Hour),
		ErrorBackoff:      model.Duration(5 * time.Minute),
		AuthRetryInterval: model.Duration(5 * time.Minute),
	}
	DefaultDiscovery = Discovery{
		Interval: model.Duration(10 * time.Minute), Lookback: model.Duration(50 * time.Hour),
		Slice: model.Duration(6 * time.Hour), Statuses: []string{"pending", "ok", "fraud_error", "anomaly_error", "canceled", "acquisition_error"},
		PageSize: 500, MaxPagesPerRound: 1000,
	}
	DefaultProxy               = Proxy{TrackTimeout: model.Duration(2 * time.Second)}
	DefaultCertificateInterval = model.Duration(time.Hour)
	DefaultHealthInterval      = model.Duration(30 * time.Second)
	DefaultRequestTimeout      = model.Duration(15 * time.Second)
)

// MaxConfigBytes bounds the configuration file itself.
const MaxConfigBytes = 64 << 20

// Load reads and checks the file at path. Relative paths inside it (token
// files, id files) are resolved against the file's directory.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes: put long id lists in journeys.files", path, MaxConfigBytes)
	}
	cfg, err := Parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads a configuration from data; dir resolves relative paths.
func Parse(data []byte, dir string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration: want at least one registry under registries")
		}
		if unknown := unknownKeyError(data, err); unknown != nil {
			return nil, fmt.Errorf("yaml: %w", unknown)
		}
		err = locateDurationError(data, syntaxError(data, err))
		return nil, fmt.Errorf("yaml: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: want exactly one")
	}
	if len(cfg.Registries) == 0 {
		return nil, errors.New("registries: want at least one registry")
	}
	names := map[string]int{}
	for i := range cfg.Registries {
		r := &cfg.Registries[i]
		field := RegistryField(i, r.Name)
		if err := r.complete(dir); err != nil {
			return nil, fmt.Errorf("%s.%w", field, err)
		}
		if j, dup := names[r.Name]; dup {
			return nil, fmt.Errorf("%s.name: %q is already the name of registries[%d]", field, r.Name, j)
		}
		names[r.Name] = i
	}
	return &cfg, nil
}

// locateDurationError adds the line and field to err when it is a duration
// the decoder refused: model.Duration's own error names neither.
func locateDurationError(data []byte, err error) error {
	var doc yaml.Node
	if _, ok := err.(*yaml.TypeError); ok || yaml.Unmarshal(data, &doc) != nil {
		return err
	}
	if n, path := findBadDuration(&doc, "", err.Error()); n != nil {
		return fmt.Errorf("line %d: %s: %w", n.Line, path, err)
	}
	return err
}

// durationKeys are the yaml keys of every model.Duration field.
var durationKeys = func() map[string]bool {
	keys := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[Registry](), reflect.TypeFor[Certificates](), reflect.TypeFor[Schedule](),
		reflect.TypeFor[Discovery](), reflect.TypeFor[Proxy]()} {
		for f := range t.Fields() {
			if f.Type == reflect.TypeFor[model.Duration]() {
				keys[f.Tag.Get("yaml")] = true
			}
		}
	}
	return keys
}()

// findBadDuration returns the first duration value in n whose own decoding
// fails with message msg, and its field path.
func findBadDuration(n *yaml.Node, path, msg string) (*yaml.Node, string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if bad, where := findBadDuration(c, path, msg); bad != nil {
				return bad, where
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			for j := 0; c.Kind == yaml.MappingNode && j+1 < len(c.Content); j += 2 {
				if k, v := c.Content[j], c.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
					p = fmt.Sprintf("%s (%s)", p, v.Value)
					break
				}
			}
			if bad, where := findBadDuration(c, p, msg); bad != nil {
				return bad, where
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if v.Kind == yaml.ScalarNode && durationKeys[k.Value] {
				var d model.Duration
				if err := v.Decode(&d); err != nil && err.Error() == msg {
					return v, p
				}
			}
			if bad, where := findBadDuration(v, p, msg); bad != nil {
				return bad, where
			}
		}
	}
	return nil, ""
}

// RegistryField names the i-th registry in errors: registries[0] (prod).
func RegistryField(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("registries[%d]", i)
	}
	return fmt.Sprintf("registries[%d] (%s)", i, name)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// IsV2 tells whether the registry is followed through the v2 API.
func (r *Registry) IsV2() bool { return r.APIVersion == "2" }

// complete applies defaults, checks every field and reads the id files
// the registry refers to. Errors start with the field's name.
func (r *Registry) complete(dir string) error {
	r.ApplyDefaults()
	if !namePattern.MatchString(r.Name) {
		return fmt.Errorf("name: %q: want 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", r.Name)
	}
	if r.BaseURL == "" {
		return errors.New("base_url: missing: want e.g. https://api.covoiturage.beta.gouv.fr")
	}
	if err := r.checkCredentials(dir); err != nil {
		return err
	}
	if err := r.Budget.check(); err != nil {
		return fmt.Errorf("budget.%w", err)
	}
	if err := r.Schedule.check(); err != nil {
		return fmt.Errorf("schedule.%w", err)
	}
	if err := r.Discovery.check(); err != nil {
		return fmt.Errorf("discovery.%w", err)
	}
	if r.Discovery.Enabled && r.IsV2() {
		return errors.New("discovery.enabled: the list endpoint gives operator_journey_ids; a v2 registry follows journey_ids and cannot use it")
	}
	if r.Proxy.Enabled && r.IsV2() {
		return errors.New("proxy.enabled: the proxy tracks v3 submissions; a v2 registry cannot use it")
	}
	for _, d := range []struct {
		name string
		v    model.Duration
	}{{"health_interval", r.HealthInterval}, {"request_timeout", r.RequestTimeout}, {"certificates.interval", r.Certificates.Interval}} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be positive", d.name)
		}
	}
	return r.resolveJourneys(dir)
}

// ApplyDefaults fills every unset field with its default.
func (r *Registry) ApplyDefaults() {
	if r.APIVersion == "" {
		r.APIVersion = DefaultAPIVersion
	}
	r.APIVersion = strings.TrimPrefix(r.APIVersion, "v")
	if r.Budget.RequestsPerSecond == 0 {
		r.Budget.RequestsPerSecond = DefaultBudget.RequestsPerSecond
	}
	if r.Budget.Burst == 0 {
		r.Budget.Burst = DefaultBudget.Burst
	}
	if r.Budget.Concurrency == 0 {
		r.Budget.Concurrency = DefaultBudget.Concurrency
	}
	s, d := &r.Schedule, DefaultSchedule
	for _, p := range []struct{ v, d *model.Duration }{
		{&s.FirstCheckDelay, &d.FirstCheckDelay}, {&s.PendingInterval, &d.PendingInterval},
		{&s.BatchWindowStart, &d.BatchWindowStart}, {&s.BatchWindowEnd, &d.BatchWindowEnd},
		{&s.BatchFrame, &d.BatchFrame},
		{&s.BatchCheckDelay, &d.BatchCheckDelay}, {&s.SettleAfter, &d.SettleAfter},
		{&s.Retention, &d.Retention}, {&s.MaxDelay, &d.MaxDelay},
		{&s.ErrorBackoff, &d.ErrorBackoff}, {&s.AuthRetryInterval, &d.AuthRetryInterval},
		{&r.Certificates.Interval, &DefaultCertificateInterval},
		{&r.HealthInterval, &DefaultHealthInterval}, {&r.RequestTimeout, &DefaultRequestTimeout},
		{&r.Discovery.Interval, &DefaultDiscovery.Interval}, {&r.Discovery.Lookback, &DefaultDiscovery.Lookback},
		{&r.Discovery.Slice, &DefaultDiscovery.Slice}, {&r.Proxy.TrackTimeout, &DefaultProxy.TrackTimeout},
	} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	if r.Discovery.Statuses == nil {
		r.Discovery.Statuses = slices.Clone(DefaultDiscovery.Statuses)
	}
	if r.Discovery.PageSize == 0 {
		r.Discovery.PageSize = DefaultDiscovery.PageSize
	}
	if r.Discovery.MaxPagesPerRound == 0 {
		r.Discovery.MaxPagesPerRound = DefaultDiscovery.MaxPagesPerRound
	}
}

func (d Discovery) check() error {
	switch {
	case d.Interval <= 0:
		return fmt.Errorf("interval: %v: must be positive", d.Interval)
	case len(d.Statuses) == 0:
		return errors.New("statuses: want at least one status to list")
	}
	return nil
}

// checkCredentials checks that the credentials are one of the two kinds,
// and resolves their files; the exporter reads them.
func (r *Registry) checkCredentials(dir string) error {
	switch {
	case r.TokenFile != "" && (r.AccessKey != "" || r.SecretKeyFile != ""):
		return errors.New("token_file: set either token_file or access_key with secret_key_file, not both")
	case r.TokenFile != "":
		r.TokenFile = resolve(dir, r.TokenFile)
	case r.AccessKey != "" && r.SecretKeyFile == "":
		return errors.New("secret_key_file: missing, access_key needs it")
	case r.AccessKey == "" && r.SecretKeyFile != "":
		return errors.New("access_key: missing, secret_key_file needs it")
	case r.AccessKey != "":
		r.SecretKeyFile = resolve(dir, r.SecretKeyFile)
	default:
		return errors.New("token_file: missing: set token_file, or access_key with secret_key_file")
	}
	return nil
}

func (b Budget) check() error {
	switch {
	case !(b.RequestsPerSecond > 0 && b.RequestsPerSecond <= 2000.0/60):
		return fmt.Errorf("requests_per_second: %v: want more than 0 and at most 33.3, the registry's limit of 2000 a minute", b.RequestsPerSecond)
	case b.Burst < 1 || b.Burst > 2000:
		return fmt.Errorf("burst: %d: want 1 to 2000", b.Burst)
	case b.Concurrency < 1 || b.Concurrency > 64:
		return fmt.Errorf("concurrency: %d: want 1 to 64", b.Concurrency)
	}
	return nil
}

func (s Schedule) check() error {
	for _, d := range []struct {
		name string
		v    model.Duration
	}{
		{"first_check_delay", s.FirstCheckDelay}, {"pending_interval", s.PendingInterval},
		{"batch_window_start", s.BatchWindowStart}, {"batch_window_end", s.BatchWindowEnd},
		{"batch_frame", s.BatchFrame},
		{"batch_check_delay", s.BatchCheckDelay}, {"settle_after", s.SettleAfter},
		{"retention", s.Retention}, {"max_delay", s.MaxDelay},
		{"error_backoff", s.ErrorBackoff}, {"auth_retry_interval", s.AuthRetryInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: %v: must not be negative", d.name, d.v)
		}
	}
	switch {
	case s.BatchWindowEnd < s.BatchWindowStart:
		return fmt.Errorf("batch_window_end: %v is before batch_window_start %v", s.BatchWindowEnd, s.BatchWindowStart)
	case s.SettleAfter-s.BatchCheckDelay < s.BatchWindowEnd: // not End+Delay, which can overflow
		return fmt.Errorf("settle_after: %v is before the last batch check (batch_window_end + batch_check_delay)", s.SettleAfter)
	case s.Retention < s.SettleAfter:
		return fmt.Errorf("retention: %v is shorter than settle_after %v", s.Retention, s.SettleAfter)
	}
	return nil
}

func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// MaxIDFileBytes bounds an id file: 1,000,000 ids of 256 characters.
const MaxIDFileBytes = 300 << 20

func (r *Registry) resolveJourneys(dir string) error {
	seen := map[string]bool{}
	r.Journeys.Resolved = r.Journeys.Resolved[:0]
	// Starts are bounded as a push's are, on the wall clock: a file is
	// read when the exporter starts or reloads, or by --config.check.
	now := time.Now()
	add := func(file, line int, entry string) error {
		j, err := parseJourney(entry, now)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Journeys.Where(Journey{File: int32(file), Line: int32(line)}), err)
		}
		j.File, j.Line = int32(file), int32(line)
		if !seen[j.ID] {
			seen[j.ID] = true
			r.Journeys.Resolved = append(r.Journeys.Resolved, j)
		}
		return nil
	}
	for i, entry := range r.Journeys.IDs {
		if err := add(-1, i, entry); err != nil {
			return err
		}
	}
	for i, name := range r.Journeys.Files {
		f, err := os.Open(resolve(dir, name))
		if err != nil {
			return fmt.Errorf("journeys.files[%d]: %w", i, err)
		}
		if st, err := f.Stat(); err == nil && st.Size() > MaxIDFileBytes {
			_ = f.Close()
			return fmt.Errorf("journeys.files[%d]: %s: %d bytes, more than the %d an id file may hold", i, name, st.Size(), MaxIDFileBytes)
		}
		sc := bufio.NewScanner(io.LimitReader(f, MaxIDFileBytes))
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			if err := add(i, line, text); err != nil {
				_ = f.Close()
				return err
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("journeys.files[%d]: %s: %w", i, name, err)
		}
	}
	return nil
}

// parseJourney reads "<id>" or "<id> <start RFC 3339>". An id holding
// white space, or starting with '#' or '"', is written as a JSON string:
// "OPJ 42" 2026-11-20T08:15:00Z. Whether the registry accepts the id is
// the exporter's to check, which knows the registry's rules. A start is
// bounded at now (starts.Check).
func parseJourney(entry string, now time.Time) (Journey, error) {
	var fields []string
	if strings.HasPrefix(entry, `"`) {
		dec := json.NewDecoder(strings.NewReader(entry))
		var id string
		if err := dec.Decode(&id); err != nil {
			return Journey{}, fmt.Errorf("%s: a quoted id must be a JSON string: %w", truncate(entry), err)
		}
		fields = append([]string{id}, strings.Fields(entry[dec.InputOffset():])...)
	} else {
		fields = strings.Fields(entry)
	}
	if len(fields) == 0 || len(fields) > 2 {
		return Journey{}, fmt.Errorf("%q: want an id, optionally followed by its start time (RFC 3339); quote an id holding spaces as a JSON string", truncate(entry))
	}
	j := Journey{ID: fields[0]}
	if len(fields) == 2 {
		t, err := time.Parse(time.RFC3339, fields[1])
		if err != nil {
			return Journey{}, fmt.Errorf("%q: start time %q is not RFC 3339 (e.g. 2026-11-20T08:15:00Z)", truncate(j.ID), truncate(fields[1]))
		}
		if err := starts.Check(t, now); err != nil {
			return Journey{}, fmt.Errorf("%q: start time %q is %w", truncate(j.ID), truncate(fields[1]), err)
		}
		j.Start = t
	}
	return j, nil
}

// truncate keeps an error about a huge entry readable.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
